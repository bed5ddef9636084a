#!/usr/bin/env bash
# The backends' own figures that deploy/capacity.md turns into MongoDB
# members and Redis masters, measured through the service where the service
# is the client (one `reviews --workers 1`, caches off, rate limits off):
#   store reads/s     wrk random_product.lua over every product: each
#                     request one store read (the product's meta, then its
#                     page, in one session), no cache in front
#   store writes/s    wrk storefront.lua's `posts` mode: each request one new review
#                     (rating its product's characteristics, read from the
#                     service's meta beforehand by artillery/characteristics.py), a
#                     transaction of the review, its product's meta and a
#                     change-log entry (majority write concern)
#   change-log polls  the follower's polls a second (its own counter), and
#                     the entries each re-reads right after the writes (on
#                     MongoDB every poll re-reads a 10 s window of the log)
#   Redis GET/SET     redis-benchmark on a fresh redis-server: one Redis
#                     process's commands a second with bodies of BODY bytes
# on the MongoDB at MONGODB_URI (its database `reviews_bench_backends`,
# replaced by each run) or, without it, the embedded store in a temp dir. Prints one table, also
# written to OUT (default target/bench/backends-<store>-<records>.md).
#
#   MONGODB_URI=mongodb://... scripts/bench-backends.sh
#
# Env: RECORDS (default 200000), DURATION (s per wrk run, 10),
# CONNECTIONS (32), BODY (bytes of a Redis value, 2430: the L1 set's mean
# body in bench.sh's table), PORT, OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-200000}
PRODUCTS=$((RECORDS / 10))
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
BODY=${BODY:-2430}
PORT=${PORT:-3950}
for tool in wrk redis-server redis-benchmark curl python3; do
  command -v "$tool" >/dev/null || { echo "bench-backends: $tool is not installed" >&2; exit 1; }
done
cargo build --release --quiet --bins

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${MONGODB_URI:-}" ]; then
  store=mongodb
  db_uri=$(python3 - "$MONGODB_URI" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit((u.scheme, u.netloc, "/reviews_bench_backends", u.query, "")))
PY
)
  echo "== seeding $RECORDS records into MongoDB"
  ./target/release/seed --mongodb-uri "$db_uri" --records "$RECORDS" --drop 2>&1 | tail -n 1
  store_args=(--mongodb-uri "$db_uri")
else
  store=embedded
  echo "== seeding $RECORDS records into $work/data"
  ./target/release/seed --data-dir "$work/data" --records "$RECORDS" 2>&1 | tail -n 1
  store_args=(--data-dir "$work/data")
fi
OUT=${OUT:-target/bench/backends-$store-$RECORDS.md}

env -u MONGODB_URI -u REDIS_URL ./target/release/reviews --listen "127.0.0.1:$PORT" --workers 1 \
  "${store_args[@]}" --l1-capacity-mb 0 --demo-records 0 \
  --post-burst 0 --vote-burst 0 --vote-window 0 2>"$work/reviews.log" &
pids+=($!)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.05; done

# rate FILE: requests a second from wrk's summary.
rate() { awk '/Requests\/sec/ {printf "%.0f", $2}' "$1"; }
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# The head of a read's response, as a client gets it (no compression).
head_bytes=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PORT/reviews/1" | wc -c)

echo "== store reads ($DURATION s)"
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s artillery/wrk/random_product.lua \
  "http://127.0.0.1:$PORT" -- "$PRODUCTS" >"$work/reads.txt"
reads=$(rate "$work/reads.txt")

echo "== store writes ($DURATION s)"
python3 artillery/characteristics.py wrk "http://127.0.0.1:$PORT" "$PRODUCTS" posts >"$work/rated.txt"
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s artillery/wrk/storefront.lua \
  "http://127.0.0.1:$PORT" -- "$PRODUCTS" "$RECORDS" "$work/rated.txt" posts >"$work/writes.txt"
writes=$(rate "$work/writes.txt")
written=$(sed -n 's/^wrk-run //p' "$work/writes.txt" | python3 -c 'import json, sys; print(json.load(sys.stdin)["statuses"])')
window_writes=$(awk '/Requests\/sec/ {printf "%.0f", $2 * 10}' "$work/writes.txt")

# The follower's polls a second, counted by the service itself.
polls_before=$(metric 'reviews_store_background_reads_total{read="change_log"}')
sleep 5
polls_after=$(metric 'reviews_store_background_reads_total{read="change_log"}')
poll_rate=$(python3 -c "print(f'{($polls_after - $polls_before) / 5:.1f}')")

echo "== Redis GET and SET, $BODY-byte values"
rport=$((PORT + 1))
redis-server --port "$rport" --save '' --appendonly no >/dev/null &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-benchmark -p "$rport" -t set,get -d "$BODY" -c 50 -n 200000 -r 100000 -q >"$work/redis.txt" 2>&1
# -q rewrites a progress line with carriage returns; the last one per test
# is its result, "GET: 36062.03 requests per second, ...".
tr '\r' '\n' <"$work/redis.txt" >"$work/redis-lines.txt"
redis_get=$(awk '/^GET: [0-9]/ {printf "%.0f", $2}' "$work/redis-lines.txt")
redis_set=$(awk '/^SET: [0-9]/ {printf "%.0f", $2}' "$work/redis-lines.txt")

mkdir -p "$(dirname "$OUT")"
{
  echo "# scripts/bench-backends.sh: $store store, $RECORDS records, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "$(nproc) cores ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), shared by the"
  echo "service, the store engine, Redis and the load generators."
  echo "\`reviews --workers 1\`, L1 and Redis off; wrk -t1 -c$CONNECTIONS -d${DURATION}s."
  echo
  echo "| figure | value | measured with |"
  echo "|---|---|---|"
  echo "| store reads/s | $reads | wrk -s artillery/wrk/random_product.lua, $PRODUCTS products |"
  echo "| store writes/s | $writes | wrk -s artillery/wrk/storefront.lua -- $PRODUCTS $RECORDS <rated> posts (statuses $written) |"
  echo "| change-log entries per poll after the writes | $window_writes | writes/s × the 10 s window MongoDB re-reads |"
  echo "| change-log polls/s | $poll_rate | reviews_store_background_reads_total over 5 s |"
  echo "| Redis GET/s | $redis_get | redis-benchmark -t get -d $BODY -c 50 -n 200000 |"
  echo "| Redis SET/s | $redis_set | redis-benchmark -t set -d $BODY -c 50 -n 200000 |"
  echo "| response head bytes | $head_bytes | curl -D - of GET /reviews/1 |"
} >"$OUT"
cat "$OUT"
