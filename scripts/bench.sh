#!/usr/bin/env bash
# Benchmark: each read path of `reviews` next to its floor — the least
# work that path can do, sending the service's own response head (captured
# from a real answer of the path) and a body of the path's mean size — and
# next to a bare hyper server with a minimal head, in one run, with the
# same load-generator settings (the same wrk script, so the client's own
# work is the same), and one table of it all (README.md, "Benchmark").
# The floors (examples/bare_hyper.rs): L1 hit, storefront mix and the idle
# row: bare hyper with the service's head; Redis hit: the same plus one
# Redis GET per request on a multiplexed connection; store and filtered
# reads: the same plus one LMDB read of a stored body keyed by product.
#   L1 hit            random products among 100 hot ones, L1 on, no Redis
#   Redis hit         random products among 1,000, --l1-capacity-mb 0, Redis on
#                     (many keys: single flight cannot coalesce them, so this
#                     measures Redis round trips, not coalescing)
#   store read        random products over the whole data set, both caches off
#   filtered read     one star (random) of a random product among the
#                     FILTERED_SPAN largest (the lowest ids), both caches off:
#                     the facet index's cost on the products with the most
#                     reviews (169 to 1,012 at 1M records)
#   storefront mix    artillery/wrk/storefront.lua: 80% of reads on the
#                     hottest 1% of products, the rest cold, 2% writes; L1
#                     and Redis on, rate limits off (one address stands in
#                     for many shoppers); its new reviews rate their
#                     products' characteristics, read from the service's meta
#                     beforehand (artillery/characteristics.py)
#   5,000 idle        the L1-hit load again with 5,000 idle keep-alive
#                     connections held open beside it
# Per path: after an unmeasured warm-up run of the app (half a round),
# wrk alternates bare, floor and app ROUNDS times (closed loop, peak
# rate: req/s, p50, p99; the median ratio to the floor is reported with
# its round's figures, and the ratio to bare hyper of the same round), then
# oha sends a constant rate of half the app's peak to the floor and the app
# (open loop, --latency-correction: p99 at half of peak), and each worker's
# resident memory is sampled from /proc throughout.
#
#   scripts/bench.sh                              # 1M records
#   RECORDS=10000000 scripts/bench.sh             # the reference data set
#   BASELINE=/tmp/reviews-old scripts/bench.sh    # and another build beside
#
# BASELINE: another build of `reviews` (an older commit's, say), started in
# the same setups on ports of its own and measured in the same rounds right
# after this one (closed loop only; not in the idle row), so before and
# after come from one run: each row then shows its req/s and this build's
# ratio to it.
#
# Env: RECORDS, DURATION (s per wrk run), ROUNDS, THREADS, CONNECTIONS (wrk
# and oha), WORKERS (reviews --workers), OPEN_DURATION (s per oha run),
# IDLE (connections held for the idle row), DATA_DIR (reused when it holds
# the data set), OUT (the table's file; default target/bench/).
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-1000000}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-1}
OPEN_DURATION=${OPEN_DURATION:-10}
IDLE=${IDLE:-5000}
DATA_DIR=${DATA_DIR:-target/bench-data-$RECORDS}
OUT=${OUT:-target/bench/bench-$RECORDS.md}
PRODUCTS=$((RECORDS / 10))
PORT=${PORT:-3900}
L1_SPAN=${L1_SPAN:-100}
REDIS_SPAN=${REDIS_SPAN:-1000}
FILTERED_SPAN=${FILTERED_SPAN:-100}
BASELINE=${BASELINE:-}
BASE_OFFSET=20
kit=scripts/benchkit.py

