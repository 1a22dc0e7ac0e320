#!/usr/bin/env bash
# `serve` bench part: the Runtime API front against the same container called directly
# (test/fixtures/hosting/test_container.py, echo), 1 KiB bodies on loopback, same load generator
# (bench/serve_load.mjs): a fixed 500 req/s for latency added (p50/p99), then saturation with 32
# connections (req/s ratio). Reports pipemode's RSS and CPU-s per 10k requests (from /proc).
# Targets: ≤ 1 ms p50 and ≤ 3 ms p99 added; ≥ 0.7× the direct req/s.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${BENCH_SERVE_SECONDS:-10}
dir=$(mktemp -d /tmp/pipemode-bench-serve.XXXXXX)
echo '{"bench-container": ["python3", "'"$PWD"'/test/fixtures/hosting/test_container.py"]}' > "$dir/images.json"
node bin/pipemode.js serve --image bench-container --images "$dir/images.json" --port 0 --work-dir "$dir/w" 2> "$dir/serve.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q 'InService at' "$dir/serve.log" && break; sleep 0.1; done
front=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/serve.log" | head -1)
direct=http://127.0.0.1:$(grep -o 'listening on [0-9]*' "$dir/serve.log" | head -1 | grep -o '[0-9]*$')
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
for target in direct front; do
  url=$direct; path=/invocations
  [[ $target == front ]] && url=$front && path=/endpoints/local-endpoint/invocations
  c0=$(cpu)
  fixed=$(node bench/serve_load.mjs "$url" "$path" fixed "$SECONDS_EACH" 500)
  sat=$(node bench/serve_load.mjs "$url" "$path" saturate "$SECONDS_EACH" 32)
  c1=$(cpu)
  n=$(( $(jq .requests <<<"$fixed") + $(jq .requests <<<"$sat") ))
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  echo "serve $target: fixed500 $fixed saturate32 $sat pipemode-cpu-s-per-10k $(echo "scale=3; ($c1-$c0)/$hz*10000/$n" | bc) pipemode-peak-rss-kib $rss"
done
