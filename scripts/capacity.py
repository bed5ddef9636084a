#!/usr/bin/env python3
"""Turns target loads of the storefront mix into a fleet: cores and hosts,
Redis masters, the MongoDB deployment, the network out of each tier and the
background load, from figures this project measured (deploy/capacity.md
writes every formula out; the names below are the ones it uses).

    scripts/capacity.py                                   # the committed samples
    scripts/capacity.py --bench target/bench/bench-10000000.md \\
        --backends target/bench/backends-mongodb-200000.md \\
        --fleet target/fleet-report.md --write-share 0.02

Inputs, each a table a command of this project writes:
  --bench     scripts/bench.sh               per-core req/s by path, mean bodies
  --backends  scripts/bench-backends.sh      store reads/s and writes/s, Redis GET/SET/s
  --fleet     cargo test --test multihost fleet -- --ignored
                                             background reads/s per host, change-log
                                             documents fetched per write per host
Stated (flags): the target rates, the write share, the data set, the cache
TTL, cores per host, the utilization kept for latency, a NIC's bandwidth.
Prints Markdown: the inputs with where each came from, then one column per
target rate.
"""

import argparse
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The storefront mix (artillery/wrk/storefront.lua): 80% of requests on the
# hottest 1% of products, the rest on the last 10% of ids; of requests, 70%
# pages (page 1 60%, pages 2-3 40%; sorts relevant/newest/helpful), 28% meta,
# 1% helpful votes, 1% new reviews. Views a product is read in: 3 pages x 3
# sorts + meta.
HOT_SHARE, HOT_PRODUCTS = 0.80, 0.01
COLD_PRODUCTS = 0.10
VIEWS = 10
# Redis commands per outcome (src/cache/redis.rs; the fleet run's GET:SET:DEL
# ratio shows them): a Redis hit is 1 GET; a Redis miss is a GET, the fill
# lock's SET NX, the fill's SET and the lock's DEL; a rate-limited write is
# one EVAL.
REDIS_PER_HIT, REDIS_PER_MISS, REDIS_PER_WRITE = 1, 4, 1
# The bytes of one change-log entry as a poll reads it (store/mongo/changes.rs),
# and how many documents a store read fetches (a page of five reviews and its
# meta): a change-log document costs the primary a sixth of a store read.
LOG_ENTRY_BYTES, DOCS_PER_STORE_READ = 40, 6
# How long after a write a product's reads go to the primary
# (store/mongo PRIMARY_AFTER_WRITE).
PRIMARY_AFTER_WRITE_S = 10


def table_rows(path):
    """The rows of the Markdown tables in `path`, as lists of cells."""
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def number(cell):
    """The first number in a cell (commas and bold marks allowed)."""
    m = re.search(r"-?[\d,]*\.?\d+", cell.replace("**", ""))
    if not m:
        raise ValueError(f"no number in {cell!r}")
    return float(m.group(0).replace(",", ""))


def read_bench(path):
    """Per-core req/s by path and mean bodies, from scripts/bench.sh's table."""
    text = Path(path).read_text()
    rows = {r[0]: r for r in table_rows(path)}

    def row(prefix):
        for name, r in rows.items():
            if name.startswith(prefix):
                return number(r[1])
        raise ValueError(f"{path}: no row starting {prefix!r}")

    bodies = re.search(
        r"Mean bodies: L1 set (\d+) B, Redis set (\d+) B, store (\d+) B, mix (\d+) B", text
    )
    if not bodies:
        raise ValueError(f"{path}: no 'Mean bodies' line")
    workers = re.search(r"`reviews --workers (\d+)`", text)
    return {
        "l1_per_core": row("L1 hit,"),
        "redis_per_core": row("Redis hit"),
        "store_per_core": row("store read"),
        "mix_per_core": row("storefront mix"),
        "body_l1": float(bodies.group(1)),
        "body_redis": float(bodies.group(2)),
        "body_store": float(bodies.group(3)),
        "body_mix": float(bodies.group(4)),
        "bench_workers": int(workers.group(1)) if workers else 1,
    }


def read_backends(path):
    """Store reads/s and writes/s, Redis GET/s and SET/s."""
    rows = {r[0]: r for r in table_rows(path)}

    def value(name):
        if name not in rows:
            raise ValueError(f"{path}: no row {name!r}")
        return number(rows[name][1])

    store = re.search(r"bench-backends.sh: (\w+) store", Path(path).read_text())
    return {
        "head_bytes": value("response head bytes"),
        "store_reads": value("store reads/s"),
        "store_writes": value("store writes/s"),
        "redis_get": value("Redis GET/s"),
        "redis_set": value("Redis SET/s"),
        "backend": store.group(1) if store else "?",
    }


