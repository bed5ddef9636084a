#!/usr/bin/env bash
# Throughput of `reviews --workers 1` against `--workers 2` on this machine,
# side by side in one run: wrk alternates between the two ROUNDS times on
# the store path (L1 off, random products) and on the L1-hit path, and the
# median ratio workers-2 / workers-1 is printed for each.
#
#   scripts/bench-workers.sh
#
# Env: RECORDS, DURATION (s per wrk run), ROUNDS, THREADS, CONNECTIONS.
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-1000000}
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
DATA_DIR=${DATA_DIR:-target/bench-data-$RECORDS}
PRODUCTS=$((RECORDS / 10))
PORT=${PORT:-3920}

command -v wrk >/dev/null || { echo "bench-workers: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bins
./target/release/seed --records "$RECORDS" --data-dir "$DATA_DIR" 2>&1 | tail -n 1

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
start() { # PORT WORKERS L1_MB
  RUST_LOG=warn ./target/release/reviews --listen "127.0.0.1:$1" --workers "$2" --l1-capacity-mb "$3" \
    --data-dir "$DATA_DIR" --demo-records 0 &
  pids+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0; sleep 0.05; done
  echo "bench-workers: port $1 not up" >&2; exit 1
}
rps() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$@" -- "$PRODUCTS" | awk '/^Requests\/sec/ {print $2}'; }

start "$PORT" 1 0; start $((PORT + 1)) 2 0
start $((PORT + 2)) 1 64; start $((PORT + 3)) 2 64
curl -s "http://127.0.0.1:$((PORT + 2))/reviews/1000" "http://127.0.0.1:$((PORT + 3))/reviews/1000" >/dev/null

report() { # NAME one-url two-url [wrk args]
  local name=$1 one=$2 two=$3; shift 3
  local ratios=() a b
  for _ in $(seq "$ROUNDS"); do
    a=$(rps "$@" "$one"); b=$(rps "$@" "$two")
    ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}')")
    echo "$name: workers 1 $a req/s, workers 2 $b req/s"
  done
  echo "$name: median workers-2 / workers-1 = $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') (rounds: ${ratios[*]})"
}
report "store read" "http://127.0.0.1:$PORT" "http://127.0.0.1:$((PORT + 1))" -s artillery/wrk/random_product.lua
report "L1 hit" "http://127.0.0.1:$((PORT + 2))/reviews/1000" "http://127.0.0.1:$((PORT + 3))/reviews/1000"
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; $(nproc) cores shared by wrk and the server"
