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
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo clippy --no-default-features (the build without MongoDB)"
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
# Processes started from this checkout (working directory or binary under
# it) that are not this script's own descendants: none may outlive the tests.
checkout=$(pwd -P)
ours() {
  local p pid cwd exe up
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
    exe=$(readlink "$p/exe" 2>/dev/null) || exe=
    case "$cwd/ $exe" in *"$checkout/"*) ;; *) continue ;; esac
    up=$pid
    while [ "$up" -gt 1 ] && [ "$up" != "$$" ]; do
      up=$(awk '{print $4}' "/proc/$up/stat" 2>/dev/null) || break
      [ -n "$up" ] || break
    done
    [ "$up" = "$$" ] && continue
    echo "$pid $(tr '\0\n' '  ' <"$p/cmdline" 2>/dev/null | cut -c1-160)"
  done | sort
}
# Files the tests write outside the checkout and the temp directory: the
# places a stray log or config would land (caches of the build tools and
# the package manager's own records are theirs to keep).
# In the home directory, its files and dot-folders (where a tool keeps its
# state), not the user's own folders of other work.
written_outside() {
  {
    find /etc /usr /opt /srv /var -xdev -newer "$marker" -type f \
      -not -path '/var/tmp/*' -not -path '/var/lib/apt/*' -not -path '/var/cache/*' \
      -not -path '/var/lib/dpkg/*' -not -path '/var/log/journal/*' 2>/dev/null
    find "$HOME" -xdev \( -path "$HOME/[!.]*" -o -path "$HOME/.cargo" -o -path "$HOME/.rustup" \
      -o -path "$HOME/.npm" -o -path "$HOME/.pyenv" \) -prune -o -newer "$marker" -type f -print \
      2>/dev/null
  } | grep -v "^$checkout/" | sort || true
}
left_before=$(ours)
marker=$(mktemp)

echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log" "$log.mongo" "$marker"' EXIT
# Every test binary runs even when one fails; the closing line comes anyway,
# and the script's status is the first failure's.
status=0
cargo test --all-targets --no-fail-fast 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
# The MongoDB cases (the store suite's, the products', the change log's, the
# multi-host test on a shared MongoDB) are #[ignore]d; with a deployment to run them on, run
# them too (tests that ran here count as run, not as skipped).
if [ -n "${MONGODB_URI:-}" ]; then
  echo "== cargo test --test store_suite --test products --test cache_versions --test change_log --test multihost -- --ignored (MongoDB at MONGODB_URI)"
  mongo_status=0
  # (Not the fleet run of deploy/capacity.md: a measurement, run by hand.)
  cargo test --test store_suite --test products --test cache_versions --test change_log --test multihost -- --ignored \
    --skip fleet_background_reads 2>&1 | tee "$log.mongo" \
    || mongo_status=${PIPESTATUS[0]}
  [ "$status" != 0 ] || status=$mongo_status
fi
# The harness's own two checks count as tests: nothing left running,
# nothing written outside the checkout and the temp directory.
harness_failed=0
sleep 1  # a process a test stopped at its very end has exited by now
left=$(comm -13 <(echo "$left_before") <(ours))
if [ -n "$left" ]; then
  echo "test.sh: the tests left processes running (now stopped):"
  echo "$left"
  echo "$left" | awk '{print $1}' | xargs -r kill -9 2>/dev/null || true
  harness_failed=$((harness_failed + 1))
fi
outside=$(written_outside)
if [ -n "$outside" ]; then
  echo "test.sh: the tests wrote outside the checkout and the temp directory:"
  echo "$outside"
  harness_failed=$((harness_failed + 1))
fi
[ "$harness_failed" = 0 ] || [ "$status" != 0 ] || status=1
# One closing line over every test binary (cargo prints one per binary) and
# the harness's two checks. A test that returns early for want of a tool or
# service prints "SKIPPED <name>: why"; it is counted as skipped, not
# passed, as are #[ignore]d tests.
awk -v hf="$harness_failed" '/^test result:/ {p += $4; f += $6; s += $8; if (FILENAME != ARGV[1]) s -= $4 + $6}
     /^SKIPPED / {k++}
     END {printf "tests: %d passed, %d failed, %d skipped\n", p - k + 2 - hf, f + hf, s + k}' "$log" $([ -f "$log.mongo" ] && echo "$log.mongo")
exit "$status"