def read_fleet(path):
    """Per host, by (hosts, workers): background reads/s (change-log polls,
    product counts) and change-log documents fetched per write."""
    rows = table_rows(path)
    header = rows[0]

    def column(name):
        if name not in header:
            raise ValueError(f"{path}: no column {name!r}")
        return header.index(name)

    polls, counts = column("change-log polls/s"), column("product-count reads/s")
    per_write = column("per write")
    per_host = {}
    for r in rows[1:]:
        m = re.match(r"(\d+) × (\d+)", r[0])
        if not m:
            continue
        hosts, workers = int(m.group(1)), int(m.group(2))
        per_host[(hosts, workers)] = {
            "polls": number(r[polls]) / hosts,
            "counts": number(r[counts]) / hosts,
            "docs_per_write": number(r[per_write]),
        }
    if not per_host:
        raise ValueError(f"{path}: no fleet rows")
    return per_host


def plan(rate, a):
    """The fleet for `rate` requests a second; `a` holds every input."""
    o = {}
    writes = rate * a.write_share
    reads = rate - writes
    products = a.products
    hot_views = products * HOT_PRODUCTS * VIEWS
    cold_views = products * COLD_PRODUCTS * VIEWS
    ttl = a.ttl
    u = a.utilization

    # Hosts: the service's cores are the rate over the storefront mix's
    # measured rate per core (it includes its writes and misses), kept at
    # the utilization; at least 2 hosts, so that one can be lost.
    cores = rate / a.mix_per_core / u
    hosts = max(2, math.ceil(cores / a.cores_per_host))
    # Hot reads: per process (one per core, each with its own L1), per
    # view, rate lam; a view misses L1 once per TTL it is read in:
    # misses/s = lam / (1 + lam * ttl) per view.
    procs = hosts * a.cores_per_host
    lam_hot = reads * HOT_SHARE / (procs * hot_views)
    l1_miss_hot = procs * hot_views * lam_hot / (1 + lam_hot * ttl)
    # Cold reads are taken to miss L1 (its default 64 MiB holds far fewer
    # than the cold views): all go to Redis.
    cold = reads * (1 - HOT_SHARE)
    redis_gets = l1_miss_hot + cold
    # Redis misses, fleet-wide per view: the same formula on Redis's rate.
    lam_r_hot = l1_miss_hot / hot_views
    lam_r_cold = cold / cold_views
    miss_hot = hot_views * lam_r_hot / (1 + lam_r_hot * ttl)
    miss_cold = cold_views * lam_r_cold / (1 + lam_r_cold * ttl)
    # A write makes its product's read views stale: a hot product's all
    # VIEWS are read again, a cold one's page 1 and meta.
    rereads = writes * (HOT_SHARE * VIEWS + (1 - HOT_SHARE) * 2)
    store_reads = miss_hot + miss_cold + rereads
    l1_hits = reads - redis_gets
    redis_hits = redis_gets - (miss_hot + miss_cold)
    # A cross-check: the same requests costed path by path (bench rows).
    o["cores_by_path"] = (
        l1_hits / a.l1_per_core
        + redis_hits / a.redis_per_core
        + (store_reads + writes) / a.store_per_core
    ) / u
    o["cores"] = cores
    o["hosts"] = hosts
    o["l1_hit"] = l1_hits / reads
    o["redis_hit"] = redis_hits / reads
    o["store_share"] = store_reads / reads
    o["l1_mib"] = hot_views * a.body_l1 / 2**20

    # Redis: commands, bytes out, memory.
    redis_cmds = redis_hits * REDIS_PER_HIT + (store_reads) * REDIS_PER_MISS + writes * REDIS_PER_WRITE
    redis_out = redis_hits * a.body_redis
    cached_views = hot_views + cold_views * (lam_r_cold * ttl / (1 + lam_r_cold * ttl))
    o["redis_cmds"] = redis_cmds
    o["redis_out"] = redis_out
    o["redis_gib"] = cached_views * (a.body_redis + 100) / 2**30
    per_master = min(a.redis_get, a.redis_set)
    o["masters"] = max(
        1,
        math.ceil(redis_cmds / (per_master * u)),
        math.ceil(redis_out / (a.nic_bytes * u)),
    )

    # MongoDB: reads to secondaries but those of products written in the
    # last PRIMARY_AFTER_WRITE_S (the re-reads after writes), the follower's
    # polls and counts and the change-log documents they fetch; writes to
    # the primary (of each shard). Each host's follower fetches each write's
    # entry about once (docs_per_write): hosts x writes, whatever the window.
    per_host_bg = a.polls_per_host + a.counts_per_host
    background = hosts * per_host_bg
    o["background"] = background
    o["log_documents"] = hosts * writes * a.docs_per_write
    primary_reads = rereads + background + o["log_documents"] / DOCS_PER_STORE_READ
    secondary_reads = store_reads - rereads
    o["primary_reads"] = primary_reads
    o["secondary_reads"] = secondary_reads
    o["writes"] = writes
    # A primary spends its capacity on writes and on its reads together.
    primary_load = writes / a.store_writes + primary_reads / a.store_reads
    shards = max(1, math.ceil(primary_load / u))
    o["shards"] = shards
    # Secondaries per shard for reads (at least 2: a 3-member set).
    secondaries = max(2, math.ceil(secondary_reads / shards / (a.store_reads * u)))
    o["secondaries"] = secondaries
    o["members"] = shards * (1 + secondaries)
    o["mongo_out"] = store_reads * a.body_store + o["log_documents"] * LOG_ENTRY_BYTES
    o["service_out"] = rate * (a.body_mix + a.head_bytes)

    # Where it breaks: every host restarting at once trusts no copy rendered
    # before it started: every cold read goes to the store until Redis holds
    # copies rendered since, and each hot view is rendered once (fill locks
    # make that once across hosts) in the first second. Redis lost whole (a
    # master with no replica fails the cluster): every Redis hit goes to
    # the store. One master of several lost, its replica not yet promoted
    # (2-4 s), with `cluster-require-full-coverage no`: its share of the
    # Redis hits goes to the store, the other masters' are still served.
    o["cold_start"] = cold + hot_views
    o["redis_lost"] = store_reads + redis_hits
    o["redis_lost_members"] = max(
        2, math.ceil(o["redis_lost"] / shards / (a.store_reads * u))
    )
    o["master_lost"] = store_reads + redis_hits / o["masters"]
    o["master_lost_members"] = max(
        2, math.ceil(o["master_lost"] / shards / (a.store_reads * u))
    )
    return o


