#!/usr/bin/env bash
# Benchmark: each read path of `reviews` next to a bare hyper server that
# returns a body of the same size, driven by wrk with the same settings in
# the same run (docs/operations.md):
#   L1 hit            random products among 100 hot ones, L1 on, no Redis
#   Redis hit         random products among 1,000, --l1-capacity-mb 0, Redis on
#                     (many keys: single flight cannot coalesce them, so this
#                     measures Redis round trips, not coalescing)
#   store read        random products over the whole data set, both caches off
# The hot sets are read once before they are measured, so each row measures
# its own tier. The bare server's body is the mean body size of the row's set.
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
L1_SPAN=${L1_SPAN:-100}
REDIS_SPAN=${REDIS_SPAN:-1000}

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

# wrk_once URL SPAN [wrk args...]: one wrk run over products 1..SPAN;
# prints "req/s p50 p99 errors".
wrk_once() {
  local url=$1 span=$2; shift 2
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url" -- "$span" | awk '
    /^Requests\/sec/ {rps = $2} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
    /Non-2xx|Socket errors/ {err = err $0 " "}
    END {printf "%s %s %s %s\n", rps, p50, p99, (err == "" ? "0" : err)}'
}

# mean_size PORT SPAN: the mean body size of products 1..SPAN (sampled).
mean_size() {
  for _ in $(seq 200); do
    curl -s "http://127.0.0.1:$1/reviews/$(( (RANDOM * 32768 + RANDOM) % $2 + 1 ))" | wc -c
  done | awk '{s += $1} END {printf "%d", s / NR}'
}

# warm PORT SPAN: reads every product of 1..SPAN once.
warm() {
  for id in $(seq "$2"); do echo "url = \"http://127.0.0.1:$1/reviews/$id\""; done |
    curl -s -K - >/dev/null
}

rows=()
summary=()
# compare NAME BARE_URL APP_URL SPAN: alternates bare and app runs ROUNDS
# times (the app over random products 1..SPAN); reports the last round's
# figures and the median ratio.
compare() {
  local name=$1 bare_url=$2 app_url=$3 span=$4
  local ratios=() bare app
  for round in $(seq "$ROUNDS"); do
    bare=$(wrk_once "$bare_url" "$span")
    app=$(wrk_once "$app_url" "$span" -s artillery/wrk/random_product.lua)
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

l1_size=$(mean_size "$P_STORE" "$L1_SPAN")
redis_size=$(mean_size "$P_STORE" "$REDIS_SPAN")
store_size=$(mean_size "$P_STORE" "$PRODUCTS")
P_BARE_L1=$BARE_PORT; P_BARE_REDIS=$((PORT + 6))
start_bare "$P_BARE_L1" "$l1_size"
start_bare "$P_BARE_REDIS" "$redis_size"
start_bare "$P_BARE_RAND" "$store_size"
warm "$P_L1" "$L1_SPAN"
warm "$P_L2" "$REDIS_SPAN"

compare "L1 hit, $L1_SPAN products" "http://127.0.0.1:$P_BARE_L1/" "http://127.0.0.1:$P_L1" "$L1_SPAN"
compare "Redis hit, $REDIS_SPAN products" "http://127.0.0.1:$P_BARE_REDIS/" "http://127.0.0.1:$P_L2" "$REDIS_SPAN"
compare "store read, random products" "http://127.0.0.1:$P_BARE_RAND/" "http://127.0.0.1:$P_STORE" "$PRODUCTS"

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency; $RECORDS records; $(nproc) cores;"
echo "mean bodies: L1 set $l1_size B, Redis set $redis_size B, all products $store_size B; last round of each:"
printf '%-30s %s\n' "target" "req/s p50 p99 errors"
printf '%s\n' "${rows[@]}"
echo
printf '%s\n' "${summary[@]}"
echo "targets (docs/operations.md): L1 hit >= 0.90, Redis hit >= 0.70, store read >= 0.60"
