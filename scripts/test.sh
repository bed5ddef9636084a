#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, deploy-file checks, unit and
# integration tests (all of them, even after a failure), and always closes
# with one line over every test binary: `tests: N passed, N failed, N skipped`.
# Installs what the tests need when it is missing (as root, through apt-get
# and npm into project folders); otherwise says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

# install PACKAGE WHAT: installs Debian's PACKAGE (for WHAT) if we can (as
# root, with apt-get), or says what to install and stops.
install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing $1 (for $2)"
    if [ -z "${apt_updated:-}" ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
  else
    echo "test.sh: $2 is missing: install the '$1' package (e.g. sudo apt-get install $1)" >&2
    exit 1
  fi
}

# need CMD PACKAGE: make sure CMD exists, installing Debian's PACKAGE if we can.
need() {
  command -v "$1" >/dev/null 2>&1 || install "$2" "'$1'"
}

# Rust: not from apt, whose rustc is older than this edition-2024 code needs.
rust_needed=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
rustup_hint="install a current toolchain with rustup (https://rustup.rs; then \`rustup default stable\`)"
if ! command -v cargo >/dev/null 2>&1; then
  echo "test.sh: Rust is not installed. This project needs Rust $rust_needed or newer;" \
       "a distribution's packaged rustc is usually older: $rustup_hint" >&2
  exit 1
fi
rust_have=$(rustc --version | awk '{print $2}')
if ! printf '%s\n%s\n' "$rust_needed" "$rust_have" | sort -V -C; then
  echo "test.sh: rustc $rust_have is too old; this project needs $rust_needed or newer: $rustup_hint" \
       "(or \`rustup update\`)" >&2
  exit 1
fi

need cc gcc                     # LMDB is compiled from C by lmdb-master-sys
need redis-server redis-server  # the cache tests start a real one
need redis-cli redis-tools      # and form a real 3-master Redis Cluster with `redis-cli --cluster create`
need wrk wrk                    # the load-tool smokes and the report script drive the service
need siege siege
need gnuplot gnuplot-nox        # the report plots latency over time
need nginx nginx                # scripts/nginx-check.sh runs the real `nginx -t`
need ip iproute2                # the multi-host test: network namespaces, veth, a bridge
need tc iproute2                # and silent packet loss on a link
need chromium chromium          # the storefront widget's browser test
need node nodejs
need npm npm
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  echo "test.sh: installing playwright-core into tests/e2e (it drives Debian's chromium; no browser download)"
  (cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --ignore-scripts >/dev/null)
fi
if [ ! -x artillery/node_modules/.bin/artillery ]; then
  echo "test.sh: installing artillery 2.0 into artillery/node_modules (no browser download)"
  (cd artillery && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-save --no-audit --no-fund \
    --ignore-scripts artillery@2.0 >/dev/null)
fi
# The contract fuzzer (tests/contract.rs): schemathesis from PyPI, in a
# virtual environment inside the build folder.
if [ ! -x target/schemathesis/bin/schemathesis ]; then
  need python3 python3
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    install python3-venv "python3 -m venv"
  fi
  echo "test.sh: installing schemathesis 4 into target/schemathesis (from PyPI)"
  rm -rf target/schemathesis
  mkdir -p target
  python3 -m venv target/schemathesis
  target/schemathesis/bin/pip install -q --disable-pip-version-check 'schemathesis>=4.32,<5'
fi
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  need docker-compose docker-compose  # only to validate deploy/docker-compose.yml
  compose=(docker-compose)
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
# The long quiet steps say so first, so a first run does not look hung.
echo "== cargo clippy (on a first run it checks every crate: about 2 minutes, quiet)"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo clippy --no-default-features (the build without MongoDB; about a minute on a first run, quiet)"
cargo clippy --no-default-features --lib --bins --quiet -- -D warnings

echo "== deploy checks"
scripts/nginx-check.sh
"${compose[@]}" -f deploy/docker-compose.yml config -q
echo "compose: deploy/docker-compose.yml is valid (${compose[*]} config)"
python3 - <<'PY'
# The dashboard reads the provisioned data source, and every series it
# queries is one the service exports.
import json, pathlib, re, sys
dash = json.load(open("deploy/grafana/dashboards/reviews.json"))
source = open("deploy/grafana/provisioning/datasources/prometheus.yml").read()
uid = re.search(r"uid:\s*(\S+)", source).group(1)
exported = "".join(p.read_text() for p in pathlib.Path("src").rglob("*.rs"))
problems = []
for panel in dash["panels"]:
    for target in panel["targets"]:
        if target["datasource"]["uid"] != uid:
            problems.append(f"{panel['title']}: data source {target['datasource']['uid']}, not {uid}")
        for name in re.findall(r"\b(reviews_[a-z_]+|process_[a-z_]+)\b", target["expr"]):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if f'"{base}' not in exported:
                problems.append(f"{panel['title']}: {name} is not a series the service exports")
if problems:
    sys.exit("grafana: " + "; ".join(problems))
print(f"grafana: {len(dash['panels'])} panels, every query on exported series")
PY

if [ -z "${MONGODB_URI:-}" ]; then
  echo "test.sh: MONGODB_URI is not set: the MongoDB store suite will be skipped (the embedded store suite runs)"
fi
echo "== cargo test (a first run builds and links about 30 test binaries: 5-10 minutes, quiet while it links)"
log=$(mktemp)
trap 'rm -f "$log" "$log.mongo" "$log.harness"' EXIT
# Every test binary runs even when one fails; the closing line comes anyway,
# and the script's status is the first failure's. The tests run under
# scripts/harness.sh: in a home and temp directory of their own, and
# checked for processes and files they leave behind.
status=0
scripts/harness.sh --report "$log.harness" scripts/cargo-tests.sh "$log" || status=$?
harness_failed=$(cat "$log.harness" 2>/dev/null || echo 2)
# One closing line over every test binary (cargo prints one per binary) and
# the harness's two checks. A test that returns early for want of a tool or
# service prints "SKIPPED <name>: why"; it is counted as skipped, not
# passed, as are #[ignore]d tests.
awk -v hf="$harness_failed" '/^test result:/ {p += $4; f += $6; s += $8; if (FILENAME != ARGV[1]) s -= $4 + $6}
     /^SKIPPED / {k++}
     END {printf "tests: %d passed, %d failed, %d skipped\n", p - k + 2 - hf, f + hf, s + k}' "$log" $([ -f "$log.mongo" ] && echo "$log.mongo")
exit "$status"