for tool in wrk redis-server curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done
OHA=${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
[ -x "$OHA" ] || { echo "bench: oha is not installed (cargo install oha --locked)" >&2; exit 1; }
[ -z "$BASELINE" ] || [ -x "$BASELINE" ] || { echo "bench: BASELINE=$BASELINE is not an executable" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet --bins --example bare_hyper

echo "== seeding $RECORDS records into $DATA_DIR"
./target/release/seed --records "$RECORDS" --data-dir "$DATA_DIR" 2>&1 | tail -n 1

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_up() {
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1$2" >/dev/null && return 0; sleep 0.05; done
  echo "bench: nothing answers on port $1" >&2; exit 1
}

# start_reviews PORT ARGS...: a reviews server (and the baseline's, on
# PORT + BASE_OFFSET, when BASELINE names one).
start_reviews() {
  local port=$1; shift
  RUST_LOG=warn ./target/release/reviews --listen "127.0.0.1:$port" --data-dir "$DATA_DIR" \
    --demo-records 0 --workers "$WORKERS" "$@" &
  pids+=($!)
  wait_up "$port" /healthz
  if [ -n "$BASELINE" ]; then
    RUST_LOG=warn "$BASELINE" --listen "127.0.0.1:$((port + BASE_OFFSET))" --data-dir "$DATA_DIR" \
      --demo-records 0 --workers "$WORKERS" "$@" &
    pids+=($!)
    wait_up $((port + BASE_OFFSET)) /healthz
  fi
}

# start_bare PORT SIZE [FLAGS...]: the bare hyper server with a SIZE-byte
# body (FLAGS: --head FILE, --redis URL PRODUCTS, --lmdb DIR PRODUCTS).
start_bare() {
  local port=$1 size=$2; shift 2
  ./target/release/examples/bare_hyper "127.0.0.1:$port" "$size" "$@" 2>/dev/null &
  pids+=($!)
  wait_up "$port" /
}

# capture_head PORT PATHS OUT: the response head the service on PORT
# answers the first path of PATHS with (as the path's floor sends it).
capture_head() {
  curl -s -D "$3" -o /dev/null "http://127.0.0.1:$1$(head -n 1 "$2")"
}

# pid_on PORT: the pid of the server started on PORT.
pid_on() { pgrep -o -f -- "--listen 127.0.0.1:$1 "; }

# wrk_once URL SCRIPT ARGS...: one closed-loop run; "req/s p50 p99 errors".
wrk_once() {
  local url=$1 script=$2; shift 2
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$script" "$url" -- "$@" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^Requests\/sec/ {rps = $2} $1 == "50%" {p50 = ms($2)} $1 == "99%" {p99 = ms($2)}
    /Non-2xx/ {err += $NF} /Socket errors/ {gsub(",", ""); err += $4 + $6 + $8 + $10}
    END {printf "%.0f %.2f %.2f %d\n", rps, p50, p99, err}'
}

# pin CPUS PORT: moves every thread of the server on PORT (its workers
# too) and of Redis onto CPUS.
pin() {
  local pid
  pid=$(pid_on "$2")
  for p in $pid $(cat "/proc/$pid/task/$pid/children" 2>/dev/null) $redis_pid; do
    taskset -a -p -c "$1" "$p" >/dev/null 2>&1 || true
  done
}

# oha_once PORT PATHS RATE: one open-loop run at RATE req/s over the paths
# in the file PATHS; "req/s p50 p99 errors". With two cores or more, the
# generator runs on the first and the servers on the others for the run:
# at a fixed rate the question is the server's latency, not how the
# generator's threads and the server's share a core.
oha_once() {
  sed "s#^#http://127.0.0.1:$1#" "$2" >"$work/urls"
  local gen=() cores
  cores=$(nproc)
  if [ "$cores" -ge 2 ] && command -v taskset >/dev/null; then
    pin "1-$((cores - 1))" "$1"
    gen=(taskset -c 0)
  fi
  "${gen[@]}" "$OHA" -z "${OPEN_DURATION}s" -q "$3" -c "$CONNECTIONS" --latency-correction --no-tui \
    --disable-compression --output-format json --urls-from-file "$work/urls" >"$work/oha.json"
  [ "${#gen[@]}" = 0 ] || pin "0-$((cores - 1))" "$1"
  python3 "$kit" oha "$work/oha.json"
}

# watch_memory PORT: samples the memory of the server on PORT until
# stop_memory, which sets $memory to "rss anon file" MiB (the largest
# worker's peaks).
watch_memory() {
  python3 "$kit" watch "$(pid_on "$1")" "$work/memory" &
  watcher=$!
}
# (Not in a subshell: only this shell can wait for the watcher to write.)
stop_memory() {
  kill "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  memory=$(cat "$work/memory" 2>/dev/null || echo "? ? ?")
  rm -f "$work/memory"
}

# warm PORT PATHS: asks for every path of the file once.
warm() { sort -u "$2" | sed "s#^#url = \"http://127.0.0.1:$1#; s#\$#\"#" | curl -s -K - >/dev/null; }

rows=()
# measure NAME APP_PORT FLOOR_PORT BARE_PORT PATHS SCRIPT ARGS...: the row of
# one path. With `with_base=1` (and BASELINE set) the baseline on
# APP_PORT + BASE_OFFSET runs in each round too.
with_base=1
measure() {
  local name=$1 app=$2 floor=$3 bare=$4 paths=$5 script=$6; shift 6
  local results=() b f a o=0 base=""
  [ -n "$BASELINE" ] && [ "$with_base" = 1 ] && base=$((app + BASE_OFFSET))
  watch_memory "$app"
  # Unmeasured, half a round: a fresh process first maps the store's pages
  # in and fills its caches; a long-running one has done both.
  DURATION=$(( (DURATION + 1) / 2 )) wrk_once "http://127.0.0.1:$app" "$script" "$@" >/dev/null
  [ -z "$base" ] || DURATION=$(( (DURATION + 1) / 2 )) wrk_once "http://127.0.0.1:$base" "$script" \
    "${@/%mix.rated/mix-baseline.rated}" >/dev/null
  for round in $(seq "$ROUNDS"); do
    b=$(wrk_once "http://127.0.0.1:$bare" "$script" "$@")
    f=$(wrk_once "http://127.0.0.1:$floor" "$script" "$@")
    a=$(wrk_once "http://127.0.0.1:$app" "$script" "$@")
    # The baseline rates the characteristics its own meta names (an older
    # build's none): its file of them in place of the service's.
    [ -z "$base" ] || o=$(wrk_once "http://127.0.0.1:$base" "$script" "${@/%mix.rated/mix-baseline.rated}")
    results+=("$(awk -v a="${a%% *}" -v f="${f%% *}" -v b="${b%% *}" 'BEGIN {printf "%.3f %.3f", a / f, a / b}') $a $f ${b%% *} ${o%% *}")
    echo "   $name round $round: app ${a%% *} req/s, floor ${f%% *} req/s, bare ${b%% *} req/s${base:+, baseline ${o%% *} req/s}" >&2
  done
  # The round with the median ratio to the floor:
  # "ratio bare_ratio app(4) floor(4) bare_rps baseline_rps".
  local median
  median=$(printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}')
  local ratios
  ratios=$(printf '%s\n' "${results[@]}" | awk '{printf "%s%s", sep, $1; sep = " "}')
  # Open loop at half of the app's peak, the same rate for both.
  local rate floor_open app_open
  rate=$(awk -v m="$median" 'BEGIN {split(m, f, " "); printf "%d", f[3] / 2}')
  floor_open=$(oha_once "$floor" "$paths" "$rate")
  app_open=$(oha_once "$app" "$paths" "$rate")
  stop_memory
  local rss=$memory
  rows+=("$name|$median|$ratios|$rate|$floor_open|$app_open|$rss")
}

redis_port=$((PORT + 9))
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
redis_pid=$!
pids+=($redis_pid)
redis="redis://127.0.0.1:$redis_port/"

P_L1=$PORT; P_L2=$((PORT + 1)); P_STORE=$((PORT + 2)); P_MIX=$((PORT + 3))
start_reviews "$P_L1"
start_reviews "$P_L2" --l1-capacity-mb 0 --redis-url "$redis"
start_reviews "$P_STORE" --l1-capacity-mb 0
start_reviews "$P_MIX" --redis-url "$redis" --post-burst 0 --vote-burst 0 --vote-window 0

python3 "$kit" paths product "$L1_SPAN" 20000 1 >"$work/l1.paths"
python3 "$kit" paths product "$REDIS_SPAN" 20000 2 >"$work/redis.paths"
python3 "$kit" paths product "$PRODUCTS" 200000 3 >"$work/store.paths"
python3 "$kit" paths mix "$PRODUCTS" 200000 4 >"$work/mix.paths"
python3 "$kit" paths filtered "$FILTERED_SPAN" 20000 5 >"$work/filtered.paths"
sizes=()
for set in l1 redis store mix filtered; do sizes+=("$(python3 "$kit" size "$P_STORE" "$work/$set.paths" 400)"); done
echo "== mean bodies (B): L1 ${sizes[0]}, Redis ${sizes[1]}, store ${sizes[2]}, mix ${sizes[3]}, filtered ${sizes[4]}"
P_BARE=$((PORT + 4))
for i in 0 1 2 3 4; do start_bare $((P_BARE + i)) "${sizes[$i]}"; done
for offset in 0 ${BASELINE:+$BASE_OFFSET}; do
  warm $((P_L1 + offset)) "$work/l1.paths"
  warm $((P_L2 + offset)) "$work/redis.paths"
done

# The floors, each with the head its path's service answers with.
capture_head "$P_L1" "$work/l1.paths" "$work/l1.head"
capture_head "$P_L2" "$work/redis.paths" "$work/redis.head"
capture_head "$P_STORE" "$work/store.paths" "$work/store.head"
capture_head "$P_STORE" "$work/filtered.paths" "$work/filtered.head"
capture_head "$P_MIX" "$work/mix.paths" "$work/mix.head"
# The products the mix posts reviews to, with their characteristic ids, read
# from the mix's service (and the baseline's) before it is measured.
python3 artillery/characteristics.py wrk "http://127.0.0.1:$P_MIX" "$PRODUCTS" mix >"$work/mix.rated"
[ -z "$BASELINE" ] ||
  python3 artillery/characteristics.py wrk "http://127.0.0.1:$((P_MIX + BASE_OFFSET))" "$PRODUCTS" mix >"$work/mix-baseline.rated"
P_FLOOR=$((PORT + 10))
echo "== floors (the LMDB ones store a body for every product first)"
start_bare "$P_FLOOR" "${sizes[0]}" --head "$work/l1.head"
start_bare $((P_FLOOR + 1)) "${sizes[1]}" --head "$work/redis.head" --redis "$redis" "$REDIS_SPAN"
start_bare $((P_FLOOR + 2)) "${sizes[2]}" --head "$work/store.head" --lmdb "$work/floor-store" "$PRODUCTS"
start_bare $((P_FLOOR + 3)) "${sizes[4]}" --head "$work/filtered.head" --lmdb "$work/floor-filtered" "$FILTERED_SPAN"
start_bare $((P_FLOOR + 4)) "${sizes[3]}" --head "$work/mix.head"

product_lua=artillery/wrk/random_product.lua
echo "== L1 hit"
measure "L1 hit, $L1_SPAN products" "$P_L1" "$P_FLOOR" "$P_BARE" "$work/l1.paths" "$product_lua" "$L1_SPAN"
echo "== Redis hit"
measure "Redis hit, $REDIS_SPAN products" "$P_L2" $((P_FLOOR + 1)) $((P_BARE + 1)) "$work/redis.paths" "$product_lua" "$REDIS_SPAN"
echo "== store read"
measure "store read, random of $PRODUCTS" "$P_STORE" $((P_FLOOR + 2)) $((P_BARE + 2)) "$work/store.paths" "$product_lua" "$PRODUCTS"
echo "== filtered read"
measure "filtered read (random star), $FILTERED_SPAN largest products" "$P_STORE" $((P_FLOOR + 3)) $((P_BARE + 4)) "$work/filtered.paths" artillery/wrk/filtered.lua "$FILTERED_SPAN"
echo "== storefront mix"
measure "storefront mix (2% writes)" "$P_MIX" $((P_FLOOR + 4)) $((P_BARE + 3)) "$work/mix.paths" artillery/wrk/storefront.lua "$PRODUCTS" "$RECORDS" "$work/mix.rated"

echo "== $IDLE idle keep-alive connections beside the L1-hit load (held on the floor too)"
hold_for=$((ROUNDS * DURATION * 3 + OPEN_DURATION * 2 + 60))
# The same idle connections on the service and on its floor, so the row
# compares like with like (the holders' periodic asks cost both alike).
holders=()
for target in "$P_L1" "$P_FLOOR"; do
  python3 "$kit" hold "$target" "$IDLE" "$hold_for" >"$work/hold-$target.log" 2>&1 &
  holders+=($!)
  pids+=($!)
done
for target in "$P_L1" "$P_FLOOR"; do
  for _ in $(seq 600); do grep -q holding "$work/hold-$target.log" 2>/dev/null && break; sleep 0.1; done
  grep -q holding "$work/hold-$target.log" ||
    { echo "bench: could not open $IDLE connections to port $target: $(cat "$work/hold-$target.log")" >&2; exit 1; }
done
with_base=0
measure "L1 hit + $IDLE idle connections" "$P_L1" "$P_FLOOR" "$P_BARE" "$work/l1.paths" "$product_lua" "$L1_SPAN"
for holder in "${holders[@]}"; do
  kill "$holder" 2>/dev/null || true
  wait "$holder" 2>/dev/null || true
done
idle_end=$(grep 'still open' "$work/hold-$P_L1.log" || echo "unknown how many still open")
echo "   $idle_end"

mkdir -p "$(dirname "$OUT")"
{
  echo "# scripts/bench.sh: $RECORDS records, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), shared by the"
  echo "load generators and the servers. \`reviews --workers $WORKERS\`. Each path's floor"
  echo "(\`examples/bare_hyper.rs\`) answers with the service's own response head for that path"
  echo "(captured from a real answer) and a body of the path's mean size; the Redis floor adds one"
  echo "Redis GET per request on a multiplexed connection, the store floors one LMDB read of a"
  echo "stored body keyed by product. Bare: the same server with a minimal head (Content-Type)."
  echo "Peak: \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s\` with the path's script for all three,"
  echo "$ROUNDS alternating rounds (bare, floor, service); the round with the median ratio to the floor"
  echo "is shown, with the ratio to bare hyper of the same round."
  echo "Half of peak: \`oha -q <rate> -c$CONNECTIONS -z ${OPEN_DURATION}s --latency-correction\` at half the"
  echo "app's peak, the same rate for the floor and the service (the mix's open-loop run sends its"
  echo "reads only), oha pinned to core 0 and the server (and Redis) to the others for the run."
  echo "Mean bodies: L1 set ${sizes[0]} B, Redis set ${sizes[1]} B, store ${sizes[2]} B, mix ${sizes[3]} B, filtered ${sizes[4]} B."
  echo "Heads: L1 $(wc -c <"$work/l1.head") B, Redis $(wc -c <"$work/redis.head") B, store $(wc -c <"$work/store.head") B (status line and CRLFs included)."
  echo "Memory: the largest worker's peaks during the row, sampled every 0.2 s: its own memory"
  echo "(RssAnon: heap, L1, buffers, connections) and the store's pages mapped into it (RssFile: the"
  echo "LMDB file, shared with the page cache and every other process; not the worker's to budget)."
  echo
  if [ -n "$BASELINE" ]; then
    echo "Baseline: \`$BASELINE\`, another build of \`reviews\` in the same setups and rounds"
    echo "(closed loop only, not in the idle row), shown beside the round with the median ratio to the floor."
    echo
  fi
  base_head="" base_rule=""
  [ -z "$BASELINE" ] || { base_head=" baseline req/s | ratio to baseline |"; base_rule="---|---|"; }
  echo "| path | req/s | floor req/s | ratio to floor (rounds) | bare req/s | ratio to bare |$base_head p50 / p99 ms | floor p50 / p99 ms | half-peak rate | p99 ms at half peak | floor p99 ms | p99 ratio | errors | RSS MiB: own / mapped store |"
  echo "|---|---|---|---|---|---|$base_rule---|---|---|---|---|---|---|---|"
  for row in "${rows[@]}"; do
    IFS='|' read -r name median ratios rate floor_open app_open rss <<<"$row"
    read -r ratio bare_ratio a_rps a_p50 a_p99 a_err f_rps f_p50 f_p99 f_err b_rps o_rps <<<"$median"
    base_cells=""
    if [ -n "$BASELINE" ]; then
      if [ "${o_rps:-0}" -gt 0 ]; then
        base_cells=" $o_rps | $(awk -v a="$a_rps" -v o="$o_rps" 'BEGIN {printf "%.3f", a / o}') |"
      else
        base_cells=" – | – |"
      fi
    fi
    read -r _ _ fo_p99 fo_err <<<"$floor_open"
    read -r _ _ ao_p99 ao_err <<<"$app_open"
    read -r _ anon file <<<"$rss"
    p99_ratio=$(awk -v a="$ao_p99" -v b="$fo_p99" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
    echo "| $name | $a_rps | $f_rps | **$ratio** ($ratios) | $b_rps | $bare_ratio |$base_cells $a_p50 / $a_p99 | $f_p50 / $f_p99 | $rate | $ao_p99 | $fo_p99 | $p99_ratio | $((a_err + ao_err)) | $anon / $file |"
  done
  echo
  echo "Idle connections: $idle_end (each asked once more every 20 s: the service closes"
  echo "a connection idle for 60 s). The floor holds as many idle connections during its runs of that row."
  echo
  echo "Targets (README.md, 'Benchmark'): L1 hit and Redis hit >= 0.90 of their floors, store read"
  echo ">= 0.75 of its floor; p99 at half of peak <= 1.5x the floor's at the same rate; a worker's own memory"
  echo "<= 256 MiB besides L1 (64 MiB by default) with 5,000 connections open. Errors: non-2xx and socket errors"
  echo "of both runs (the mix's are its 404 votes on reported reviews, if any, and 201s are 2xx)."
} >"$OUT"
echo
cat "$OUT"
echo
echo "bench: the table is in $OUT"