def shown(path):
    """`path` as the page names it: relative to the repository when inside."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def human(x, unit=""):
    for size, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= size:
            return f"{x / size:.3g}{suffix}{unit}"
    return f"{x:.3g}{' ' + unit if unit else ''}"


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", default=ROOT / "artillery/sample-reports/bench-10m.md")
    p.add_argument("--backends", default=ROOT / "deploy/capacity/backends-mongodb-200000.md")
    p.add_argument("--fleet", default=ROOT / "deploy/capacity/fleet-report.md")
    p.add_argument("--rates", default="10000,100000,1000000", help="req/s, comma-separated")
    p.add_argument("--write-share", type=float, default=0.002, help="writes as a share of requests")
    p.add_argument("--products", type=int, default=1_000_000, help="products (10M reviews: 1M)")
    p.add_argument("--ttl", type=float, default=300, help="--cache-ttl, seconds")
    p.add_argument("--cores-per-host", type=int, default=16)
    p.add_argument("--utilization", type=float, default=0.5, help="share of peak each tier runs at")
    p.add_argument("--nic-gbit", type=float, default=10, help="a Redis node's network, Gbit/s")
    a = p.parse_args(argv)
    a.__dict__.update(read_bench(a.bench))
    a.__dict__.update(read_backends(a.backends))
    fleet = read_fleet(a.fleet)
    ones = [v for (h, w), v in sorted(fleet.items()) if w == 1]
    a.polls_per_host = max(v["polls"] for v in ones)
    a.counts_per_host = max(v["counts"] for v in ones)
    a.docs_per_write = max(v["docs_per_write"] for v in ones)
    a.nic_bytes = a.nic_gbit * 1e9 / 8
    rates = [float(r) for r in a.rates.split(",")]

    out = []
    w = out.append
    w("### Inputs\n")
    w("| input | value | from |")
    w("|---|---|---|")
    w(f"| storefront mix per core | {a.mix_per_core:,.0f}/s | `scripts/bench.sh` ({shown(a.bench)}): the cores |")
    w(f"| L1 hits per core | {a.l1_per_core:,.0f}/s | same: the path-by-path cross-check |")
    w(f"| Redis hits per core | {a.redis_per_core:,.0f}/s | same |")
    w(f"| store reads per core (embedded store) | {a.store_per_core:,.0f}/s | same |")
    w(f"| mean body: mix / L1 set / Redis set / store | {a.body_mix:.0f} / {a.body_l1:.0f} / {a.body_redis:.0f} / {a.body_store:.0f} B | same |")
    w(f"| store reads per member | {a.store_reads:,.0f}/s | `scripts/bench-backends.sh` ({shown(a.backends)}, {a.backend}) |")
    w(f"| store writes per primary | {a.store_writes:,.0f}/s | same |")
    w(f"| Redis commands per master | {min(a.redis_get, a.redis_set):,.0f}/s (GET {a.redis_get:,.0f}, SET {a.redis_set:,.0f}) | same |")
    w(f"| response head | {a.head_bytes:.0f} B | same |")
    w(f"| follower polls per host | {a.polls_per_host:.1f}/s | `cargo test --test multihost fleet -- --ignored` ({shown(a.fleet)}) |")
    w(f"| product-count reads per host | {a.counts_per_host:.1f}/s | same |")
    w(f"| change-log documents fetched per write, per host | {a.docs_per_write:.2f} | same |")
    w(f"| stated: writes | {a.write_share:.2%} of requests | `--write-share` |")
    w(f"| stated: products, TTL | {a.products:,}, {a.ttl:.0f} s | `--products`, `--ttl` |")
    w(f"| stated: cores per host, utilization, NIC | {a.cores_per_host}, {a.utilization:.0%}, {a.nic_gbit:g} Gbit/s | flags |")
    w("")
    plans = [plan(r, a) for r in rates]
    w("### The fleet\n")
    w("| | " + " | ".join(f"{human(r)} req/s" for r in rates) + " |")
    w("|---|" + "---|" * len(rates))

    def row(name, fmt):
        w(f"| {name} | " + " | ".join(fmt(o) for o in plans) + " |")

    row("service cores (at the utilization)", lambda o: f"{o['cores']:.1f}")
    row("cross-check: cores costed path by path", lambda o: f"{o['cores_by_path']:.1f}")
    row("hosts", lambda o: f"{o['hosts']}")
    row("served from L1 / Redis / store", lambda o: f"{o['l1_hit']:.1%} / {o['redis_hit']:.1%} / {o['store_share']:.1%}")
    row("L1 to hold the hot views (per process)", lambda o: f"{o['l1_mib']:.0f} MiB")
    row("Redis commands", lambda o: f"{human(o['redis_cmds'], '/s')}")
    row("Redis masters", lambda o: f"{o['masters']}")
    row("Redis memory (cached views)", lambda o: f"{o['redis_gib']:.1f} GiB")
    row("MongoDB writes (primary)", lambda o: f"{human(o['writes'], '/s')}")
    row("MongoDB reads: secondaries / primary", lambda o: f"{human(o['secondary_reads'], '/s')} / {human(o['primary_reads'], '/s')}")
    row("MongoDB shards × members", lambda o: f"{o['shards']} × {1 + o['secondaries']}")
    row("background store reads (follower polls + counts)", lambda o: f"{human(o['background'], '/s')}")
    row("change-log documents fetched by the followers", lambda o: f"{human(o['log_documents'], '/s')}")
    row("network out: service → clients", lambda o: human(o["service_out"] * 8, "bit/s"))
    row("network out: Redis → service", lambda o: human(o["redis_out"] * 8, "bit/s"))
    row("network out: MongoDB → service", lambda o: human(o["mongo_out"] * 8, "bit/s"))
    row("cold start: store reads in the first second of a restart of every host", lambda o: f"{human(o['cold_start'], '/s')}")
    row("Redis lost: store reads / members per shard needed", lambda o: f"{human(o['redis_lost'], '/s')} / {1 + o['redis_lost_members']}")
    row("one Redis master lost, until its replica serves: store reads / members per shard needed", lambda o: f"{human(o['master_lost'], '/s')} / {1 + o['master_lost_members']}")
    print("\n".join(out))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (OSError, ValueError) as e:
        print(f"capacity.py: {e}", file=sys.stderr)
        sys.exit(1)
