# Shared by bench/run.sh and bench/fastfile.sh (sourced; each defines its own say()).

install_if_missing() { # COMMAND DEBIAN-PACKAGE
  command -v "$1" >/dev/null && return 0
  [[ $(id -u) == 0 ]] || { say "$1 is missing (sudo apt-get install $2)"; exit 1; }
  say "installing $2"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

stop_s3() {
  say "stopping the S3 server"
  scripts/s3-server.sh stop || true
}

# Starts the bench Ceph RGW (bluestore: data on disk, not 2x in RAM), stopped on exit, and points
# the AWS SDK at it; no developer profile or config may leak into the measurement.
start_s3() {
  export S3_SERVER_DIR=${BENCH_S3_SERVER_DIR:-/tmp/pipemode-bench-rgw} OSD_STORE=bluestore
  trap stop_s3 EXIT
  say "starting Ceph RGW in $S3_SERVER_DIR"
  eval "$(scripts/s3-server.sh start | grep '^S3_')"
  export AWS_ENDPOINT_URL_S3=$S3_ENDPOINT AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY \
    AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_REGION=$S3_REGION
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
}

# The rclone remote "bench" for the S3 server the AWS_* variables point at.
export_rclone_remote() {
  export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Ceph \
    RCLONE_CONFIG_BENCH_ENDPOINT=$AWS_ENDPOINT_URL_S3 RCLONE_CONFIG_BENCH_REGION=${AWS_REGION:-us-east-1} \
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true RCLONE_CONFIG_BENCH_ENV_AUTH=false
}

# COUNT random files of KIB KiB in DIR (made once, with DIR.json), and the same under s3://bench/small/
# (uploaded by rclone with 64 uploads in flight when the count differs). Needs the rclone "bench" remote.
ensure_small_objects() { # DIR COUNT KIB
  ensure_objects "$1" "$2" "$3" small
}

# The same for any PREFIX under s3://bench/ (kept between runs: uploaded again only when the count differs).
ensure_objects() { # DIR COUNT KIB PREFIX
  python3 bench/fastfile.py make-small "$1" "$2" "$3"
  local have
  have=$({ env -u AWS_CA_BUNDLE rclone lsf --files-only "bench:bench/$4/" 2>/dev/null || true; } | wc -l)
  if [[ $have != "$2" ]]; then
    say "uploading $2 files to s3://bench/$4/"
    env -u AWS_CA_BUNDLE rclone purge "bench:bench/$4" 2>/dev/null || true
    env -u AWS_CA_BUNDLE rclone mkdir "bench:bench"
    local started=$SECONDS
    env -u AWS_CA_BUNDLE rclone copy --transfers 64 --checkers 64 --s3-no-check-bucket "$1" "bench:bench/$4"
    say "uploaded in $((SECONDS - started)) s"
  fi
}
