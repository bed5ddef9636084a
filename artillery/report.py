#!/usr/bin/env python3
"""The figures of artillery/run.sh, from the tools' raw output and the
service's own counters.

  report.py scrape URL OUT.json           the service's /metrics (the whole port)
  report.py build OUT TOOL TITLE SETUP... series.csv and report.md in OUT

`build` reads OUT/raw/: what the tool wrote (wrk-N.txt, siege-N.txt and
siege-N.status, siege-votes.*, artillery.json) and the two scrapes taken
before and after the run (metrics-before.json, metrics-after.json). It writes
OUT/series.csv (one row per interval of the tool) and OUT/report.md, prints
the report's verdict, and exits 3 when the run saw a status the storefront
mix does not expect or a socket error, so scripts and CI fail on it.

Whole-run figures are each tool's own whole-run figures (wrk: the latency
histograms of all slices merged; artillery: its aggregate; siege: sums and
a transaction-weighted mean), never averages of per-interval percentiles.
Throughput is requests divided by the duration the tool measured.
"""
import csv
import json
import re
import sys
import urllib.request
from pathlib import Path

# What the storefront mix asks (artillery/README.md) and may be answered:
# reads 200, posts 201, votes 204, or 404 for a reported (hidden) review.
EXPECTED = {
    "reviews": {"200"},
    "meta": {"200"},
    "post_review": {"201"},
    "helpful": {"204", "404"},
}
# Routes the run itself uses besides the mix (readiness polls, scrapes).
HOUSEKEEPING = {"healthz", "readyz", "ops"}

SERIES_COLUMNS = ["t_s", "interval_s", "requests", "rps", "p50_ms", "p99_ms",
                  "mean_ms", "max_ms", "non2xx", "errors"]


# ---------------------------------------------------------------- /metrics

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')


