#!/usr/bin/env bash
# Shoppers' reads while a flood of made-up versions (min_version above any
# version the store has reached, a new one per request) hits one product,
# on one `reviews --workers 1` over the embedded store (L1 on, no Redis),
# or over the MongoDB at MONGODB_URI when it is set (its database is seeded
# with RECORDS reviews if it does not hold them).
# Each round: wrk's shoppers read random products among the HOT hottest
# (reads without min_version: L1 hits) for DURATION s alone, twice while
# a second wrk floods product PRODUCT's page with made-up versions
# (artillery/wrk/made_up_versions.lua), and alone again (so a load beside
# the bench that drifts during the round weighs on both sides alike).
# Printed per round and as medians: the shoppers' req/s alone and during
# the flood and their ratio, the flood's own req/s, and the store reads a
# second the flood cost (reviews_store_queries_total over the flooded
# runs; the shoppers' reads are L1 hits and cost none); and, for what an
# L1 hit costs each build, the server's CPU time per shopper read alone
# (utime + stime from /proc over the run, divided by the requests: steadier
# than req/s on a machine shared with other work).
#
#   scripts/bench-versions.sh
#   BASELINE=/tmp/before/target/release/reviews scripts/bench-versions.sh
#
# BASELINE: another build of `reviews`, measured in the same rounds right
# after this one on a port of its own, so before and after come from one
# run on the same machine.
#
# Env: RECORDS, DURATION (s per wrk run), ROUNDS, CONNECTIONS (shoppers'),
# FLOOD_CONNECTIONS, HOT, PRODUCT, DATA_DIR, PORT, MONGODB_URI.
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-1000000}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-32}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-32}
HOT=${HOT:-100}
PRODUCT=${PRODUCT:-1}
DATA_DIR=${DATA_DIR:-target/bench-data-$RECORDS}
PORT=${PORT:-3940}
BASELINE=${BASELINE:-}

for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench-versions: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done
[ -z "$BASELINE" ] || [ -x "$BASELINE" ] || { echo "bench-versions: BASELINE=$BASELINE is not an executable" >&2; exit 1; }
cargo build --release --quiet --bins
if [ -n "${MONGODB_URI:-}" ]; then
  store=(--mongodb-uri "$MONGODB_URI") where="MongoDB (MONGODB_URI)"
else
  store=(--data-dir "$DATA_DIR") where="the embedded store"
fi
./target/release/seed --records "$RECORDS" "${store[@]}" 2>&1 | tail -n 1

pids=()
declare -A server
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
start() { # PORT BINARY
  RUST_LOG=warn "$2" --listen "127.0.0.1:$1" --workers 1 "${store[@]}" --demo-records 0 &
  pids+=($!)
  server[$1]=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && break; sleep 0.05; done
  # The shoppers' products in L1, the flooded product's page too.
  for id in $(seq "$HOT") "$PRODUCT"; do echo "url = \"http://127.0.0.1:$1/reviews/$id\""; done | curl -s -K - >/dev/null
}
queries() { curl -s "http://127.0.0.1:$1/metrics" | awk '$1 == "reviews_store_queries_total" {print $2}'; }
ticks() { awk '{print $14 + $15}' "/proc/${server[$1]}/stat"; } # the server's CPU time
shoppers() { # PORT: "req/s µs-of-server-CPU-per-request"
  local t0 out
  t0=$(ticks "$1")
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s artillery/wrk/random_product.lua \
    "http://127.0.0.1:$1" -- "$HOT")
  awk -v t=$(($(ticks "$1") - t0)) -v hz="$(getconf CLK_TCK)" '
    /requests in/ {n = $1} /^Requests\/sec/ {rps = $2}
    END {printf "%.0f %.2f", rps, t / hz * 1e6 / n}' <<<"$out"
}
flood() { # PORT: req/s
  wrk -t1 -c"$FLOOD_CONNECTIONS" -d"${DURATION}s" -s artillery/wrk/made_up_versions.lua \
    "http://127.0.0.1:$1" -- "$PRODUCT" | awk '/^Requests\/sec/ {printf "%.0f", $2}'
}

builds=("this:./target/release/reviews:$PORT")
[ -n "$BASELINE" ] && builds+=("baseline:$BASELINE:$((PORT + 1))")
for build in "${builds[@]}"; do
  IFS=: read -r _ bin port <<<"$build"
  start "$port" "$bin"
done

# flooded PORT: one run of the shoppers during a flood, "shoppers flood
# store-reads-a-second".
flooded() {
  local before after flood_out during
  flood_out=$(mktemp)
  before=$(queries "$1")
  flood "$1" >"$flood_out" &
  read -r during _ <<<"$(shoppers "$1")"
  wait $!
  after=$(queries "$1")
  echo "$during $(cat "$flood_out") $(awk -v a="$before" -v b="$after" -v d="$DURATION" 'BEGIN {printf "%.0f", (b - a) / d}')"
  rm -f "$flood_out"
}

declare -A results
for round in $(seq "$ROUNDS"); do
  for build in "${builds[@]}"; do
    IFS=: read -r name _ port <<<"$build"
    # Alone, flooded, flooded, alone: a load beside the bench that drifts
    # during the round weighs on both sides alike.
    read -r alone1 cpu1 <<<"$(shoppers "$port")"
    read -r during1 flood1 reads1 <<<"$(flooded "$port")"
    read -r during2 flood2 reads2 <<<"$(flooded "$port")"
    read -r alone2 cpu2 <<<"$(shoppers "$port")"
    alone=$(( (alone1 + alone2) / 2 )) during=$(( (during1 + during2) / 2 ))
    flooded_rps=$(( (flood1 + flood2) / 2 )) reads=$(( (reads1 + reads2) / 2 ))
    ratio=$(awk -v a="$alone" -v b="$during" 'BEGIN {printf "%.3f", b / a}')
    cpu=$(awk -v a="$cpu1" -v b="$cpu2" 'BEGIN {printf "%.2f", (a + b) / 2}')
    echo "round $round, $name: shoppers alone $alone1, $alone2 req/s, during the flood $during1, $during2 req/s" \
      "($ratio); flood $flood1, $flood2 req/s; store reads $reads1, $reads2 a second;" \
      "server CPU per shopper read alone $cpu1, $cpu2 µs"
    results[$name]+="$ratio $reads $alone $during $flooded_rps $cpu"$'\n'
  done
done
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
for build in "${builds[@]}"; do
  IFS=: read -r name _ _ <<<"$build"
  rows=${results[$name]}
  echo "$name: median shoppers during / alone $(awk 'NF {print $1}' <<<"$rows" | median)," \
    "store reads $(awk 'NF {print $2}' <<<"$rows" | median)/s," \
    "shoppers alone $(awk 'NF {print $3}' <<<"$rows" | median) req/s," \
    "during $(awk 'NF {print $4}' <<<"$rows" | median) req/s," \
    "flood $(awk 'NF {print $5}' <<<"$rows" | median) req/s," \
    "server CPU per shopper read alone $(awk 'NF {print $6}' <<<"$rows" | median) µs"
done
echo "wrk -t1 -c$CONNECTIONS (shoppers, $HOT hot products) and -t1 -c$FLOOD_CONNECTIONS (flood, product $PRODUCT), ${DURATION}s;" \
  "reviews --workers 1 on $where; $(nproc) cores shared by both wrk and the servers"
