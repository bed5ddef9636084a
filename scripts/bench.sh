#!/usr/bin/env bash
# Benchmark: each read path of `reviews` next to a bare hyper server that
# returns a body of the same size, driven by wrk with the same settings in
# the same run (docs/operations.md):
#   L1 hit            one hot key, L1 on (default), no Redis
#   Redis hit         one hot key, --l1-capacity-mb 0, Redis on
#   store read        random products over the whole data set, both caches off
#
#   scripts/bench.sh                              # 1M records, 10 s per run
#   RECORDS=10000000 DURATION=20 scripts/bench.sh
#
# Env: RECORDS, DURATION (s per wrk run), ROUNDS (bare/app alternations per
# path; the median ratio is reported), THREADS, CONNECTIONS (wrk),
# DATA_DIR (reused when it already holds the data set).
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-1000000}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
DATA_DIR=${DATA_DIR:-target/bench-data-$RECORDS}
PRODUCTS=$((RECORDS / 10))
PORT=${PORT:-3900}
BARE_PORT=$((PORT + 1))
REDIS_PORT=$((PORT + 2))
HOT_PATH=${HOT_PATH:-/reviews/1000}

for tool in wrk redis-server curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done
cargo build --release --quiet --bins --example bare_hyper

echo "== seeding $RECORDS records into $DATA_DIR"
./target/release/seed --records "$RECORDS" --data-dir "$DATA_DIR" 2>&1 | tail -n 1

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_up() {
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1$2" >/dev/null && return 0; sleep 0.05; done
  echo "bench: nothing answers on port $1" >&2; exit 1
}

# start_reviews PORT ARGS...: a reviews server.
start_reviews() {
  local port=$1; shift
  RUST_LOG=warn ./target/release/reviews --listen "127.0.0.1:$port" --data-dir "$DATA_DIR" --demo-records 0 "$@" &
  pids+=($!)
  wait_up "$port" /healthz
}

# start_bare PORT SIZE: the bare hyper server with a SIZE-byte body.
start_bare() {
  ./target/release/examples/bare_hyper "127.0.0.1:$1" "$2" 2>/dev/null &
  pids+=($!)
  wait_up "$1" /
}

# wrk_once URL [wrk args...]: one wrk run; prints "req/s p50 p99 errors".
wrk_once() {
  local url=$1; shift
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url" -- "$PRODUCTS" | awk '
    /^Requests\/sec/ {rps = $2} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
    /Non-2xx|Socket errors/ {err = err $0 " "}
    END {printf "%s %s %s %s\n", rps, p50, p99, (err == "" ? "0" : err)}'
}

rows=()
summary=()
# compare NAME BARE_URL APP_URL [wrk args for the app]: alternates bare and
# app runs ROUNDS times; reports the last rounds' figures and the median ratio.
compare() {
  local name=$1 bare_url=$2 app_url=$3; shift 3
  local ratios=() bare app
  for round in $(seq "$ROUNDS"); do
    bare=$(wrk_once "$bare_url")
    app=$(wrk_once "$app_url" "$@")
    ratios+=("$(awk -v a="${app%% *}" -v b="${bare%% *}" 'BEGIN {printf "%.3f", a / b}')")
  done
  rows+=("$(printf '%-30s %s' "bare hyper" "$bare")" "$(printf '%-30s %s' "$name" "$app")")
  local median
  median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
  summary+=("$(printf '%-30s median %s  (rounds: %s)' "$name / bare hyper" "$median" "${ratios[*]}")")
}

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pids+=($!)

P_L1=$PORT; P_L2=$((PORT + 3)); P_STORE=$((PORT + 4)); P_BARE_RAND=$((PORT + 5))
start_reviews "$P_L1"
start_reviews "$P_L2" --l1-capacity-mb 0 --redis-url "redis://127.0.0.1:$REDIS_PORT/"
start_reviews "$P_STORE" --l1-capacity-mb 0

# Body sizes: the hot key's, and the mean over random products.
hot_size=$(curl -s "http://127.0.0.1:$P_STORE$HOT_PATH" | wc -c)
mean_size=$(for _ in $(seq 200); do
  curl -s "http://127.0.0.1:$P_STORE/reviews/$(( (RANDOM * 32768 + RANDOM) % PRODUCTS + 1 ))" | wc -c
done | awk '{s += $1} END {printf "%d", s / NR}')
start_bare "$BARE_PORT" "$hot_size"
start_bare "$P_BARE_RAND" "$mean_size"
curl -s "http://127.0.0.1:$P_L1$HOT_PATH" "http://127.0.0.1:$P_L2$HOT_PATH" >/dev/null

compare "L1 hit $HOT_PATH" "http://127.0.0.1:$BARE_PORT/" "http://127.0.0.1:$P_L1$HOT_PATH"
compare "Redis hit (L1 off)" "http://127.0.0.1:$BARE_PORT/" "http://127.0.0.1:$P_L2$HOT_PATH"
compare "store read, random products" "http://127.0.0.1:$P_BARE_RAND/" "http://127.0.0.1:$P_STORE" \
  -s artillery/wrk/random_product.lua

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency; $RECORDS records; $(nproc) cores;"
echo "bodies: hot $hot_size B, random mean $mean_size B; last round of each:"
printf '%-30s %s\n' "target" "req/s p50 p99 errors"
printf '%s\n' "${rows[@]}"
echo
printf '%s\n' "${summary[@]}"
echo "targets (docs/operations.md): L1 hit >= 0.90, Redis hit >= 0.70, store read >= 0.60"
