#!/usr/bin/env python3
"""Helpers of scripts/bench.sh: request paths for each benchmarked path,
the mean body size a set of paths answers, idle keep-alive connections held
open, the resident memory of a server's processes, and oha's JSON summary.

  benchkit.py paths KIND SPAN N SEED     N request paths, one a line
  benchkit.py size PORT FILE N           mean body bytes of N paths of FILE
  benchkit.py hold PORT N SECONDS        N keep-alive connections, idle
  benchkit.py rss PID                    "peak_kib current_kib" per worker
  benchkit.py oha FILE                   "rps p50_ms p99_ms errors" of a run

KIND: "product" (a page of a random product in 1..SPAN, as
artillery/wrk/random_product.lua asks) or "mix" (the reads of the
storefront mix of artillery/wrk/storefront.lua over SPAN products: 80% on
the hottest 1%, the rest in the last 10% of ids; 70% pages, 28% meta).
"""

import http.client
import json
import os
import random
import socket
import sys
import time


def paths(kind, span, n, seed):
    rng = random.Random(seed)
    sorts = ["relevant", "relevant", "relevant", "newest", "helpful"]
    out = []
    for _ in range(n):
        if kind == "product":
            out.append(f"/reviews/{rng.randint(1, span)}")
            continue
        hot = max(1, span // 100)
        if rng.random() < 0.8:
            product = rng.randint(1, hot)
        else:
            product = rng.randint(span * 9 // 10 + 1, span)
        # The mix's pages and meta in their proportions (70 : 28).
        if rng.random() < 70 / 98:
            page = 1 if rng.random() < 0.6 else rng.randint(2, 3)
            out.append(f"/reviews/{product}?page={page}&sort={rng.choice(sorts)}")
        else:
            out.append(f"/reviews/{product}/meta")
    return out


def size(port, file, n):
    with open(file) as f:
        candidates = f.read().split()
    rng = random.Random(7)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    total = 0
    for _ in range(n):
        conn.request("GET", rng.choice(candidates))
        total += len(conn.getresponse().read())
    return total // n


def hold(port, n, seconds):
    """Opens n connections, each answered once (so each is a real
    keep-alive connection the server keeps), then holds them idle."""
    conns = []
    request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(request)
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("benchkit: a held connection was closed")
            got += chunk
        conns.append(s)
    print(f"holding {len(conns)} keep-alive connections", flush=True)
    time.sleep(seconds)
    alive = 0
    for s in conns:
        # Still open: a keep-alive connection the server has not closed
        # answers the next request.
        try:
            s.sendall(request)
            if s.recv(4096):
                alive += 1
        except OSError:
            pass
        s.close()
    print(f"{alive} of {len(conns)} still open after {seconds} s", flush=True)


def workers(pid):
    """The serving processes: the supervisor's children, or pid itself."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        children = []
    return children or [pid]


def rss(pid):
    out = []
    for w in workers(pid):
        fields = {}
        with open(f"/proc/{w}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.split()[0] if value.split() else "0"
        out.append(f"{fields.get('VmHWM', '0')} {fields.get('VmRSS', '0')}")
    return out


def oha(file):
    with open(file) as f:
        report = json.load(f)
    summary = report["summary"]
    pct = report["latencyPercentiles"]
    statuses = report.get("statusCodeDistribution", {})
    bad = sum(n for code, n in statuses.items() if not code.startswith("2"))
    # Requests still open when the run's time is up are cut by oha itself:
    # not errors of the server.
    cut = lambda e: "deadline" in e
    errors = sum(n for e, n in report.get("errorDistribution", {}).items() if not cut(e)) + bad
    to_ms = lambda s: "%.2f" % ((s or 0) * 1000)
    return f"{summary['requestsPerSec']:.0f} {to_ms(pct['p50'])} {to_ms(pct['p99'])} {errors}"


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "paths":
        kind, span, n, seed = args[0], int(args[1]), int(args[2]), int(args[3])
        sys.stdout.write("\n".join(paths(kind, span, n, seed)) + "\n")
    elif cmd == "size":
        print(size(int(args[0]), args[1], int(args[2])))
    elif cmd == "hold":
        hold(int(args[0]), int(args[1]), float(args[2]))
    elif cmd == "rss":
        print("\n".join(rss(int(args[0]))))
    elif cmd == "oha":
        print(oha(args[0]))
    else:
        raise SystemExit(f"benchkit: unknown command {cmd}")


if __name__ == "__main__":
    main()
