#!/usr/bin/env bash
# Runs the real nginx (deploy/nginx.conf) in front of two `reviews` instances
# on loopback, drives it with wrk, SIGKILLs one instance in the middle of the
# load, and reports how many requests failed (target: 0).
#
#   scripts/nginx-failover.sh            # 10 s of load, kill at 3 s
#
# Env: DURATION, KILL_AFTER (s), RECORDS (demo data set), PORT (nginx).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
KILL_AFTER=${KILL_AFTER:-3}
RECORDS=${RECORDS:-100000}
PORT=${PORT:-3980}
A=$((PORT + 1)); B=$((PORT + 2))
WORK=$(mktemp -d /tmp/reviews-nginx.XXXXXX)

for tool in nginx wrk curl; do
  command -v "$tool" >/dev/null || { echo "nginx-failover: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done
cargo build --release --quiet --bins

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

./target/release/seed --records "$RECORDS" --data-dir "$WORK/data" 2>&1 | tail -n 1
for port in $A $B; do
  RUST_LOG=warn ./target/release/reviews --workers 1 --listen "127.0.0.1:$port" --data-dir "$WORK/data" --demo-records 0 &
  pids+=($!)
done
for port in $A $B; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done

# deploy/nginx.conf with loopback upstreams, a loopback listener and temp paths.
{
  [ "$(id -u)" = 0 ] && echo "user root;"
  echo "pid $WORK/nginx.pid;"
  echo "error_log $WORK/error.log warn;"
  awk -v a="$A" -v b="$B" -v port="$PORT" -v work="$WORK" '
    /# BEGIN upstream servers/ {print; print "        server 127.0.0.1:" a " max_fails=3 fail_timeout=5s;"; print "        server 127.0.0.1:" b " max_fails=3 fail_timeout=5s;"; skip = 1; next}
    /# END upstream servers/ {skip = 0}
    skip {next}
    /listen 8080 reuseport;/ {print "        listen 127.0.0.1:" port ";"; next}
    /^[ \t]*access_log \/var\/log\/nginx\// {sub(/\/var\/log\/nginx\//, work "/")}
    /^http \{/ {print; print "    client_body_temp_path " work "/body;"; print "    proxy_temp_path " work "/proxy;"; next}
    {print}' deploy/nginx.conf
} > "$WORK/nginx.conf"
nginx -t -q -c "$WORK/nginx.conf" -p "$WORK"
nginx -c "$WORK/nginx.conf" -p "$WORK"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/reviews/1/meta" >/dev/null && break; sleep 0.1; done

cat > "$WORK/random.lua" <<'LUA'
local products = tonumber(os.getenv("PRODUCTS")) or 10000
request = function()
  return wrk.format("GET", "/reviews/" .. math.random(1, products) .. "/meta")
end
LUA

echo "== ${DURATION}s of load through nginx :$PORT onto :$A and :$B; SIGKILL :$A at ${KILL_AFTER}s"
( sleep "$KILL_AFTER"; kill -9 "${pids[0]}"; echo "== killed the instance on :$A" ) &
out=$(PRODUCTS=$((RECORDS / 10)) wrk -t2 -c32 -d"${DURATION}s" -s "$WORK/random.lua" "http://127.0.0.1:$PORT")
echo "$out"
requests=$(awk '/requests in/ {print $1}' <<<"$out")
non2xx=$(awk '/Non-2xx/ {print $4}' <<<"$out")
socket=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' <<<"$out")
failed=$(( ${non2xx:-0} + ${socket:-0} ))
echo
echo "requests: $requests, failed: $failed (non-2xx: ${non2xx:-0}, socket errors: ${socket:-0})"
[ "$failed" -eq 0 ]
