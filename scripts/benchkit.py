#!/usr/bin/env python3
"""Helpers of scripts/bench.sh: request paths for each benchmarked path,
the mean body size a set of paths answers, idle keep-alive connections held
open, the resident memory of a server's processes, and oha's JSON summary.

  benchkit.py paths KIND SPAN N SEED     N request paths, one a line
  benchkit.py size PORT FILE N           mean body bytes of N paths of FILE
  benchkit.py hold PORT N SECONDS        N keep-alive connections, idle (at
                                         most SECONDS; SIGTERM ends it early)
  benchkit.py watch PID OUT              until SIGTERM, samples the workers'
                                         memory every 0.2 s; then writes to OUT
                                         "rss anon file" (MiB): the largest
                                         worker's peaks
  benchkit.py oha FILE                   "rps p50_ms p99_ms errors" of a run

KIND: "product" (a page of a random product in 1..SPAN, as
artillery/wrk/random_product.lua asks), "meta" (its meta), "atelier" (its
page in the Atelier dialect, `/reviews?product_id=N`), "filtered" (the same with a random
star, `?rating=1..5`, as artillery/wrk/filtered.lua asks) or "mix" (the reads of the
storefront mix of artillery/wrk/storefront.lua over SPAN products: 80% on
the hottest 1%, the rest in the last 10% of ids; 70% pages, 28% meta).
"""

import http.client
import json
import os
import random
import signal
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
        if kind == "meta":
            out.append(f"/reviews/{rng.randint(1, span)}/meta")
            continue
        if kind == "atelier":
            out.append(f"/reviews?product_id={rng.randint(1, span)}")
            continue
        if kind == "filtered":
            out.append(f"/reviews/{rng.randint(1, span)}?rating={rng.randint(1, 5)}")
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


def ask(s, request):
    """One request on an open connection; False when it was closed."""
    try:
        s.sendall(request)
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                return False
            got += chunk
        return True
    except OSError:
        return False


def hold(port, n, seconds):
    """Opens n connections, each answered once (so each is a real
    keep-alive connection the server keeps), then holds them idle for
    `seconds`, asking once more on each every 20 s: the server closes a
    connection idle for 60 s, and the row is about connections open."""
    request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if not ask(s, request):
            raise SystemExit("benchkit: a new connection was closed at once")
        conns.append(s)
    print(f"holding {len(conns)} keep-alive connections", flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    end = time.monotonic() + seconds
    asked = time.monotonic()
    while time.monotonic() < end and not stop:
        time.sleep(0.2)
        if time.monotonic() - asked >= 20:
            conns = [s for s in conns if ask(s, request)]
            asked = time.monotonic()
    conns = [s for s in conns if ask(s, request)]
    print(f"{len(conns)} of {n} still open at the end", flush=True)
    for s in conns:
        s.close()


def workers(pid):
    """The serving processes: the supervisor's children, or pid itself."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        children = []
    return children or [pid]


def memory(pid):
    """(VmRSS, RssAnon, RssFile) in KiB of each worker of pid. RssFile is
    the store's memory map (pages of the LMDB file, shared with the page
    cache and every other process); RssAnon is the process's own memory."""
    out = []
    for w in workers(pid):
        fields = {}
        try:
            with open(f"/proc/{w}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    parts = value.split()
                    if parts and parts[0].isdigit():
                        fields[key] = int(parts[0])
        except OSError:
            continue
        out.append((fields.get("VmRSS", 0), fields.get("RssAnon", 0), fields.get("RssFile", 0)))
    return out


def watch(pid, out):
    peak = [0, 0, 0]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        for sample in memory(pid):
            peak = [max(p, s) for p, s in zip(peak, sample)]
        time.sleep(0.2)
    with open(out, "w") as f:
        f.write(" ".join("%.0f" % (kib / 1024) for kib in peak) + "\n")


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
    elif cmd == "watch":
        watch(int(args[0]), args[1])
    elif cmd == "oha":
        print(oha(args[0]))
    else:
        raise SystemExit(f"benchkit: unknown command {cmd}")


if __name__ == "__main__":
    main()
