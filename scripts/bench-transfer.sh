#!/usr/bin/env bash
# Bringing reviews in and out, measured against `seed`'s own generation in
# the same run (docs/operations.md, "Importing and exporting"):
#   generate      `seed --records N` into an empty embedded store: the rate
#                 an import is held against
#   import CSV    `seed --from-atelier` of the same data set written as an
#                 Atelier export (`seed --to-atelier`): reviews/s, the ratio
#                 to the generation's, and the import's peak memory
#   export JSONL  `seed --to-jsonl` of the imported store: reviews/s
#   MongoDB       with MONGODB_URI: `seed --records M` into a fresh
#                 database (the engine's own bulk load) and `seed
#                 --from-atelier` of the same data set into another, the
#                 ratio of their rates (M = MONGO_RECORDS)
# Each step runs alone; the closing line of each is kept. Prints one
# table, also written to OUT (default target/bench/transfer-<records>.md).
#
#   RECORDS=10000000 scripts/bench-transfer.sh
#
# Env: RECORDS (default 1000000), MONGO_RECORDS (default 200000), WORK (a
# directory with room for about 6 times the export: default a temporary
# one), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${RECORDS:-1000000}
MONGO_RECORDS=${MONGO_RECORDS:-200000}
cargo build --release --quiet --bins
seed=$(pwd)/target/release/seed
if [ -n "${WORK:-}" ]; then
  work=$WORK
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
out=${OUT:-target/bench/transfer-$RECORDS.md}
mkdir -p "$(dirname "$out")"

# measure NAME ARGS...: runs seed with ARGS, prints "seconds peak_kib" —
# the peak of its own memory (RssAnon, sampled every 20 ms: the store's
# and the input's mapped pages are the page cache's, not the process's) —
# and keeps the closing line in $work/NAME.line.
measure() {
  local name=$1
  shift
  python3 - "$work/$name.line" "$seed" "$@" <<'PY'
import os, subprocess, sys, time
line_file, cmd = sys.argv[1], sys.argv[2:]
started = time.monotonic()
err = open(line_file + ".err", "w")
# MONGODB_URI is for the MongoDB steps, which name it with --mongodb-uri:
# seed would read it from the environment in the embedded ones too.
env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI" and not k.startswith("REVIEWS_")}
child = subprocess.Popen(cmd, stderr=err, env=env)
peak = 0
while child.poll() is None:
    try:
        for line in open(f"/proc/{child.pid}/status"):
            if line.startswith("RssAnon:"):
                peak = max(peak, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.02)
secs = time.monotonic() - started
err.close()
text = open(line_file + ".err").read()
lines = [l for l in text.splitlines() if l.strip()]
open(line_file, "w").write((lines[-1] if lines else "") + "\n")
if child.returncode != 0:
    sys.exit(f"seed {' '.join(cmd[1:])} failed:\n{text}")
print(f"{secs:.2f} {peak}")
PY
}

echo "== generating $RECORDS records into an empty embedded store"
read -r gen_s gen_kib < <(measure generate --records "$RECORDS" --data-dir "$work/generated" --drop)
rm -rf "$work/generated"
echo "== writing them as an Atelier export"
read -r _ _ < <(measure to-atelier --records "$RECORDS" --to-atelier "$work/export")
export_bytes=$(du -sb "$work/export" | cut -f1)
echo "== importing the export"
read -r imp_s imp_kib < <(measure import --from-atelier "$work/export" --data-dir "$work/imported" \
  --rejects "$work/rejects.csv" --temp-dir "$work")
rm -rf "$work/export"
echo "== exporting the store as JSON Lines"
read -r exp_s _ < <(measure to-jsonl --to-jsonl "$work/all.jsonl" --data-dir "$work/imported")
rm -rf "$work/imported" "$work/all.jsonl"

mongo_rows=""
if [ -n "${MONGODB_URI:-}" ]; then
  db() {
    python3 - "$MONGODB_URI" "$1" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + sys.argv[2], u.query, "")))
PY
  }
  echo "== MongoDB: generating $MONGO_RECORDS records (seed's own bulk load)"
  read -r mgen_s _ < <(measure mongo-generate --records "$MONGO_RECORDS" --mongodb-uri "$(db reviews_bench_gen)" --drop)
  read -r _ _ < <(measure mongo-to-atelier --records "$MONGO_RECORDS" --to-atelier "$work/mexport")
  echo "== MongoDB: importing the same data set as an Atelier export"
  read -r mimp_s _ < <(measure mongo-import --from-atelier "$work/mexport" --mongodb-uri "$(db reviews_bench_import)" \
    --drop --rejects "$work/mrejects.csv" --temp-dir "$work")
  rm -rf "$work/mexport"
  mongo_rows=$(python3 - "$MONGO_RECORDS" "$mgen_s" "$mimp_s" "$work" <<'PY'
import sys
n, gen, imp, work = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
line = lambda name: open(f"{work}/{name}.line").read().strip()
print(f"| MongoDB: seed's bulk load, {n} records | {n / gen:,.0f} reviews/s | — | `{line('mongo-generate')}` |")
print(f"| MongoDB: Atelier import, {n} records | {n / imp:,.0f} reviews/s | **{gen / imp:.2f}** of the bulk load (target ≥ 0.8) | `{line('mongo-import')}` |")
PY
)
fi

python3 - "$RECORDS" "$gen_s" "$gen_kib" "$imp_s" "$imp_kib" "$exp_s" "$export_bytes" "$work" "$mongo_rows" > "$out" <<'PY'
import sys
n = int(sys.argv[1])
gen, gen_kib, imp, imp_kib, exp = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
export_bytes, work, mongo = int(sys.argv[7]), sys.argv[8], sys.argv[9]
line = lambda name: open(f"{work}/{name}.line").read().strip()
print(f"# Import and export, {n} records\n")
print(f"Atelier export of the generated data set: {export_bytes / 2**30:.2f} GiB.\n")
print("| step | rate | against | closing line |")
print("|---|---|---|---|")
print(f"| generate into the embedded store | {n / gen:,.0f} reviews/s | — | `{line('generate')}` |")
print(f"| import the Atelier export into the embedded store | {n / imp:,.0f} reviews/s | **{gen / imp:.2f}** of generating (target ≥ 0.5); peak memory (RssAnon) {imp_kib / 1024:.0f} MiB, generating {gen_kib / 1024:.0f} MiB | `{line('import')}` |")
print(f"| export the store as JSON Lines | {n / exp:,.0f} reviews/s | target ≥ 200,000 | `{line('to-jsonl')}` |")
if mongo:
    print(mongo)
PY
cat "$out"
