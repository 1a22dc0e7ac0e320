#!/usr/bin/env bash
# `serve` bench part: the Runtime API front against the same container called directly, 1 KiB
# bodies on loopback, same load generator (bench/serve_load.mjs, an undici pool):
#   - a fixed 500 req/s: latency the front adds (front − direct, p50 and p99, latency counted
#     from each request's scheduled send time);
#   - saturation with 32 connections: front req/s ÷ direct req/s;
#   - pipemode's CPU-s per 10k requests through the front and its peak RSS (from /proc).
# Container: bench/fast_container.mjs (node:http, tens of thousands of req/s, so the front is what
# is measured), then — unless BENCH_SERVE_PYTHON=0 — one round with the Python test container
# (test/fixtures/hosting/test_container.py, a few hundred req/s) for reference.
# A third target, bench/bare_relay.mjs (node:http + an undici Pool, no routing or checks), shows
# what one more HTTP hop costs in Node by itself: on a machine where the load generator, the
# relay and the container share the cores, each hop's socket reads and writes take CPU from the
# container, so the front is also compared with that relay (front ÷ relay).
# Rounds alternate direct, relay and front; the summary gives medians over BENCH_SERVE_ROUNDS (default 3)
# rounds of BENCH_SERVE_SECONDS (default 10) per measurement. Needs `npm run build` first.
# Targets (issue 12): ≤ 1 ms p50 and ≤ 3 ms p99 added at 500 req/s; ≥ 0.7× the direct req/s.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${BENCH_SERVE_SECONDS:-10}
ROUNDS=${BENCH_SERVE_ROUNDS:-3}
[[ -f dist/src/cli/main.js ]] || npm run build >/dev/null
dir=$(mktemp -d /tmp/pipemode-bench-serve.XXXXXX)
pid=
stop_serve() {
  [[ -z $pid ]] && return
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
trap 'stop_serve; rm -rf "$dir"' EXIT
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

# bench NAME ROUNDS COMMAND... : one endpoint with one instance of COMMAND; one JSON line per measurement
bench() {
  local name=$1 rounds=$2
  shift 2
  jq -cn --args '{"bench-container": $ARGS.positional}' "$@" > "$dir/images-$name.json"
  node bin/pipemode.js serve --image bench-container --images "$dir/images-$name.json" --port 0 --health-interval 5 \
    --work-dir "$dir/w-$name" 2> "$dir/serve-$name.log" &
  pid=$!
  for _ in $(seq 200); do grep -q 'InService at' "$dir/serve-$name.log" && break; sleep 0.1; done
  local front direct
  front=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/serve-$name.log" | head -1)
  direct=http://127.0.0.1:$(grep -o 'listening on [0-9]*' "$dir/serve-$name.log" | head -1 | grep -o '[0-9]*$')
  local relay_pid relay
  node bench/bare_relay.mjs "$direct" > "$dir/relay-$name.log" &
  relay_pid=$!
  for _ in $(seq 100); do grep -q 'listening on' "$dir/relay-$name.log" && break; sleep 0.1; done
  relay=http://127.0.0.1:$(grep -o 'listening on [0-9]*' "$dir/relay-$name.log" | grep -o '[0-9]*$')
  for round in $(seq "$rounds"); do
    for target in direct relay front; do
      local url=$direct path=/invocations
      [[ $target == relay ]] && url=$relay
      [[ $target == front ]] && url=$front && path=/endpoints/local-endpoint/invocations
      local c0 c1 fixed sat
      c0=$(cpu_ticks)
      fixed=$(node bench/serve_load.mjs "$url" "$path" fixed "$SECONDS_EACH" 500)
      sat=$(node bench/serve_load.mjs "$url" "$path" saturate "$SECONDS_EACH" 32)
      c1=$(cpu_ticks)
      jq -cn --arg container "$name" --arg target "$target" --argjson round "$round" --argjson fixed "$fixed" --argjson sat "$sat" \
        --argjson cpu "$(echo "scale=3; ($c1 - $c0) / $hz" | bc)" \
        '{container: $container, round: $round, target: $target, fixed500: $fixed, saturate32: $sat, pipemode_cpu_s: $cpu}' | tee -a "$dir/results.jsonl"
    done
  done
  kill "$relay_pid" 2>/dev/null || true
  wait "$relay_pid" 2>/dev/null || true
  local rss
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  jq -cn --arg container "$name" --argjson kib "$rss" '{container: $container, pipemode_peak_rss_kib: $kib}' | tee -a "$dir/results.jsonl"
  stop_serve
}

bench fast "$ROUNDS" node "$PWD/bench/fast_container.mjs"
[[ ${BENCH_SERVE_PYTHON:-1} == 0 ]] || bench python 1 python3 "$PWD/test/fixtures/hosting/test_container.py"

# the summary: medians over rounds of the per-round differences and ratios
jq -rs '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def r3: . * 1000 | round / 1000;
  [.[] | select(.round != null)] as $rows
  | [.[] | select(.pipemode_peak_rss_kib != null)] as $rss
  | ($rows | map(.container) | unique)[] as $c
  | ($rows | map(select(.container == $c))) as $m
  | ([$m[] | .round] | unique) as $rounds
  | [$rounds[] as $r | ($m | map(select(.round == $r))) | {d: (map(select(.target == "direct"))[0]), b: (map(select(.target == "relay"))[0]), f: (map(select(.target == "front"))[0])}] as $pairs
  | "serve \($c) container (\($pairs | length) round\(if ($pairs | length) == 1 then "" else "s" end), median):"
    + " 500 req/s direct p50 \([$pairs[].d.fixed500.p50] | median | r3) ms p99 \([$pairs[].d.fixed500.p99] | median | r3) ms,"
    + " front p50 \([$pairs[].f.fixed500.p50] | median | r3) ms p99 \([$pairs[].f.fixed500.p99] | median | r3) ms,"
    + " added p50 \([$pairs[] | .f.fixed500.p50 - .d.fixed500.p50] | median | r3) ms p99 \([$pairs[] | .f.fixed500.p99 - .d.fixed500.p99] | median | r3) ms"
    + " (front achieved \([$pairs[].f.fixed500.rps] | median) req/s);"
    + " saturation 32 conn. direct \([$pairs[].d.saturate32.rps] | median) req/s front \([$pairs[].f.saturate32.rps] | median) req/s"
    + " ratio \([$pairs[] | .f.saturate32.rps / .d.saturate32.rps] | median | r3)×;"
    + " bare Node relay \([$pairs[].b.saturate32.rps] | median) req/s (\([$pairs[] | .b.saturate32.rps / .d.saturate32.rps] | median | r3)× direct; front ÷ relay \([$pairs[] | .f.saturate32.rps / .b.saturate32.rps] | median | r3)×);"
    + " pipemode CPU-s per 10k front requests \([$pairs[] | .f.pipemode_cpu_s / (.f.fixed500.requests + .f.saturate32.requests) * 10000] | median | r3);"
    + " errors \([$m[] | .fixed500.errors + .saturate32.errors] | add);"
    + " pipemode peak RSS \(($rss | map(select(.container == $c))[0].pipemode_peak_rss_kib) / 1024 | round) MiB"
' "$dir/results.jsonl"
