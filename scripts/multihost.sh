#!/usr/bin/env bash
# Several hosts on one machine, for testing what crosses a network: network
# namespaces joined by a bridge, each with its own address, and faults made
# on their links the way real networks fail (a link down, or packets lost
# silently: the kernel here has no netem, so loss is a zero-length queue on
# both ends of a link). Needs root and iproute2; tests/multihost.rs drives
# it (two `reviews` hosts, Redis and nginx, under an open-loop client).
#
#   scripts/multihost.sh up NODE...      namespaces NODE on 10.77.$MH_ID.0/24
#   scripts/multihost.sh addr NODE       the node's address
#   scripts/multihost.sh exec NODE CMD   runs CMD inside NODE
#   scripts/multihost.sh cut NODE down|loss
#   scripts/multihost.sh heal NODE
#   scripts/multihost.sh nginx-conf OUT_DIR LISTEN UPSTREAM...
#                                        deploy/nginx.conf rendered for these hosts
#   scripts/multihost.sh down            kills what runs inside, removes it all
#
# Nodes are h1 h2 h3 h4 (hosts), r1 (Redis), lb (nginx); the machine itself is
# 10.77.$MH_ID.1 on the bridge and reaches every node. MH_ID (1..250,
# default 77) keeps concurrent runs apart. All traffic stays inside.
set -euo pipefail
cd "$(dirname "$0")/.."

ID=${MH_ID:-77}
P="rv$ID"
NET="10.77.$ID"
BRIDGE="${P}br"

host_number() {
  case $1 in
    h1) echo 11 ;; h2) echo 12 ;; h3) echo 13 ;; h4) echo 14 ;; r1) echo 20 ;; lb) echo 30 ;;
    *) echo "multihost: unknown node $1 (h1 h2 h3 h4 r1 lb)" >&2; exit 2 ;;
  esac
}

ns() { echo "${P}$1"; }

up() {
  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  for node in "$@"; do
    local n
    n=$(host_number "$node")
    ip netns add "$(ns "$node")"
    ip link add "${P}$node" type veth peer name eth0 netns "$(ns "$node")"
    ip link set "${P}$node" master "$BRIDGE" up
    ip -n "$(ns "$node")" addr add "$NET.$n/24" dev eth0
    ip -n "$(ns "$node")" link set eth0 up
    ip -n "$(ns "$node")" link set lo up
  done
}

down() {
  for netns in $(ip netns list | awk -v p="$P" 'index($1, p) == 1 {print $1}'); do
    for pid in $(ip netns pids "$netns"); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$netns" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
}

cut() {
  local node=$1 kind=$2
  case $kind in
    down) ip link set "${P}$node" down ;;
    loss)
      tc qdisc replace dev "${P}$node" root pfifo limit 0
      ip netns exec "$(ns "$node")" tc qdisc replace dev eth0 root pfifo limit 0 ;;
    *) echo "multihost: cut takes down or loss" >&2; exit 2 ;;
  esac
}

heal() {
  local node=$1
  tc qdisc del dev "${P}$node" root 2>/dev/null || true
  ip netns exec "$(ns "$node")" tc qdisc del dev eth0 root 2>/dev/null || true
  ip link set "${P}$node" up
}

# nginx-conf OUT LISTEN UPSTREAM...: deploy/nginx.conf with the upstream
# servers between its BEGIN/END markers replaced (keeping the parameters of
# the first one), listening on LISTEN, every path it writes under OUT.
nginx_conf() {
  local out=$1 listen=$2; shift 2
  mkdir -p "$out/logs"
  {
    echo "user root;"
    echo "pid $out/nginx.pid;"
    echo "error_log $out/logs/error.log warn;"
    awk -v ups="$*" -v out="$out" -v listen="$listen" '
      /# BEGIN upstream servers/ {print; skip = 1; next}
      skip && /^[ \t]*server / && params == "" {
        params = $0; sub(/^[ \t]*server[ \t]+[^ \t;]+/, "", params)
        n = split(ups, u, " ")
        for (i = 1; i <= n; i++) print "        server " u[i] params
        next }
      /# END upstream servers/ {skip = 0}
      skip {next}
      /^[ \t]*listen / {print "        listen " listen ";"; next}
      /^[ \t]*access_log \/var\/log\/nginx\// {sub(/\/var\/log\/nginx\//, out "/logs/")}
      /^http \{/ {print; print "    client_body_temp_path " out "/body;"; print "    proxy_temp_path " out "/proxy;"; next}
      {print}' deploy/nginx.conf
  } > "$out/nginx.conf"
  echo "$out/nginx.conf"
}

[ "$(id -u)" = 0 ] || { echo "multihost: needs root (network namespaces)" >&2; exit 1; }
command -v ip >/dev/null || { echo "multihost: needs iproute2 (apt-get install iproute2)" >&2; exit 1; }
cmd=${1:-}; shift || true
case $cmd in
  up) up "$@" ;;
  down) down ;;
  addr) echo "$NET.$(host_number "$1")" ;;
  exec) node=$1; shift; exec ip netns exec "$(ns "$node")" "$@" ;;
  cut) cut "$@" ;;
  heal) heal "$@" ;;
  nginx-conf) nginx_conf "$@" ;;
  *) sed -n '2,22p' "$0" >&2; exit 2 ;;
esac
