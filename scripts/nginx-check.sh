#!/usr/bin/env bash
# Tests deploy/nginx.conf with the real nginx outside Compose: renders it with
# the upstream hosts on 127.0.0.1 (the Compose service names do not resolve
# here, and nginx resolves them when it loads) and every path it writes
# (pid, logs, temp files) in a temp folder, then runs `nginx -t` on it.
#
#   scripts/nginx-check.sh                  # upstreams 127.0.0.1:3000..3002
#   UPSTREAMS="10.0.0.5:3000 10.0.0.6:3000" scripts/nginx-check.sh
#   KEEP=conf.out scripts/nginx-check.sh    # also keep the rendered file
#
# Exits non-zero with nginx's message when the configuration is invalid.
set -euo pipefail
cd "$(dirname "$0")/.."

UPSTREAMS=${UPSTREAMS:-127.0.0.1:3000 127.0.0.1:3001 127.0.0.1:3002}
command -v nginx >/dev/null || { echo "nginx-check: nginx is not installed (apt-get install nginx-light)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/logs"

{
  [ "$(id -u)" = 0 ] && echo "user root;"
  echo "pid $work/nginx.pid;"
  echo "error_log $work/logs/error.log warn;"
  awk -v ups="$UPSTREAMS" -v work="$work" '
    /# BEGIN upstream servers/ {
      print; n = split(ups, u, " ")
      for (i = 1; i <= n; i++) print "        server " u[i] " max_fails=3 fail_timeout=5s;"
      skip = 1; next }
    /# END upstream servers/ {skip = 0}
    skip {next}
    /^[ \t]*access_log \/var\/log\/nginx\// {sub(/\/var\/log\/nginx\//, work "/logs/")}
    /^http \{/ {print; print "    client_body_temp_path " work "/body;"; print "    proxy_temp_path " work "/proxy;"; next}
    {print}' deploy/nginx.conf
} > "$work/nginx.conf"

grep -q "server ${UPSTREAMS%% *} " "$work/nginx.conf" \
  || { echo "nginx-check: deploy/nginx.conf has no BEGIN/END upstream servers markers" >&2; exit 1; }
if [ -n "${KEEP:-}" ]; then cp "$work/nginx.conf" "$KEEP"; fi
nginx -t -q -p "$work" -c "$work/nginx.conf" -e "$work/logs/error.log" 2>&1 \
  || { echo "nginx-check: deploy/nginx.conf is invalid (rendered for: $UPSTREAMS)" >&2; exit 1; }
echo "nginx-check: deploy/nginx.conf is valid (nginx -t, upstreams $UPSTREAMS)"
