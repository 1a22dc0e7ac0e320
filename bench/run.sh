#!/usr/bin/env bash
# pipemode throughput benchmark (`npm run bench`).
#
# What it measures: one epoch of a channel streamed by `pipemode cat` into a reader that stands in for
# a training process (bench/fiforead.c: 1 MiB read() calls, never resizes the pipe), against a plain
# tool doing the same job into the same reader:
#   local FIFO   pipemode cat DIR/ > FIFO           vs  cat FILES > FIFO
#   local pipe   pipemode cat DIR/ | reader         vs  cat FILES | reader
#   S3 FIFO      pipemode cat s3://bench/data/ > FIFO  vs  rclone cat bench:bench/data/ > FIFO
#                (throw-away Ceph RGW with bluestore on 127.0.0.1, started and stopped here)
#   S3 HTTPS     the same, through bench/tls-proxy.mjs (a throw-away certificate made here with
#                openssl), pipemode's copying path vs rclone cat --ca-cert on the same endpoint
#   local FIFO gzip  pipemode cat --compression gzip DIR/ > FIFO  vs  gzip -dc FILES > FIFO  (part gzip:
#                text-like data, about 1.9:1; the sha256 checked is the inflated stream's)
# Then: `pipemode train` time to the trainer's first byte, Pipe vs File mode, same channel
# (bench/train_first_byte.py), and the Python reader's records/s against a plain readinto loop
# (readers/python/bench_reader.py). Part `follow` (bench/follow.mjs): a followed channel's latency from an
# object landing to its first byte in `pipemode cat --follow --poll-interval 1s`, 200 arrivals at
# 20 objects/s, from S3 and from a local folder, with the listing cost. Part `firstbyte`
# (bench/first_byte.py): `pipemode cat` (and `pipemode train`, Pipe) time to the first byte of 10-,
# 30,000- (and 100,000-) object channels of 1 KiB objects, unshuffled and shuffled, as ratios against
# the 10-object channel, and the listing time of those prefixes against `aws s3 ls --recursive` and
# `rclone lsf -R`. Part `sdk` (bench/sdk_load.mjs): the AWS SDK's load time in a fresh process, from
# the bundle the build makes (with V8's code cache) against requiring the packages. Part `epochs`
# (bench/epoch_gap.py): a reader's wait between two epochs of `pipemode pipe`, every epoch's sha256 checked.
# How: bench/harness.py interleaves rounds, takes MiB/s from the reader (open() returning to EOF,
# writer start-up included), the writer's CPU time and peak RSS from wait4(), checks every run's byte
# count and, in an untimed first round, each variant's sha256. It prints a table with medians
# (min–max), PASS/FAIL against the targets (never fails the script on a miss), and writes one JSON
# line per run to $BENCH_DIR/results.jsonl.
#
# Settings (environment):
#   BENCH_DIR                 cache and results (default /tmp/pipemode-bench); the data is made once
#   BENCH_SIZE_MIB            data size (default 2048, as files of 32 MiB)
#   BENCH_ROUNDS              timed rounds (default 5)
#   BENCH_MEMORY_BUDGET_MIB   pipemode --memory-budget (default 128); RSS target = 128 MiB + budget
#   BENCH_S3=0                skip the S3 pair (no Ceph, no rclone)
#   BENCH_TLS=0               skip the HTTPS pair (no TLS proxy)
#   BENCH_PARTS               which parts run (default pipe,gzip,sdk,train,epochs,objects,fastfile,reader,server,follow,transform,firstbyte;
#                             also: serve)
#   BENCH_GZIP_MIB            inflated size of part gzip's data (default 512, as gzip files of 32 MiB inflated)
#   BENCH_OBJECTS             small objects in part objects (default 20000, of 16 KiB)
#   BENCH_FIRSTBYTE_COUNTS    channel sizes of part firstbyte (default 10,30000; e.g. 10,30000,100000), as local folders
#                             ($BENCH_DIR/fb-<count>/) and, unless BENCH_S3=0,
#                             uploaded once to s3://bench/fb-<count>/ and kept between runs
#   BENCH_ONLY                run only the pipe variants whose name matches this regex (e.g. 'S3 FIFO')
#   BENCH_TRANSFORM_MIB       size of the transform part's large CSV (default 1024)
#   BENCH_TRANSFORM_ROUNDS    transform pairs (direct, pipemode) per case and K, medians reported (default 3)
#   BENCH_S3_SERVER_DIR       Ceph state dir (default /tmp/pipemode-bench-rgw, apart from the tests')
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_DIR=${BENCH_DIR:-/tmp/pipemode-bench}
BENCH_SIZE_MIB=${BENCH_SIZE_MIB:-2048}
BENCH_ROUNDS=${BENCH_ROUNDS:-5}
BENCH_MEMORY_BUDGET_MIB=${BENCH_MEMORY_BUDGET_MIB:-128}
BENCH_S3=${BENCH_S3:-1}
BENCH_PARTS=${BENCH_PARTS:-pipe,gzip,sdk,train,epochs,objects,fastfile,reader,server,follow,transform,firstbyte}
DATA_DIR=$BENCH_DIR/data-${BENCH_SIZE_MIB}MiB
BUCKET=bench
PREFIX=data/

