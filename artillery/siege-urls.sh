#!/usr/bin/env bash
# Writes a siege URL list with the storefront mix (artillery/README.md):
#   artillery/siege-urls.sh http://127.0.0.1:3000 100000 1000000 > urls.txt
#   siege -R artillery/siegerc -f urls.txt
set -euo pipefail
base=${1:?base URL}; products=${2:?products}; records=${3:-$((products * 10))}; lines=${4:-5000}
python3 - "$base" "$products" "$records" "$lines" <<'PY'
import random, sys
base, products, records, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
random.seed(42)
hot = max(1, products // 100)
body = ('{"rating":4,"summary":"Load test review","body":"Written by the siege storefront list '
        'to exercise the write path under load.","recommend":true,"name":"siege","email":"load@example.com"}')
for _ in range(lines):
    pid = random.randint(1, hot) if random.random() < 0.8 else random.randint(products * 9 // 10 + 1, products)
    r = random.random()
    if r < 0.70:
        page = 1 if random.random() < 0.6 else random.randint(2, 3)
        sort = random.choice(["relevant"] * 3 + ["newest", "helpful"])
        print(f"{base}/reviews/{pid}?page={page}&sort={sort}")
    elif r < 0.98:
        print(f"{base}/reviews/{pid}/meta")
    elif r < 0.99:
        print(f"{base}/reviews/{random.randint(1, records)}/helpful PUT")
    else:
        print(f"{base}/reviews/{pid} POST {body}")
PY
