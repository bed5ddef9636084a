#!/usr/bin/env bash
# One load-test run with a report: seeds a data set of the chosen size,
# starts the service in the chosen setup, drives it with the chosen tool for
# a bounded time, and writes a report folder: report.md (the tool's whole-run
# throughput and latency percentiles, the service's own count of requests by
# route and status, a per-interval table), series.csv, latency.png (latency
# and throughput over time), server.log, and the tools' raw output in raw/.
# Exits non-zero, after writing the report, when the service answered a
# status the mix does not expect, a request failed, or (artillery) an ensure
# threshold was crossed.
#
#   artillery/run.sh                                   # wrk, 100k records, 10 s
#   RECORDS=10000000 WORKERS=2 REDIS=1 DURATION=60 artillery/run.sh
#   TOOL=artillery DURATION=60 artillery/run.sh        # installs artillery locally
#   TOOL=siege artillery/run.sh
#
# Env: RECORDS, WORKERS (1), L1_MB (64), REDIS (0|1), TOOL (wrk|artillery|
# siege), DURATION (s), CONNECTIONS (32), PORT (3960), OUT (report folder),
# BIN_DIR (prebuilt reviews and seed), SERVICE_FLAGS (more flags for
# `reviews`, e.g. "--max-in-flight 256 --cache-ttl 60"); artillery: PEAK_RATE (arrivals/s, 200),
# ENSURE_P99_MS (100), ENSURE_MAX_ERROR_RATE (0.001); siege: VOTE_USERS (2),
# VOTE_DELAY (0.01 s; the report gives the share of votes the run reached).
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
ENSURE_P99_MS=${ENSURE_P99_MS:-100}
ENSURE_MAX_ERROR_RATE=${ENSURE_MAX_ERROR_RATE:-0.001}
VOTE_USERS=${VOTE_USERS:-2}
VOTE_DELAY=${VOTE_DELAY:-0.01}
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
# The load comes from one address standing in for many shoppers: the
# per-client write limits and the one-vote-per-client rule are off here.
"$BIN_DIR/reviews" --listen "127.0.0.1:$PORT" --data-dir "$DATA_DIR" --demo-records 0 \
  --workers "$WORKERS" --l1-capacity-mb "$L1_MB" "${extra[@]}" \
  --post-burst 0 --vote-burst 0 --vote-window 0 ${SERVICE_FLAGS:-} 2>"$OUT/server.log" &
pids+=($!)
for _ in $(seq 300); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/readyz" >/dev/null || { echo "run.sh: the service did not start; see $OUT/server.log" >&2; exit 1; }

raw="$OUT/raw"
mkdir -p "$raw"
# What the tool's new reviews rate: each product's characteristics, read
# from its meta before the first scrape, so these reads are not counted as
# the mix's (artillery's shoppers read the meta in their scenario).
case $TOOL in
  wrk) python3 artillery/characteristics.py wrk "$URL" "$PRODUCTS" mix > "$raw/characteristics.txt" ;;
  siege)
    artillery/siege-urls.sh "$URL" "$PRODUCTS" "$RECORDS" > "$raw/urls.txt"
    artillery/siege-urls.sh --votes "$URL" "$PRODUCTS" "$RECORDS" > "$raw/votes.txt" ;;
esac
load_before=$(cut -d' ' -f1 /proc/loadavg)
python3 artillery/report.py scrape "$URL" "$raw/metrics-before.json"
echo "== $TOOL for ${DURATION}s against $URL"
tool_status=0
case $TOOL in
  wrk)
    # One-second runs give latency over time; each prints its whole latency
    # histogram, which report.py merges into the whole run's percentiles.
    for second in $(seq "$DURATION"); do
      wrk -t2 -c"$CONNECTIONS" -d1s -s artillery/wrk/storefront.lua "$URL" -- "$PRODUCTS" "$RECORDS" \
        "$raw/characteristics.txt" > "$raw/wrk-$second.txt"
    done ;;
  siege)
    # Reads and posts in one-second runs; votes beside them in one paced run
    # on connections closed after each answer (see artillery/siegerc-votes).
    # siege -v prints one line per request: "HTTP/1.1 200 0.00 secs: ...".
    count_statuses() { awk '/HTTP\/1/ {n[$2]++} END {for (s in n) print s, n[s]}'; }
    # siege_run SECONDS OUT ARGS...: one timed siege run, its figures in
    # OUT.txt and its statuses in OUT.status. siege 4.0.7 sometimes hangs at
    # "Lifting the server siege..." before printing its figures: a run that
    # outlives its time by 10 s is killed, and the report counts it as hung.
    siege_run() {
      local secs=$1 out=$2 rc=0; shift 2
      HOME="$raw" timeout -s KILL $((secs + 10)) siege -t "${secs}S" -v "$@" 2>"$out.txt" \
        | count_statuses > "$out.status" || rc=$?
      case $rc in
        0) ;;
        137) echo "run.sh: a siege run hung at its end (siege 4.0.7) and was killed" >&2 ;;
        *) echo "run.sh: siege failed (status $rc): $(tail -n 3 "$out.txt")" >&2; return 1 ;;
      esac
    }
    siege_run "$DURATION" "$raw/siege-votes" -R artillery/siegerc-votes -c "$VOTE_USERS" \
      -d "$VOTE_DELAY" -f "$raw/votes.txt" &
    votes=$!
    for second in $(seq "$DURATION"); do
      siege_run 1 "$raw/siege-$second" -R artillery/siegerc -T application/json \
        -c "$CONNECTIONS" -f "$raw/urls.txt"
    done
    wait "$votes" ;;
  artillery)
    warm=$(( DURATION / 5 > 0 ? DURATION / 5 : 1 )); ramp=$(( DURATION * 3 / 10 > 0 ? DURATION * 3 / 10 : 1 ))
    sustain=$(( DURATION - warm - ramp > 0 ? DURATION - warm - ramp : 1 ))
    TARGET="$URL" PRODUCTS="$PRODUCTS" RECORDS="$RECORDS" WARM_SECS=$warm RAMP_SECS=$ramp \
      SUSTAIN_SECS=$sustain PEAK_RATE="$PEAK_RATE" ENSURE_P99_MS="$ENSURE_P99_MS" \
      ENSURE_MAX_ERROR_RATE="$ENSURE_MAX_ERROR_RATE" ARTILLERY_DISABLE_TELEMETRY=true \
      artillery/node_modules/.bin/artillery run --output "$raw/artillery.json" artillery/storefront.yml \
      > "$OUT/artillery.log" 2>&1 || tool_status=$?
    sed -n '/^Checks:/,$p' "$OUT/artillery.log" ;;
