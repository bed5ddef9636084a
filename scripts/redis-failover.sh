#!/usr/bin/env bash
# A Redis Cluster failover under keep-alive load, measured: six local
# redis-server nodes (3 masters, each with a replica; cluster-node-timeout
# 2000, cluster-require-full-coverage no), `reviews --l1-capacity-mb 0` so
# that every read goes to Redis, and one master killed with SIGKILL in the
# middle of the load (examples/failover_load.rs: CONNECTIONS keep-alive
# clients reading random products' meta and first page). For each build and
# number of workers it prints the windows before, kill → fail (the cluster
# marks the master failed), fail → promoted (its replica serves its slots),
# after, and the 3 s after the kill: reads/s, their ratio to before, the MISS
# share, p99 and failed reads; then the lines the service logged from the
# kill on. Everything runs on 127.0.0.1 and is stopped at the end.
#
#   scripts/redis-failover.sh                  # this build, --workers 1 and 2
#   BASELINE=/tmp/before/target/release/reviews scripts/redis-failover.sh
#                                              # and another build, in turn
#
# Env: RECORDS (demo data set, 100000), WORKERS ("1 2"), DURATION (s of
# measured load, 12), KILL_AFTER (s, 3), WARMUP (s, 5), CONNECTIONS (32),
# BASELINE (another `reviews` binary), PORT (first Redis port, 7300; the
# service listens on PORT - 1), OUT (target/bench/redis-failover.md).
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-100000}
WORKERS=${WORKERS:-"1 2"}
DURATION=${DURATION:-12}
KILL_AFTER=${KILL_AFTER:-3}
WARMUP=${WARMUP:-5}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-7300}
OUT=${OUT:-target/bench/redis-failover.md}
PRODUCTS=$((RECORDS / 10))
LISTEN=$((PORT - 1))
WORK=$(mktemp -d /tmp/reviews-failover.XXXXXX)

for tool in redis-server redis-cli curl; do
  command -v "$tool" >/dev/null || { echo "redis-failover: $tool is not installed (apt-get install redis-server redis-tools curl)" >&2; exit 1; }
done
cargo build --release --quiet --bin reviews --example failover_load
LOAD=./target/release/examples/failover_load

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# cluster: six fresh nodes on PORT..PORT+5, three masters with a replica each.
cluster() {
  local addrs=()
  for i in 0 1 2 3 4 5; do
    local port=$((PORT + i)) dir="$WORK/redis-$i"
    rm -rf "$dir"; mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
      --cluster-require-full-coverage no >/dev/null 2>&1 &
    pids+=($!); redis_pid[$i]=$!
    disown $!  # killed with SIGKILL on purpose: no job notice
    addrs+=("127.0.0.1:$port")
  done
  for i in 0 1 2 3 4 5; do
    for _ in $(seq 100); do redis-cli -p $((PORT + i)) ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
  for _ in $(seq 600); do
    local ready=1
    for i in 0 1 2 3 4 5; do
      redis-cli -p $((PORT + i)) cluster info | grep -q '^cluster_state:ok' || ready=0
      info=$(redis-cli -p $((PORT + i)) info replication)
      grep -q 'role:master' <<<"$info" || grep -q 'master_link_status:up' <<<"$info" || ready=0
    done
    [ $ready = 1 ] && return 0
    sleep 0.05
  done
  echo "redis-failover: the cluster did not come up" >&2; exit 1
}

# run BIN TAG NAME WORKERS: one failover under load.
run() {
  local bin=$1 name=$3 workers=$4 log="$WORK/service-$2-$4.log" marks="$WORK/marks-$2-$4"
  cluster
  local url
  url=$(for i in 0 1 2 3 4 5; do printf 'redis://127.0.0.1:%s,' $((PORT + i)); done)
  env -u RUST_LOG "$bin" --listen "127.0.0.1:$LISTEN" --workers "$workers" --l1-capacity-mb 0 \
    --redis-url "${url%,}" --data-dir "$WORK/data" --demo-records "$RECORDS" 2>"$log" &
  local service=$!
  pids+=($service)
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$LISTEN/readyz" >/dev/null && break; sleep 0.1; done
  # Every view read once (each fills Redis), then random reads for WARMUP s.
  "$LOAD" "127.0.0.1:$LISTEN" "$PRODUCTS" "$CONNECTIONS" every | sed 's/^/warm-up: /'
  "$LOAD" "127.0.0.1:$LISTEN" "$PRODUCTS" "$CONNECTIONS" "$WARMUP" | sed 's/^/warm-up: /'
  # The victim: the first node that is a master.
  local victim
  for i in 0 1 2 3 4 5; do
    redis-cli -p $((PORT + i)) info replication | grep -q 'role:master' && { victim=$i; break; }
  done
  local victim_port=$((PORT + victim)) witness=$((PORT + (victim + 1) % 6))
  : >"$marks"
  "$LOAD" "127.0.0.1:$LISTEN" "$PRODUCTS" "$CONNECTIONS" "$DURATION" "$marks" >"$WORK/table" &
  local load=$!
  sleep "$KILL_AFTER"
  local logged
  logged=$(wc -l <"$log")
  echo "kill $(date +%s%6N)" >>"$marks"
  kill -9 "${redis_pid[$victim]}"
  # Watch the cluster's view of the victim: its `fail` flag, then no slots.
  local failed=0
  while kill -0 "$load" 2>/dev/null; do
    local line
    line=$(redis-cli -p "$witness" cluster nodes | grep " 127.0.0.1:$victim_port@" || true)
    if [ $failed = 0 ] && awk '{print $3}' <<<"$line" | tr , '\n' | grep -qx fail; then
      echo "fail $(date +%s%6N)" >>"$marks"; failed=1
    fi
    if [ $failed = 1 ] && [ -n "$line" ] && [ "$(wc -w <<<"$line")" -le 8 ]; then
      echo "promoted $(date +%s%6N)" >>"$marks"; break
    fi
    sleep 0.02
  done
  wait "$load"
  {
    echo
    echo "### $name, --workers $workers (redis :$victim_port killed at ${KILL_AFTER}s of ${DURATION}s)"
    echo
    cat "$WORK/table"
    echo
    echo "Lines the service logged from the kill to the end: $(($(wc -l <"$log") - logged))"
    echo
    sed -n "$((logged + 1)),$((logged + 20))s/^/    /p" "$log"
  } | tee -a "$OUT"
  kill "$service"; wait "$service" 2>/dev/null || true
  for i in 0 1 2 3 4 5; do kill -9 "${redis_pid[$i]}" 2>/dev/null || true; done
  sleep 0.5
}

mkdir -p "$(dirname "$OUT")"
echo "## Redis Cluster failover, $(date -u +%Y-%m-%dT%H:%MZ): $RECORDS records, $CONNECTIONS connections, L1 off" | tee "$OUT"
declare -a redis_pid
for workers in $WORKERS; do
  run ./target/release/reviews this "this build" "$workers"
  if [ -n "${BASELINE:-}" ]; then run "$BASELINE" baseline "baseline ($BASELINE)" "$workers"; fi
done
echo
echo "written to $OUT"
