#!/usr/bin/env bash
# FastFile benchmark: `pipemode mount` against File mode (rclone copy, then read) and s3fs, end to end,
# on the bench Ceph RGW: the 2 GiB channel (64 x 32 MiB under s3://bench/data/, as bench/run.sh uploads
# it) and 20,000 x 16 KiB files (made once under $BENCH_DIR, uploaded to s3://bench/small/). Targets:
# mount + read no slower than download + read on the large files; at least 2x s3fs on the small ones.
# Medians of interleaved rounds; MiB/s, files/s and CPU (bench/fastfile.py has the details).
#
# bench/run.sh calls it while its S3 server runs (AWS_ENDPOINT_URL_S3, S3_SERVER_DIR and the rclone
# "bench" remote are set). Run on its own, it starts and stops the bench Ceph itself and uploads the data.
#
# Settings (environment):
#   BENCH_DIR                 cache and results (default /tmp/pipemode-bench)
#   BENCH_SIZE_MIB            size of the large channel (default 2048: $BENCH_DIR/data-2048MiB)
#   FASTFILE_ROUNDS           timed rounds (default 3)
#   FASTFILE_SMALL_COUNT      small files (default 20000) of FASTFILE_SMALL_KIB KiB (default 16)
#   FASTFILE_SCENARIOS        large,small (default both)
#   BENCH_MEMORY_BUDGET_MIB   pipemode mount --memory-budget (default 256)
#   FASTFILE_S3FS             0 leaves s3fs out (default 1)
# Needs root (FUSE mounts, and apt-get for s3fs and rclone when they are missing) and /dev/fuse.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_DIR=${BENCH_DIR:-/tmp/pipemode-bench}
BENCH_SIZE_MIB=${BENCH_SIZE_MIB:-2048}
DATA_DIR=${DATA_DIR:-$BENCH_DIR/data-${BENCH_SIZE_MIB}MiB}
ROUNDS=${FASTFILE_ROUNDS:-3}
SMALL_COUNT=${FASTFILE_SMALL_COUNT:-20000}
SMALL_KIB=${FASTFILE_SMALL_KIB:-16}
SMALL_DIR=$BENCH_DIR/small-${SMALL_COUNT}x${SMALL_KIB}KiB
SCENARIOS=${FASTFILE_SCENARIOS:-large,small}
BUDGET_MIB=${BENCH_MEMORY_BUDGET_MIB:-256}
BUCKET=bench

say() { echo "fastfile: $*" >&2; }

source bench/lib.sh

[[ -e /dev/fuse ]] || { say "no /dev/fuse: FUSE mounts cannot be benchmarked here"; exit 0; }
[[ $(id -u) == 0 ]] || { say "mounting FUSE needs root: skipped"; exit 0; }
install_if_missing s3fs s3fs
install_if_missing rclone rclone
[[ -f dist/src/mount/mount-channel.js ]] || npx tsc -p .

# the S3 server: bench/run.sh's, or one of our own
[[ -n ${AWS_ENDPOINT_URL_S3:-} ]] || start_s3
export_rclone_remote
S3_SERVER_DIR=${S3_SERVER_DIR:-/tmp/pipemode-bench-rgw}

# rclone 1.60 trips over AWS_CA_BUNDLE (as bench/harness.py notes)
rc() { env -u AWS_CA_BUNDLE rclone "$@"; }
objects_under() { rc lsf --files-only "bench:$BUCKET/$1" 2>/dev/null | wc -l; }

# the large channel: as bench/run.sh makes and uploads it
python3 bench/harness.py prepare "$DATA_DIR" "$BENCH_SIZE_MIB" >/dev/null
large_count=$(find "$DATA_DIR" -maxdepth 1 -type f | wc -l)
if [[ $(objects_under data/) != "$large_count" ]]; then
  say "uploading $DATA_DIR to s3://$BUCKET/data/"
  node --no-warnings bench/upload.mjs "$DATA_DIR" "$BUCKET" data/
fi
ensure_small_objects "$SMALL_DIR" "$SMALL_COUNT" "$SMALL_KIB"

mkdir -p "$BENCH_DIR/fastfile-work"
python3 bench/fastfile.py run --root "$PWD" --large-dir "$DATA_DIR" --small-dir "$SMALL_DIR" --bucket "$BUCKET" \
  --endpoint "$AWS_ENDPOINT_URL_S3" --server-pid-dir "$S3_SERVER_DIR/run" --work-dir "$BENCH_DIR/fastfile-work" \
  --rounds "$ROUNDS" --memory-budget-mib "$BUDGET_MIB" --small-count "$SMALL_COUNT" --small-kib "$SMALL_KIB" \
  --scenarios "$SCENARIOS" $([[ ${FASTFILE_S3FS:-1} == 0 ]] && echo --no-s3fs) --results "$BENCH_DIR/fastfile.jsonl"
say "per-run results: $BENCH_DIR/fastfile.jsonl"
