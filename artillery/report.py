#!/usr/bin/env python3
"""Turns load-tool output into the report of artillery/run.sh.

  report.py wrk SECOND < wrk-output            appends a CSV row to stdout
  report.py siege SECOND < siege-json-output   appends a CSV row to stdout
  report.py artillery REPORT.json              prints CSV rows for its periods
  report.py summary SERIES.csv TITLE SETUP...  prints the Markdown report

CSV columns: second,requests,rps,p50_ms,p90_ms,p99_ms,max_ms,non2xx,errors
(empty where the tool does not give a figure).
"""
import csv
import json
import re
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def row(second, requests, rps, p50, p90, p99, mx, non2xx, errors):
    cells = [second, requests, rps, p50, p90, p99, mx, non2xx, errors]
    return ",".join("" if c is None else (f"{c:.3f}" if isinstance(c, float) else str(c)) for c in cells)


def wrk(second):
    out = sys.stdin.read()
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    mx = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(map(int, sock.groups())) if sock else 0
    print(row(second, requests, rps, ms(pct["50"]), ms(pct["90"]), ms(pct["99"]),
              ms(mx.group(1)) if mx else None, int(non2xx.group(1)) if non2xx else 0, errors))


def siege(second):
    out = json.loads(re.search(r"\{.*\}", sys.stdin.read(), re.S).group(0))
    rate = float(out["transaction_rate"])
    mean = float(out["response_time"]) * 1000
    print(row(second, int(out["transactions"]), rate, mean, None, None,
              float(out["longest_transaction"]) * 1000, None, int(out["failed_transactions"])))


def artillery(path):
    report = json.load(open(path))
    for i, period in enumerate(report.get("intermediate", [])):
        counters, summaries = period.get("counters", {}), period.get("summaries", {})
        rt = summaries.get("http.response_time", {})
        requests = counters.get("http.requests", 0)
        length = 10.0
        non2xx = sum(v for k, v in counters.items() if re.fullmatch(r"http\.codes\.[345]\d\d", k))
        errors = sum(v for k, v in counters.items() if k.startswith("errors."))
        # Artillery reports p95, not p90: it fills the p90 column.
        print(row((i + 1) * int(length), requests, requests / length, rt.get("p50"), rt.get("p95"),
                  rt.get("p99"), rt.get("max"), non2xx, errors))


def summary(path, title, setup):
    rows = [r for r in csv.DictReader(open(path))]
    num = lambda r, k: float(r[k]) if r[k] not in ("", None) else None
    total = sum(int(float(r["requests"])) for r in rows)
    seconds = int(float(rows[-1]["second"])) if rows else 0

    def weighted(col):
        pairs = [(num(r, col), float(r["requests"])) for r in rows if num(r, col) is not None]
        weight = sum(w for _, w in pairs)
        return sum(v * w for v, w in pairs) / weight if weight else None

    mx = max((num(r, "max_ms") for r in rows if num(r, "max_ms") is not None), default=None)
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"
    non2xx = sum(int(float(r["non2xx"] or 0)) for r in rows)
    errors = sum(int(float(r["errors"] or 0)) for r in rows)
    lines = [f"# {title}", "", "## Setup", ""] + [f"- {s}" for s in setup] + [
        "", "## Figures", "",
        "| figure | value |", "|---|---|",
        f"| requests | {total} |",
        f"| mean throughput | {total / max(seconds, 1):.0f} req/s over {seconds} s ({len(rows)} intervals) |",
        f"| p50 latency | {fmt(weighted('p50_ms'))} ms |",
        f"| p90 latency | {fmt(weighted('p90_ms'))} ms |",
        f"| p99 latency | {fmt(weighted('p99_ms'))} ms |",
        f"| max latency | {fmt(mx)} ms |",
        f"| non-2xx responses | {non2xx} |",
        f"| errors (connect/read/write/timeout) | {errors} |",
        "",
        "Percentiles are the request-weighted means of each interval's percentiles "
        "(the tools report per interval); max is the largest seen. Non-2xx includes "
        "the expected 404s of helpful votes that hit reported reviews.",
        "", "![latency over time](latency.png)", "",
        "## Per interval", "", "| t | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | errors |",
        "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(r[k] or "-" for k in
                     ["second", "requests", "rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "non2xx", "errors"]) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "wrk":
        wrk(sys.argv[2])
    elif kind == "siege":
        siege(sys.argv[2])
    elif kind == "artillery":
        artillery(sys.argv[2])
    elif kind == "summary":
        summary(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(f"report.py: unknown kind {kind}")