say() { echo "bench: $*" >&2; }

source bench/lib.sh

build_reader() {
  mkdir -p "$BENCH_DIR/bin"
  gcc -O2 -Wall -Wextra -o "$BENCH_DIR/bin/fiforead" bench/fiforead.c
}

# A TLS proxy in front of the S3 server, with a one-day self-signed certificate for 127.0.0.1.
start_tls_proxy() {
  local dir=$BENCH_DIR/tls
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
  coproc TLS_PROXY { exec node bench/tls-proxy.mjs "$dir/cert.pem" "$dir/key.pem" "$AWS_ENDPOINT_URL_S3"; }
  read -r TLS_ENDPOINT <&"${TLS_PROXY[0]}"
  trap 'kill "$TLS_PROXY_PID" 2>/dev/null; stop_s3' EXIT
  say "TLS proxy at $TLS_ENDPOINT"
}

upload() {
  say "uploading $DATA_DIR to s3://$BUCKET/$PREFIX"
  node --no-warnings bench/upload.mjs "$DATA_DIR" "$BUCKET" "$PREFIX"
}

main() {
  trap 'exit 130' INT TERM
  part() { [[ ",$BENCH_PARTS," == *",$1,"* ]]; }
  # the 2 GiB data set only for the parts that read it
  local data=0
  part pipe || part train || part epochs || part fastfile && data=1
  install_if_missing gcc gcc
  [[ $BENCH_S3 == 0 ]] || { [[ $data == 0 ]] && ! part objects && ! part firstbyte; } || install_if_missing rclone rclone
  [[ -f dist/src/cli/main.js ]] || npm run build
  build_reader
  [[ $data == 0 ]] || python3 bench/harness.py prepare "$DATA_DIR" "$BENCH_SIZE_MIB"

  local s3_args=()
  if [[ $BENCH_S3 != 0 ]]; then
    start_s3
    export_rclone_remote
    [[ $data == 0 ]] || upload
    s3_args=(--s3-url "s3://$BUCKET/$PREFIX" --rclone-path "bench:$BUCKET/$PREFIX"
      --server-pid-dir "$S3_SERVER_DIR/run")
    if [[ ${BENCH_TLS:-1} != 0 ]]; then
      start_tls_proxy
      s3_args+=(--tls-endpoint "$TLS_ENDPOINT" --tls-ca "$BENCH_DIR/tls/cert.pem")
    fi
  fi
  part pipe && python3 bench/harness.py run "$DATA_DIR" --root "$PWD" --reader "$BENCH_DIR/bin/fiforead" \
    --results "$BENCH_DIR/results.jsonl" --rounds "$BENCH_ROUNDS" \
    --memory-budget-mib "$BENCH_MEMORY_BUDGET_MIB" --timeout $((60 + BENCH_SIZE_MIB / 10)) ${BENCH_ONLY:+--only "$BENCH_ONLY"} "${s3_args[@]}"
  part pipe && say "per-run results: $BENCH_DIR/results.jsonl"

  # a Gzip channel from local files: several objects inflating at once against gzip -dc
  if part gzip; then
    local gz_dir=$BENCH_DIR/gzip-${BENCH_GZIP_MIB:-512}MiB
    python3 bench/harness.py prepare-gzip "$gz_dir" "${BENCH_GZIP_MIB:-512}"
    echo
    python3 bench/harness.py run "$gz_dir" --gzip --root "$PWD" --reader "$BENCH_DIR/bin/fiforead" \
      --results "$BENCH_DIR/gzip.jsonl" --rounds "$BENCH_ROUNDS" --memory-budget-mib "$BENCH_MEMORY_BUDGET_MIB" \
      --timeout $((60 + ${BENCH_GZIP_MIB:-512} / 5))
  fi

  if part sdk; then
    echo
    echo "Loading the AWS SDK (every S3 channel's first byte waits for it): the bundle with its code cache vs the packages"
    node bench/sdk_load.mjs --rounds 15 --results "$BENCH_DIR/sdk.jsonl"
  fi

  # the 2 GiB channel as a local folder and, with S3, from the bench bucket (parts train and epochs)
  local sources=("$DATA_DIR/") source
  [[ $BENCH_S3 == 0 ]] || sources+=("s3://$BUCKET/$PREFIX")

  if part train; then
  echo
  echo "pipemode train: time to the trainer's first byte (median of 5), Pipe vs File mode, same ${BENCH_SIZE_MIB} MiB channel"
  for source in "${sources[@]}"; do
    python3 bench/train_first_byte.py --root "$PWD" --source "$source" --label "$source" --rounds 5 --results "$BENCH_DIR/first-byte.jsonl"
  done
  fi

  if part epochs; then
    echo
    echo "pipemode pipe: a reader's wait between epochs (EOF of <ch>_N to the first byte of <ch>_N+1), same ${BENCH_SIZE_MIB} MiB channel, 4 epochs"
    for source in "${sources[@]}"; do
      python3 bench/epoch_gap.py --root "$PWD" --source "$source" --label "$source" --epochs 4 --results "$BENCH_DIR/epochs.jsonl"
    done
  fi

  # many small objects (20,000 x 16 KiB) from S3 into a FIFO: objects/s against rclone cat and rclone copy + cat
  if part objects && [[ $BENCH_S3 != 0 ]]; then
    local small_dir=$BENCH_DIR/small-${BENCH_OBJECTS:-20000}x16KiB
    ensure_small_objects "$small_dir" "${BENCH_OBJECTS:-20000}" 16
    echo
    python3 bench/harness.py run "$small_dir" --objects --root "$PWD" --reader "$BENCH_DIR/bin/fiforead" \
      --results "$BENCH_DIR/objects.jsonl" --rounds "$BENCH_ROUNDS" --memory-budget-mib "$BENCH_MEMORY_BUDGET_MIB" \
      --s3-url "s3://$BUCKET/small/" --rclone-path "bench:$BUCKET/small/" --server-pid-dir "$S3_SERVER_DIR/run" --timeout 600
  fi

  # FastFile: the mount against File mode (download + read) and s3fs, 2 GiB and 20,000 × 16 KiB files
  if part fastfile && [[ $BENCH_S3 != 0 ]]; then
    BENCH_DIR=$BENCH_DIR DATA_DIR=$DATA_DIR BENCH_SIZE_MIB=$BENCH_SIZE_MIB bash bench/fastfile.sh
  fi

  if part reader; then
    echo
    echo "Python reader (readers/python): records/s from a FIFO against a plain readinto loop over the same FIFO"
    python3 readers/python/bench_reader.py --sizes 1024,102400 --total-mib 256 --rounds 5
  fi

  # pipemode server: signed DescribeTrainingJob held at 200/s, p99 reported (bench/server.mjs)
  if part server; then
    echo
    node bench/server.mjs
  fi

  if part serve; then
    echo
    echo "pipemode serve: the Runtime API front vs the container called directly (bench/serve.sh)"
    bash bench/serve.sh
  fi

  if part follow; then
    echo
    echo "Followed channels: landing → first byte in pipemode cat --follow --poll-interval 1s (200 objects at 20/s)"
    [[ $BENCH_S3 == 0 ]] || node --no-warnings bench/follow.mjs --root "$PWD" --s3-bucket "$BUCKET" --results "$BENCH_DIR/follow.jsonl"
    node --no-warnings bench/follow.mjs --root "$PWD" --local --results "$BENCH_DIR/follow.jsonl"
  fi

  # goal 1 of issue 17: the first byte independent of the channel's size, and the listing time
  if part firstbyte; then
    local counts=${BENCH_FIRSTBYTE_COUNTS:-10,30000} n
    for n in ${counts//,/ }; do
      if [[ $BENCH_S3 != 0 ]]; then ensure_objects "$BENCH_DIR/fb-$n" "$n" 1 "fb-$n"; else python3 bench/fastfile.py make-small "$BENCH_DIR/fb-$n" "$n" 1; fi
    done
    echo
    python3 bench/first_byte.py --root "$PWD" --bucket "$BUCKET" --counts "$counts" --rounds "$BENCH_ROUNDS" --results "$BENCH_DIR/firstbyte.jsonl" \
      --local-root "$BENCH_DIR" $([[ $BENCH_S3 == 0 ]] && echo --no-s3)
    echo "pipemode train (Pipe): time to the trainer's first byte (median of $BENCH_ROUNDS)"
    for n in ${counts//,/ }; do
      [[ $BENCH_S3 == 0 ]] || python3 bench/train_first_byte.py --root "$PWD" --source "s3://$BUCKET/fb-$n/" --label "$n objects" --modes Pipe --rounds "$BENCH_ROUNDS" --results "$BENCH_DIR/firstbyte.jsonl"
      python3 bench/train_first_byte.py --root "$PWD" --source "$BENCH_DIR/fb-$n/" --label "$n files, local folder" --modes Pipe --rounds "$BENCH_ROUNDS" --results "$BENCH_DIR/firstbyte.jsonl"
    done
  fi

  if part transform; then
    echo
    echo "pipemode transform against the same container driven directly (same bodies, same concurrency)"
    node bench/transform.mjs "$BENCH_DIR/transform" "${BENCH_TRANSFORM_MIB:-1024}"
  fi
}

main "$@"