esac
load_after=$(cut -d' ' -f1 /proc/loadavg)
sleep 0.2   # let requests the tool abandoned at its end finish before the last scrape
python3 artillery/report.py scrape "$URL" "$raw/metrics-after.json"

title="reviews under $TOOL: $RECORDS records, $WORKERS worker(s), L1 ${L1_MB} MB, Redis $([ "$REDIS" = 1 ] && echo on || echo off)"
case $TOOL in
  wrk) load="wrk, $CONNECTIONS connections, 2 threads" ;;
  siege) load="siege, $CONNECTIONS users (reads and posts) + $VOTE_USERS user pacing votes with -d $VOTE_DELAY" ;;
  artillery) load="artillery, arrivals 5/s ramping to $PEAK_RATE/s, each a shopper of 4-6 requests; ensure p99 < $ENSURE_P99_MS ms, error rate <= $ENSURE_MAX_ERROR_RATE" ;;
esac
report_status=0
python3 artillery/report.py build "$OUT" "$TOOL" "$title" \
  "command: \`RECORDS=$RECORDS WORKERS=$WORKERS L1_MB=$L1_MB REDIS=$REDIS TOOL=$TOOL DURATION=$DURATION CONNECTIONS=$CONNECTIONS${SERVICE_FLAGS:+ SERVICE_FLAGS=\"$SERVICE_FLAGS\"} artillery/run.sh\`" \
  "load: $load, ${DURATION}s, storefront mix (artillery/README.md)" \
  "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load generator and service share it; 1-minute load average $load_before before the run, $load_after at its end" \
  "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)" || report_status=$?
# 3: the run failed (the report says why); anything else: report.py did.
case $report_status in 0|3) ;; *) echo "run.sh: report.py failed" >&2; exit 1 ;; esac

read -r lat1 lat2 < "$OUT/plot-columns"
rm "$OUT/plot-columns"
col() { head -n1 "$OUT/series.csv" | tr , '\n' | grep -nx "$1" | cut -d: -f1; }
label() { case $1 in p50_ms) echo "p50 of each interval";; p99_ms) echo "p99 of each interval";;
  mean_ms) echo "mean of each interval (siege, 10 ms steps)";; max_ms) echo "max of each interval";; esac; }
gnuplot <<GP
set terminal pngcairo size 1000,500 noenhanced
set output "$OUT/latency.png"
set datafile separator ","
set title "$title"
set xlabel "seconds of load (end of each interval)"
set ylabel "latency (ms)"
set y2label "requests/s"
set yrange [0:*]
set y2range [0:*]
set xrange [0:*]
set y2tics
set ytics nomirror
set key below
set grid
plot "$OUT/series.csv" using 1:$(col "$lat1") skip 1 with linespoints title "$(label "$lat1")", \
     "$OUT/series.csv" using 1:$(col "$lat2") skip 1 with linespoints title "$(label "$lat2")", \
     "$OUT/series.csv" using 1:4 skip 1 axes x1y2 with lines lw 2 title "requests/s in each interval"
GP
echo "== report: $OUT/report.md, $OUT/latency.png"
sed -n '/^## Whole run/,/^## Over time/p' "$OUT/report.md"
if [ "$tool_status" != 0 ]; then
  echo "run.sh: $TOOL exited with status $tool_status (artillery: an ensure check failed; see $OUT/artillery.log)" >&2
  exit 1
fi
[ "$report_status" = 0 ] || { echo "run.sh: the run failed: see the verdict in $OUT/report.md" >&2; exit 1; }
