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
# rc file says). Each post rates every characteristic of its product (1 to 5
# at random), whose ids it reads from the product's meta on the service at
# the base URL (artillery/characteristics.py): make the list against the
# service it will load. The second holds the helpful votes, which siege must send on
# connections it closes (artillery/siegerc-votes): a vote's answer is a 204
# with no body, and on a kept-alive connection siege waits for a body until
# the server's idle timeout closes it.
set -euo pipefail
votes=0
if [ "${1:-}" = --votes ]; then votes=1; shift; fi
base=${1:?base URL}; products=${2:?products}; records=${3:-$((products * 10))}; lines=${4:-5000}
python3 - "$(dirname "$0")" "$votes" "$base" "$products" "$records" "$lines" <<'PY'
import json, random, sys
sys.path.insert(0, sys.argv[1])
from characteristics import Metas, pick
votes, base = sys.argv[2] == "1", sys.argv[3]
products, records, lines = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
random.seed(42)
text = {"rating": 4, "summary": "Load test review", "body": "Written by the siege storefront list "
        "to exercise the write path under load.", "recommend": True, "name": "siege", "email": "load@example.com"}
if votes:
    for _ in range(lines):
        print(f"{base}/reviews/{random.randint(1, records)}/helpful PUT")
    sys.exit()
metas = Metas(base)
for _ in range(lines):
    pid = pick(random, products)
    r = random.random()
    if r < 0.70:
        page = 1 if random.random() < 0.6 else random.randint(2, 3)
        sort = random.choice(["relevant"] * 3 + ["newest", "helpful"])
        print(f"{base}/reviews/{pid}?page={page}&sort={sort}")
    elif r < 0.99:
        print(f"{base}/reviews/{pid}/meta")
    else:
        rated = {str(i): random.randint(1, 5) for i in metas.ids(pid)}
        body = {**text, "characteristics": rated} if rated else text
        print(f"{base}/reviews/{pid} POST {json.dumps(body, separators=(',', ':'))}")
PY
