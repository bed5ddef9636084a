#!/usr/bin/env bash
# Shoppers' reads while a flood of made-up versions (min_version above any
# version the store has reached, a new one per request) hits one product,
# on one `reviews --workers 1` over the embedded store (L1 on, no Redis),
# or over the MongoDB at MONGODB_URI when it is set (its database is seeded
# with RECORDS reviews if it does not hold them).
# Each round: wrk's shoppers read random products among the HOT hottest
# (reads without min_version: L1 hits) alone for DURATION s, then for
# DURATION s again while a second wrk floods product PRODUCT's page with
# made-up versions (artillery/wrk/made_up_versions.lua). Printed per round
# and as medians: the shoppers' req/s alone and during the flood and their
# ratio, the flood's own req/s, and the store reads a second the flood cost
# (reviews_store_queries_total over the flooded run; the shoppers' reads
# are L1 hits and cost none).
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
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-3}
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
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
start() { # PORT BINARY
  RUST_LOG=warn "$2" --listen "127.0.0.1:$1" --workers 1 "${store[@]}" --demo-records 0 &
  pids+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && break; sleep 0.05; done
  # The shoppers' products in L1, the flooded product's page too.
  for id in $(seq "$HOT") "$PRODUCT"; do echo "url = \"http://127.0.0.1:$1/reviews/$id\""; done | curl -s -K - >/dev/null
}
queries() { curl -s "http://127.0.0.1:$1/metrics" | awk '$1 == "reviews_store_queries_total" {print $2}'; }
shoppers() { # PORT: req/s
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s artillery/wrk/random_product.lua \
    "http://127.0.0.1:$1" -- "$HOT" | awk '/^Requests\/sec/ {printf "%.0f", $2}'
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

declare -A results
for round in $(seq "$ROUNDS"); do
  for build in "${builds[@]}"; do
    IFS=: read -r name _ port <<<"$build"
    alone=$(shoppers "$port")
    before=$(queries "$port")
    flood "$port" >"/tmp/bench-versions-flood.$$" &
    flooding=$!
    during=$(shoppers "$port")
    wait "$flooding"
    flooded=$(cat "/tmp/bench-versions-flood.$$")
    after=$(queries "$port")
    reads=$(awk -v a="$before" -v b="$after" -v d="$DURATION" 'BEGIN {printf "%.0f", (b - a) / d}')
    ratio=$(awk -v a="$alone" -v b="$during" 'BEGIN {printf "%.3f", b / a}')
    echo "round $round, $name: shoppers alone $alone req/s, during the flood $during req/s ($ratio);" \
      "flood $flooded req/s; store reads $reads/s"
    results[$name]+="$ratio $reads $alone $during $flooded"$'\n'
  done
done
rm -f "/tmp/bench-versions-flood.$$"
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
for build in "${builds[@]}"; do
  IFS=: read -r name _ _ <<<"$build"
  rows=${results[$name]}
  echo "$name: median shoppers during / alone $(awk 'NF {print $1}' <<<"$rows" | median)," \
    "store reads $(awk 'NF {print $2}' <<<"$rows" | median)/s," \
    "shoppers alone $(awk 'NF {print $3}' <<<"$rows" | median) req/s," \
    "during $(awk 'NF {print $4}' <<<"$rows" | median) req/s," \
    "flood $(awk 'NF {print $5}' <<<"$rows" | median) req/s"
done
echo "wrk -t1 -c$CONNECTIONS (shoppers, $HOT hot products) and -t1 -c$FLOOD_CONNECTIONS (flood, product $PRODUCT), ${DURATION}s;" \
  "reviews --workers 1 on $where; $(nproc) cores shared by both wrk and the servers"
