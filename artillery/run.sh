#!/usr/bin/env bash
# One load-test run with a report: seeds a data set of the chosen size,
# starts the service in the chosen setup, drives it with the chosen tool for
# a bounded time, and writes a report folder: report.md (RPS, p50/p90/p99/max
# latency, errors, per-interval table), series.csv, latency.png (latency and
# throughput over time), server.log.
#
#   artillery/run.sh                                   # wrk, 100k records, 10 s
#   RECORDS=10000000 WORKERS=2 REDIS=1 DURATION=60 artillery/run.sh
#   TOOL=artillery DURATION=60 artillery/run.sh        # installs artillery locally
#   TOOL=siege artillery/run.sh
#
# Env: RECORDS, WORKERS (1), L1_MB (64), REDIS (0|1), TOOL (wrk|artillery|
# siege), DURATION (s), CONNECTIONS (32; artillery: PEAK_RATE arrivals/s, 200),
# PORT (3960), OUT (report folder), BIN_DIR (prebuilt reviews and seed).
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-100000}
PRODUCTS=$(( RECORDS / 10 > 0 ? RECORDS / 10 : 1 ))
WORKERS=${WORKERS:-1}
L1_MB=${L1_MB:-64}
REDIS=${REDIS:-0}
TOOL=${TOOL:-wrk}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
PEAK_RATE=${PEAK_RATE:-200}
PORT=${PORT:-3960}
OUT=${OUT:-artillery/reports/$(date -u +%Y%m%dT%H%M%SZ)-$TOOL}
DATA_DIR=${DATA_DIR:-target/report-data-$RECORDS}
URL="http://127.0.0.1:$PORT"

need() { command -v "$1" >/dev/null || { echo "run.sh: $1 is not installed (apt-get install $2)" >&2; exit 1; }; }
need curl curl; need python3 python3; need gnuplot gnuplot-nox
case $TOOL in
  wrk) need wrk wrk ;;
  siege) need siege siege ;;
  artillery)
    need npm npm
    if [ ! -x artillery/node_modules/.bin/artillery ]; then
      echo "== installing artillery into artillery/node_modules"
      (cd artillery && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-save --ignore-scripts --no-audit --no-fund artillery@2.0 >/dev/null)
    fi ;;
  *) echo "run.sh: TOOL must be wrk, artillery or siege" >&2; exit 1 ;;
esac

if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release --quiet --bins
  BIN_DIR=target/release
fi
mkdir -p "$OUT"
echo "== seeding $RECORDS records into $DATA_DIR"
"$BIN_DIR/seed" --records "$RECORDS" --data-dir "$DATA_DIR" 2>&1 | tail -n 1

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
extra=()
if [ "$REDIS" = 1 ]; then
  need redis-server redis-server
  redis-server --port $((PORT + 1)) --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
  pids+=($!)
  extra+=(--redis-url "redis://127.0.0.1:$((PORT + 1))/")
fi
"$BIN_DIR/reviews" --listen "127.0.0.1:$PORT" --data-dir "$DATA_DIR" --demo-records 0 \
  --workers "$WORKERS" --l1-capacity-mb "$L1_MB" "${extra[@]}" 2>"$OUT/server.log" &
pids+=($!)
for _ in $(seq 300); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/readyz" >/dev/null || { echo "run.sh: the service did not start; see $OUT/server.log" >&2; exit 1; }

series="$OUT/series.csv"
echo "second,requests,rps,p50_ms,p90_ms,p99_ms,max_ms,non2xx,errors" > "$series"
echo "== $TOOL for ${DURATION}s against $URL"
case $TOOL in
  wrk)
    # One-second slices give latency over time; wrk reports per slice.
    for second in $(seq "$DURATION"); do
      wrk -t2 -c"$CONNECTIONS" -d1s --latency -s artillery/wrk/storefront.lua "$URL" -- "$PRODUCTS" "$RECORDS" \
        | python3 artillery/report.py wrk "$second" >> "$series"
    done ;;
  siege)
    artillery/siege-urls.sh "$URL" "$PRODUCTS" "$RECORDS" > "$OUT/urls.txt"
    for second in $(seq "$DURATION"); do
      siege -R artillery/siegerc -c "$CONNECTIONS" -t 1S -f "$OUT/urls.txt" 2>/dev/null \
        | python3 artillery/report.py siege "$second" >> "$series"
    done ;;
  artillery)
    warm=$(( DURATION / 5 > 0 ? DURATION / 5 : 1 )); ramp=$(( DURATION * 3 / 10 > 0 ? DURATION * 3 / 10 : 1 ))
    sustain=$(( DURATION - warm - ramp > 0 ? DURATION - warm - ramp : 1 ))
    TARGET="$URL" PRODUCTS="$PRODUCTS" RECORDS="$RECORDS" WARM_SECS=$warm RAMP_SECS=$ramp \
      SUSTAIN_SECS=$sustain PEAK_RATE="$PEAK_RATE" ARTILLERY_DISABLE_TELEMETRY=true \
      artillery/node_modules/.bin/artillery run --output "$OUT/artillery.json" artillery/storefront.yml > "$OUT/artillery.log"
    python3 artillery/report.py artillery "$OUT/artillery.json" >> "$series" ;;
esac

title="reviews under $TOOL: $RECORDS records, $WORKERS worker(s), L1 ${L1_MB} MB, Redis $([ "$REDIS" = 1 ] && echo on || echo off)"
python3 artillery/report.py summary "$series" "$title" \
  "command: \`RECORDS=$RECORDS WORKERS=$WORKERS L1_MB=$L1_MB REDIS=$REDIS TOOL=$TOOL DURATION=$DURATION CONNECTIONS=$CONNECTIONS artillery/run.sh\`" \
  "load: $TOOL, $CONNECTIONS connections (artillery: arrival rate up to $PEAK_RATE/s), ${DURATION}s, storefront mix (artillery/README.md)" \
  "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load generator and service share it" \
  "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$OUT/report.md"

gnuplot <<GP
set terminal pngcairo size 1000,500 noenhanced
set output "$OUT/latency.png"
set datafile separator ","
set title "$title"
set xlabel "seconds"
set ylabel "latency (ms)"
set y2label "requests/s"
set y2tics
set ytics nomirror
set key top left
set grid
plot "$series" using 1:4 skip 1 with linespoints title "p50", \
     "$series" using 1:5 skip 1 with linespoints title "p90", \
     "$series" using 1:6 skip 1 with linespoints title "p99", \
     "$series" using 1:3 skip 1 axes x1y2 with lines lw 2 title "req/s"
GP
echo "== report: $OUT/report.md, $OUT/latency.png"
sed -n '/## Figures/,/^Percentiles/p' "$OUT/report.md"
