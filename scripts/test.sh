#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit and integration tests.
# Installs what the tests need when it is missing (as root, through apt-get);
# otherwise says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

# need CMD PACKAGE: make sure CMD exists, installing Debian's PACKAGE if we can.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing $2 (for $1)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else
    echo "test.sh: '$1' is missing: install the '$2' package (e.g. sudo apt-get install $2)" >&2
    exit 1
  fi
}

need cargo cargo
need cc gcc                     # LMDB is compiled from C by lmdb-master-sys
need redis-server redis-server  # the cache tests start a real one
need wrk wrk                    # the report script test drives the service with it
need gnuplot gnuplot-nox        # and plots latency over time
need chromium chromium          # the storefront widget's browser test
need node nodejs
need npm npm
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  echo "test.sh: installing playwright-core into tests/e2e (it drives Debian's chromium; no browser download)"
  (cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --ignore-scripts >/dev/null)
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
if [ -z "${MONGODB_URI:-}" ]; then
  echo "test.sh: MONGODB_URI is not set: the MongoDB store suite will be skipped (the embedded store suite runs)"
fi
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log" "$log.mongo"' EXIT
cargo test --all-targets 2>&1 | tee "$log"
# The MongoDB case of the store suite is #[ignore]d; with a deployment to run
# it on, run it too (tests that ran here count as run, not as skipped).
if [ -n "${MONGODB_URI:-}" ]; then
  echo "== cargo test --test store_suite -- --ignored (MongoDB at MONGODB_URI)"
  cargo test --test store_suite -- --ignored 2>&1 | tee "$log.mongo"
fi
# One closing line over every test binary (cargo prints one per binary). A
# test that returns early for want of a service prints "SKIPPED <name>: why";
# it is counted as skipped, not passed, as are #[ignore]d tests.
awk '/^test result:/ {p += $4; f += $6; s += $8; if (FILENAME != ARGV[1]) s -= $4 + $6}
     /^SKIPPED / {k++}
     END {printf "tests: %d passed, %d failed, %d skipped\n", p - k, f, s + k}' "$log" $([ -f "$log.mongo" ] && echo "$log.mongo")
