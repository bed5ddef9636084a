#!/usr/bin/env bash
# The server CPU one L1 hit costs, this build against another in the same
# rounds: steadier than req/s on a machine shared with other work, where
# two closed-loop runs a few seconds apart swing by ±10%.
# For each path (the native page, its meta, and the Atelier list when both
# builds serve it) of random products among the HOT hottest, all in L1:
# ROUNDS alternating `wrk -t1 -c32 -dDURATION` runs against this build and
# BASELINE, each with its req/s and the worker's CPU time (utime + stime
# from /proc) divided by the requests it answered; then the medians.
#
#   BASELINE=/tmp/before/target/release/reviews scripts/bench-cpu.sh
#
# The baseline serves a data set of its own, seeded by its own `seed`
# (BASELINE_SEED, default the `seed` beside it) into BASE_DATA_DIR, as in
# scripts/bench.sh (the same defaults, so one seeding serves both).
#
# Env: BASELINE (required), BASELINE_SEED, RECORDS, DURATION, ROUNDS, HOT,
# DATA_DIR, BASE_DATA_DIR, PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-1000000}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-5}
HOT=${HOT:-100}
DATA_DIR=${DATA_DIR:-target/bench-data-$RECORDS}
BASE_DATA_DIR=${BASE_DATA_DIR:-$DATA_DIR-baseline}
PORT=${PORT:-3960}
BASELINE=${BASELINE:-}
[ -n "$BASELINE" ] && [ -x "$BASELINE" ] || { echo "bench-cpu: set BASELINE to another reviews build" >&2; exit 1; }
BASELINE_SEED=${BASELINE_SEED:-$(dirname "$BASELINE")/seed}
[ -x "$BASELINE_SEED" ] || { echo "bench-cpu: the baseline's seed ($BASELINE_SEED) is not an executable: set BASELINE_SEED" >&2; exit 1; }
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench-cpu: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done
cargo build --release --quiet --bins
./target/release/seed --records "$RECORDS" --data-dir "$DATA_DIR" 2>&1 | tail -n 1
"$BASELINE_SEED" --records "$RECORDS" --data-dir "$BASE_DATA_DIR" 2>&1 | tail -n 1

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
declare -A worker
start() { # NAME PORT BINARY DATA_DIR
  RUST_LOG=warn "$3" --listen "127.0.0.1:$2" --data-dir "$4" --demo-records 0 --workers 1 &
  pids+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null && break; sleep 0.05; done
  # The process that serves: the worker a supervisor starts, or the server itself.
  local child
  child=$(pgrep -P "$!" | head -n 1 || true)
  worker[$1]=${child:-$!}
}
start this "$PORT" ./target/release/reviews "$DATA_DIR"
start baseline $((PORT + 1)) "$BASELINE" "$BASE_DATA_DIR"
declare -A port=([this]=$PORT [baseline]=$((PORT + 1)))

ticks() { awk '{print $14 + $15}' "/proc/${worker[$1]}/stat"; }
run() { # NAME PREFIX SUFFIX: "req/s µs-of-worker-CPU-per-request"
  local t0 out
  t0=$(ticks "$1")
  out=$(wrk -t1 -c32 -d"${DURATION}s" -s artillery/wrk/random_product.lua \
    "http://127.0.0.1:${port[$1]}" -- "$HOT" "$3" "$2")
  awk -v t=$(($(ticks "$1") - t0)) -v hz="$(getconf CLK_TCK)" '
    /requests in/ {n = $1} /^Requests\/sec/ {rps = $2}
    END {printf "%.0f %.2f\n", rps, t / hz * 1e6 / n}' <<<"$out"
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "| path | this build µs/request (rounds) | baseline µs/request (rounds) | this / baseline | req/s this / baseline (medians) |"
echo "|---|---|---|---|---|"
for path in "page:/reviews/:" "meta:/reviews/:/meta" "Atelier list:/reviews?product_id=:"; do
  IFS=: read -r name prefix suffix <<<"$path"
  names=(this baseline)
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port[baseline]}${prefix}1${suffix}")
  [ "$code" = 200 ] || names=(this) # a route the baseline lacks
  for n in "${names[@]}"; do # warm: every hot product's answer in L1
    for id in $(seq "$HOT"); do echo "url = \"http://127.0.0.1:${port[$n]}${prefix}${id}${suffix}\""; done |
      curl -s -K - >/dev/null
  done
  declare -A cpu=() rps=()
  for _ in $(seq "$ROUNDS"); do
    for n in "${names[@]}"; do
      read -r r c < <(run "$n" "$prefix" "$suffix")
      cpu[$n]+="$c "
      rps[$n]+="$r "
    done
  done
  m() { tr ' ' '\n' <<<"$1" | grep . | median; }
  if [ "${#names[@]}" = 2 ]; then
    echo "| $name | $(m "${cpu[this]}") (${cpu[this]% }) | $(m "${cpu[baseline]}") (${cpu[baseline]% }) |" \
      "$(awk -v a="$(m "${cpu[this]}")" -v b="$(m "${cpu[baseline]}")" 'BEGIN {printf "**%.3f**", a / b}') |" \
      "$(m "${rps[this]}") / $(m "${rps[baseline]}") |"
  else
    echo "| $name | $(m "${cpu[this]}") (${cpu[this]% }) | – (the baseline lacks the route) | – | $(m "${rps[this]}") / – |"
  fi
  unset cpu rps
done
