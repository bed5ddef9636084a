#!/usr/bin/env bash
# Benchmark: the reviews server next to a bare hyper server returning a body
# of the same size, driven by wrk with the same settings in the same run.
#
#   scripts/bench.sh                       # 1M records, 10 s per run
#   RECORDS=10000000 DURATION=20 scripts/bench.sh
#
# Env: RECORDS (seeded data set), DURATION (seconds per wrk run), THREADS and
# CONNECTIONS (wrk), DATA_DIR (reused when it already holds RECORDS records).
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-1000000}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
DATA_DIR=${DATA_DIR:-target/bench-data-$RECORDS}
PRODUCTS=$((RECORDS / 10))
PORT_APP=${PORT_APP:-3900}
PORT_BARE=${PORT_BARE:-3901}
HOT_PATH=${HOT_PATH:-/reviews/1000}

command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bins --example bare_hyper

echo "== seeding $RECORDS records into $DATA_DIR"
./target/release/seed --records "$RECORDS" --data-dir "$DATA_DIR" 2>&1 | tail -n 1

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_up() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/$2" >/dev/null && return 0; sleep 0.1; done; echo "bench: port $1 not up" >&2; exit 1; }

start_bare() {
  [ ${#pids[@]} -gt 1 ] && { kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true; pids=("${pids[0]}"); }
  ./target/release/examples/bare_hyper "127.0.0.1:$PORT_BARE" "$1" 2>/dev/null &
  pids+=($!)
  wait_up "$PORT_BARE" ""
}

RUST_LOG=warn ./target/release/reviews --listen "127.0.0.1:$PORT_APP" --data-dir "$DATA_DIR" --demo-records 0 &
pids+=($!)
wait_up "$PORT_APP" healthz

# run NAME URL [wrk args...]: prints one result row, remembers RPS in $rps.
results=()
run() {
  local name=$1 url=$2; shift 2
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url" -- "$PRODUCTS")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  local p50 p99 errors
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")
  results+=("$(printf '%-34s %12s %10s %10s  %s' "$name" "$rps" "$p50" "$p99" "${errors:-0 errors}")")
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# 1. One product, the same URL every time (the hot-product path).
hot_size=$(curl -s "http://127.0.0.1:$PORT_APP$HOT_PATH" | wc -c)
start_bare "$hot_size"
run "bare hyper ($hot_size B)" "http://127.0.0.1:$PORT_BARE$HOT_PATH"; bare_hot=$rps
run "reviews $HOT_PATH" "http://127.0.0.1:$PORT_APP$HOT_PATH"; app_hot=$rps

# 2. Random products over the whole data set (the store path, cold keys).
mean_size=$(for i in $(seq 200); do curl -s "http://127.0.0.1:$PORT_APP/reviews/$(( (RANDOM * 32768 + RANDOM) % PRODUCTS + 1 ))" | wc -c; done | awk '{s += $1} END {printf "%d", s / NR}')
start_bare "$mean_size"
run "bare hyper ($mean_size B)" "http://127.0.0.1:$PORT_BARE/" ; bare_rand=$rps
run "reviews random of $PRODUCTS products" "http://127.0.0.1:$PORT_APP" -s artillery/wrk/random_product.lua; app_rand=$rps

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $RECORDS records, $(nproc) cores"
printf '%-34s %12s %10s %10s  %s\n' "target" "req/s" "p50" "p99" "errors"
printf '%s\n' "${results[@]}"
echo
echo "ratio hot product / bare hyper:     $(ratio "$app_hot" "$bare_hot")"
echo "ratio random products / bare hyper: $(ratio "$app_rand" "$bare_rand")"