def parse_metrics(text):
    """Prometheus text → {(name, ((label, value), ...)): float}."""
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def scrape(url, path):
    """Scrapes the service's /metrics once and writes what the report needs.
    One scrape is the whole port, whichever worker answers it (their
    counters are summed in memory they share); reviews_process_info names
    the process that answered, and the per-process series the workers."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        samples = parse_metrics(r.read().decode())
    requests, buckets, workers = {}, {}, set()
    for (name, labels), value in samples.items():
        d = dict(labels)
        if name == "reviews_http_requests_total":
            requests[f"{d['route']} {d['status']}"] = value
        elif name == "reviews_http_request_duration_seconds_bucket":
            buckets.setdefault(d["route"], {})[d["le"]] = value
        elif name == "process_resident_memory_bytes" and d.get("worker", "supervisor") != "supervisor":
            workers.add(d["worker"])
    simple = {name: value for (name, labels), value in samples.items() if not labels}
    answered = [dict(l).get("pid", "?") for (name, l) in samples if name == "reviews_process_info"]
    json.dump({"answered_by": answered, "workers": sorted(workers) or ["the only process"],
               "requests": requests, "buckets": buckets,
               "shed": simple.get("reviews_http_shed_total", 0)}, open(path, "w"), indent=1)


def server_delta(raw):
    before = json.load(open(raw / "metrics-before.json"))
    after = json.load(open(raw / "metrics-after.json"))
    requests = {}
    for key, n in after["requests"].items():
        d = n - before["requests"].get(key, 0)
        if d > 0:
            route, status = key.split(" ")
            requests.setdefault(route, {})[status] = int(d)
    buckets = {}
    for route, bs in after["buckets"].items():
        old = before["buckets"].get(route, {})
        buckets[route] = {le: n - old.get(le, 0) for le, n in bs.items()}
    return {"requests": requests, "buckets": buckets, "shed": int(after["shed"] - before["shed"]),
            "workers": after["workers"]}


def bucket_quantile(buckets, q):
    """The upper bound of the histogram bucket holding quantile q, as text."""
    bounds = sorted(((float(le), n) for le, n in buckets.items()), key=lambda x: x[0])
    count = bounds[-1][1] if bounds else 0
    if count <= 0:
        return "–"
    for le, n in bounds:
        if n >= q * count:
            return "> 2.5 s" if le == float("inf") else f"≤ {fmt_ms(le * 1000)} ms"
    return "–"


# ------------------------------------------------------------------ tools

def fmt_ms(v):
    if v is None:
        return "n/a"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}"


def hist_quantile(hist, q):
    """Exact quantile of a [(value, count)] histogram (value-sorted)."""
    total = sum(c for _, c in hist)
    seen = 0
    for value, c in hist:
        seen += c
        if seen >= q * total:
            return value
    return None


def statuses_text(counts):
    return ", ".join(f"{k}: {counts[k]}" for k in sorted(counts)) or "none"


def unexpected_tool_statuses(counts, unexpected_of):
    return sum(n for status, n in counts.items() if unexpected_of(status))


def wrk_figures(raw):
    runs = []
    for path in sorted(raw.glob("wrk-*.txt"), key=lambda p: int(p.stem.split("-")[1])):
        line = next((l for l in path.read_text().splitlines() if l.startswith("wrk-run ")), None)
        if line is None:
            sys.exit(f"report.py: {path} has no wrk-run line (did wrk run artillery/wrk/storefront.lua?)")
        runs.append(json.loads(line[len("wrk-run "):]))
    rows, t, merged, statuses = [], 0.0, {}, {}
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    for run in runs:
        secs = run["duration_us"] / 1e6
        t += secs
        hist = sorted((us / 1000, c) for us, c in run["latency_us"])
        for us, c in run["latency_us"]:
            merged[us] = merged.get(us, 0) + c
        for status, n in run["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
        for k in errors:
            errors[k] += run["errors"][k]
        n = sum(c for _, c in hist)
        non2xx = sum(v for s, v in run["statuses"].items() if not s.startswith("2"))
        rows.append([t, secs, run["requests"], run["requests"] / secs, hist_quantile(hist, 0.5),
                     hist_quantile(hist, 0.99), sum(v * c for v, c in hist) / n if n else None,
                     hist[-1][0] if hist else None, non2xx, sum(run["errors"].values())])
    hist = sorted((us / 1000, c) for us, c in merged.items())
    n = sum(c for _, c in hist)
    requests = sum(r["requests"] for r in runs)
    q = lambda p: hist_quantile(hist, p) if hist else None
    figures = [
        ("requests", f"{requests}"),
        ("duration", f"{t:.2f} s of load ({len(runs)} runs of about 1 s, as wrk measured them)"),
        ("throughput", f"{requests / t:.0f} req/s (requests ÷ duration)" if t else "n/a"),
        ("latency p50", f"{fmt_ms(q(0.5))} ms"),
        ("latency p90", f"{fmt_ms(q(0.9))} ms"),
        ("latency p99", f"{fmt_ms(q(0.99))} ms"),
        ("latency p99.9", f"{fmt_ms(q(0.999))} ms"),
        ("latency max", f"{fmt_ms(hist[-1][0] if hist else None)} ms"),
        ("latency mean", f"{fmt_ms(sum(v * c for v, c in hist) / n if n else None)} ms"),
        ("responses by status (wrk)", statuses_text(statuses)),
        ("socket errors", ", ".join(f"{k} {v}" for k, v in errors.items())),
    ]
    note = ("wrk runs in one-second slices, each printing its whole latency histogram "
            "(artillery/wrk/storefront.lua); the whole-run percentiles come from the merged "
            "histograms (1 µs resolution; wrk adds its own coordinated-omission correction "
            "samples), the per-interval ones from each slice's own histogram. The gaps between "
            "slices (wrk starting, connecting) are not counted as load time.")
    return {"rows": rows, "figures": figures, "note": note, "statuses": statuses,
            "errors": sum(errors.values()), "requests": requests, "plot": ["p50_ms", "p99_ms"]}


def siege_summary(path):
    """siege's closing figures, or None when it printed none: siege 4.0.7
    sometimes hangs at "Lifting the server siege..." and run.sh kills it."""
    text = path.read_text()
    if "Shortest transaction:" not in text:
        return None
    get = lambda label: float(re.search(label + r":\s+([\d.]+)", text).group(1))
    return {"transactions": int(get("Transactions")), "elapsed": get("Elapsed time"),
            "mean": get("Response time") * 1000, "longest": get("Longest transaction") * 1000,
            "failed": int(get("Failed transactions"))}


def siege_statuses(path):
    counts = {}
    for line in path.read_text().split("\n"):
        if line.strip():
            status, n = line.split()
            counts[status] = counts.get(status, 0) + int(n)
    return counts


def siege_ms(v):
    return "under 10 ms (siege's resolution)" if v is not None and v < 10 else f"{fmt_ms(v)} ms"


def siege_figures(raw):
    rows, t, statuses, failed, trans, weighted, longest = [], 0.0, {}, 0, 0, 0.0, 0.0
    slices = sorted((p for p in raw.glob("siege-*.txt") if p.stem.split("-")[1].isdigit()),
                    key=lambda p: int(p.stem.split("-")[1]))
    hung = 0
    for path in slices:
        s = siege_summary(path)
        if s is None:
            hung += 1
            continue
        st = siege_statuses(path.with_suffix(".status"))
        for k, v in st.items():
            statuses[k] = statuses.get(k, 0) + v
        t += s["elapsed"]
        trans += s["transactions"]
        failed += s["failed"]
        weighted += s["mean"] * s["transactions"]
        longest = max(longest, s["longest"])
        non2xx = sum(v for k, v in st.items() if not k.startswith("2"))
        rows.append([t, s["elapsed"], s["transactions"],
                     s["transactions"] / s["elapsed"] if s["elapsed"] else None,
                     None, None, s["mean"], s["longest"], non2xx, s["failed"]])
    votes = siege_summary(raw / "siege-votes.txt")
    if votes is None:
        hung += 1
        votes = {"transactions": 0, "elapsed": 0.0, "mean": 0.0, "longest": 0.0, "failed": 0}
        vote_statuses = {}
    else:
        vote_statuses = siege_statuses(raw / "siege-votes.status")
    all_statuses = dict(statuses)
    for k, v in vote_statuses.items():
        all_statuses[k] = all_statuses.get(k, 0) + v
    figures = [
        ("requests", f"{trans + votes['transactions']} ({trans} reads and posts, "
                     f"{votes['transactions']} votes)"),
        ("duration", f"{t:.2f} s of load ({len(rows)} runs of about 1 s, as siege measured them)"),
        ("throughput, reads and posts", f"{trans / t:.0f} req/s (transactions ÷ duration)" if t else "n/a"),
        ("throughput, votes", f"{votes['transactions'] / votes['elapsed']:.0f} req/s "
                              f"over {votes['elapsed']:.1f} s" if votes["elapsed"] else "n/a"),
        ("latency percentiles", "siege reports none: see the server side below"),
        ("latency mean (siege, 10 ms resolution)", siege_ms(weighted / trans if trans else None)),
        ("latency max (siege, 10 ms resolution)", siege_ms(max(longest, votes["longest"]))),
        ("responses by status (siege -v)", statuses_text(all_statuses)),
        ("failed transactions (socket errors, timeouts)", f"{failed + votes['failed']}"),
        ("siege runs that hung at their end and were killed", f"{hung} of {len(slices) + 1}"
         + (" (not counted above; their requests are in the server-side counts)" if hung else "")),
    ]
    note = ("siege runs in one-second slices with `-T application/json` (siege 4.0.7 ignores a "
            "content type in its rc file, and would send posts as form data). The helpful votes "
            "run beside them in a second siege, on connections closed after each answer "
            "(artillery/siegerc-votes): a vote's 204 has no body, and siege 4.0.7 waits for one "
            "on a kept-alive connection until the server's 60 s idle timeout. siege times "
            "requests to 10 ms and reports no percentiles: the percentiles of a siege run are "
            "the server's, below. Statuses are counted from siege's verbose output. siege 4.0.7 "
            "sometimes hangs after a timed run, at \"Lifting the server siege...\", before "
            "printing its figures: run.sh kills a run that outlives its time by 10 s.")
    return {"rows": rows, "figures": figures, "note": note, "statuses": all_statuses,
            "errors": failed + votes["failed"], "requests": trans + votes["transactions"],
            "plot": ["mean_ms", "max_ms"]}


def artillery_figures(raw):
    report = json.load(open(raw / "artillery.json"))
    agg = report["aggregate"]
    first, last = agg["firstMetricAt"], agg["lastMetricAt"]
    rows = []
    for period in report.get("intermediate", []):
        begins = int(period["period"])
        start, end = max(begins, first), min(begins + 10_000, last)
        secs = max(end - start, 1) / 1000
        c, rt = period.get("counters", {}), period.get("summaries", {}).get("http.response_time", {})
        requests = c.get("http.requests", 0)
        non2xx = sum(v for k, v in c.items() if re.fullmatch(r"http\.codes\.[^2]\d\d", k))
        errors = sum(v for k, v in c.items() if k.startswith("errors."))
        rows.append([(end - first) / 1000, secs, requests, requests / secs, rt.get("p50"),
                     rt.get("p99"), rt.get("mean"), rt.get("max"), non2xx, errors])
    c, rt = agg["counters"], agg["summaries"].get("http.response_time", {})
    secs = (last - first) / 1000
    requests = c.get("http.requests", 0)
    statuses = {k.split(".")[-1]: v for k, v in c.items() if re.fullmatch(r"http\.codes\.\d+", k)}
    errors = {k[len("errors."):]: v for k, v in c.items() if k.startswith("errors.")}
    # artillery keeps whole milliseconds: a 0 is "under 1 ms".
    ms = lambda k: "under 1 ms (artillery's resolution)" if rt.get(k) == 0 else f"{fmt_ms(rt.get(k))} ms"
    figures = [
        ("requests", f"{requests}"),
        ("duration", f"{secs:.2f} s (first to last request, as artillery measured it)"),
        ("throughput", f"{requests / secs:.0f} req/s (requests ÷ duration; arrivals ramp up, "
                       "so this is below the peak rate)" if secs else "n/a"),
        ("latency p50", ms("p50")), ("latency p90", ms("p90")), ("latency p95", ms("p95")),
        ("latency p99", ms("p99")), ("latency p99.9", ms("p999")), ("latency max", ms("max")),
        ("latency mean", ms("mean")),
        ("responses by status (artillery)", statuses_text(statuses)),
        ("unexpected statuses (artillery's check)", f"{int(c.get('storefront.unexpected_status', 0))}"),
        ("errors", statuses_text(errors)),
        ("virtual users failed", f"{int(c.get('vusers.failed', 0))} of {int(c.get('vusers.created', 0))}"),
    ]
    note = ("Whole-run figures are artillery's aggregate (its percentiles are over the whole run, "
            "at 1 ms resolution); per-interval rows are its 10-second periods, each with its own "
            "percentiles, the first and last cut to the time the run covered. The scenario's "
            "ensure checks (p99, error rate) decide artillery's exit status.")
    return {"rows": rows, "figures": figures, "note": note, "statuses": statuses,
            "errors": sum(errors.values()) + int(c.get("storefront.unexpected_status", 0)),
            "requests": requests, "plot": ["p50_ms", "p99_ms"]}


# ------------------------------------------------------------------ build

def mix_share(requests):
    """What share of the mix's requests each kind was, as the service saw it."""
    n = lambda route: sum(requests.get(route, {}).values())
    total = sum(n(r) for r in EXPECTED)
    if not total:
        return "no requests"
    parts = [("reads", n("reviews") + n("meta")), ("posts", n("post_review")), ("votes", n("helpful"))]
    return ", ".join(f"{name} {100 * k / total:.2f}%" for name, k in parts)


