#!/usr/bin/env bash
# Writes siege URL lists with the storefront mix (artillery/README.md):
#
#   artillery/siege-urls.sh http://127.0.0.1:3000 100000 1000000 > urls.txt
#   artillery/siege-urls.sh --votes http://127.0.0.1:3000 100000 1000000 > votes.txt
#   siege -R artillery/siegerc -T application/json -f urls.txt
#   siege -R artillery/siegerc-votes -f votes.txt
#
# The first list holds the reads and the review posts (a POST line's body is
# JSON: siege sends it as such only with `-T application/json`, whatever the
# rc file says). The second holds the helpful votes, which siege must send on
# connections it closes (artillery/siegerc-votes): a vote's answer is a 204
# with no body, and on a kept-alive connection siege waits for a body until
# the server's idle timeout closes it.
set -euo pipefail
votes=0
if [ "${1:-}" = --votes ]; then votes=1; shift; fi
base=${1:?base URL}; products=${2:?products}; records=${3:-$((products * 10))}; lines=${4:-5000}
python3 - "$votes" "$base" "$products" "$records" "$lines" <<'PY'
import random, sys
votes, base = sys.argv[1] == "1", sys.argv[2]
products, records, lines = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
random.seed(42)
hot = max(1, products // 100)
body = ('{"rating":4,"summary":"Load test review","body":"Written by the siege storefront list '
        'to exercise the write path under load.","recommend":true,"name":"siege","email":"load@example.com"}')
if votes:
    for _ in range(lines):
        print(f"{base}/reviews/{random.randint(1, records)}/helpful PUT")
    sys.exit()
for _ in range(lines):
    pid = random.randint(1, hot) if random.random() < 0.8 else random.randint(products * 9 // 10 + 1, products)
    r = random.random()
    if r < 0.70:
        page = 1 if random.random() < 0.6 else random.randint(2, 3)
        sort = random.choice(["relevant"] * 3 + ["newest", "helpful"])
        print(f"{base}/reviews/{pid}?page={page}&sort={sort}")
    elif r < 0.99:
        print(f"{base}/reviews/{pid}/meta")
    else:
        print(f"{base}/reviews/{pid} POST {body}")
PY