def build(out, tool, title, setup):
    out = Path(out)
    raw = out / "raw"
    tool_figures = {"wrk": wrk_figures, "siege": siege_figures, "artillery": artillery_figures}[tool](raw)
    server = server_delta(raw)

    with open(out / "series.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(SERIES_COLUMNS)
        for r in tool_figures["rows"]:
            w.writerow(["" if v is None else (f"{v:.3f}" if isinstance(v, float) else v) for v in r])

    mix_total, unexpected, lines = 0, {}, []
    for route in sorted(server["requests"], key=lambda r: (r in HOUSEKEEPING, r)):
        counts = server["requests"][route]
        n = sum(counts.values())
        bs = server["buckets"].get(route, {})
        if route in HOUSEKEEPING:
            kind = "run.sh's own (readiness, scrapes)"
        else:
            mix_total += n
            bad = {s: v for s, v in counts.items() if s not in EXPECTED.get(route, set())}
            for s, v in bad.items():
                unexpected[f"{route} {s}"] = v
            kind = "mix"
        lines.append(f"| {route} | {kind} | {n} | {statuses_text(counts)} | "
                     f"{bucket_quantile(bs, 0.5)} | {bucket_quantile(bs, 0.99)} |")
    tool_unexpected = unexpected_tool_statuses(
        tool_figures["statuses"],
        lambda s: not (s.startswith("2") or s == "404"))  # 404: votes on reported reviews
    failures = []
    if unexpected:
        failures.append(f"the service answered statuses the mix does not expect: "
                        f"{', '.join(f'{k} ×{v}' for k, v in sorted(unexpected.items()))}")
    if tool_figures["errors"]:
        failures.append(f"{tool_figures['errors']} socket errors, timeouts or failed checks on "
                        f"the {tool} side")
    if tool_unexpected:
        failures.append(f"{tool} saw {tool_unexpected} responses with a status other than 2xx or 404")
    verdict = ("FAILED: " + "; ".join(failures)) if failures else \
        "OK: every response had a status the mix expects, and no request failed"

    md = [f"# {title}", "", "## Setup", ""] + [f"- {s}" for s in setup] + [
        "", f"**{verdict}.**", "",
        f"## Whole run, as {tool} measured it", "",
        "| figure | value |", "|---|---|"]
    md += [f"| {k} | {v} |" for k, v in tool_figures["figures"]]
    md += ["", tool_figures["note"], "",
           "## Server side: the service's `/metrics` over the run", "",
           "Counted by the service itself (the change of `reviews_http_requests_total` and the "
           "latency histograms between a scrape before and one after the run), so no tool's "
           "blind spot can hide a failure. The mix expects 200 for reads, 201 for posts, and 204 "
           "for votes, or 404 for a vote on one of the ~2% of reviews that are reported. Latency "
           "here is the time the service took to answer, read off its histogram buckets "
           "(bucket bounds, hence ≤).", "",
           "| route | traffic | requests | by status | p50 | p99 |", "|---|---|---|---|---|---|"]
    md += lines
    md += ["",
           f"- requests of the mix answered: {mix_total} (the tool counted {tool_figures['requests']}; "
           "requests still in flight when a tool stops are answered but not counted by it)",
           f"- mix as answered: {mix_share(server['requests'])}",
           f"- unexpected statuses: {sum(unexpected.values())}"
           + (f" ({', '.join(f'{k} ×{v}' for k, v in sorted(unexpected.items()))})" if unexpected else ""),
           f"- requests shed (503, too many in flight): {server['shed']}",
           f"- workers counted: {', '.join(server['workers'])} (one scrape covers every worker of the port)",
           "", "## Over time", "", "![latency and throughput over time](latency.png)", "",
           "| t (s) | interval (s) | requests | req/s | p50 ms | p99 ms | mean ms | max ms | non-2xx | errors |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in tool_figures["rows"]:
        md.append("| " + " | ".join("-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
                                   for v in r) + " |")
    (out / "report.md").write_text("\n".join(md) + "\n")
    (out / "plot-columns").write_text(" ".join(tool_figures["plot"]) + "\n")
    print(verdict)
    return 3 if failures else 0


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind == "scrape":
        scrape(sys.argv[2], sys.argv[3])
    elif kind == "build":
        sys.exit(build(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]))
    else:
        sys.exit(__doc__)
