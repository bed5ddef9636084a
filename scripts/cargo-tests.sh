#!/usr/bin/env bash
# scripts/cargo-tests.sh LOG: the tests of scripts/test.sh (run by it under
# scripts/harness.sh), their output shown and kept in LOG (and LOG.mongo).
# Every test binary runs even when one fails; exits with the first
# failure's status.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$1
status=0
cargo test --all-targets --no-fail-fast 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
# The MongoDB cases (the store suite's, the products', the change log's, the
# multi-host test on a shared MongoDB, the import's) are #[ignore]d; with a
# deployment to run them on, run them too (tests that ran here count as run,
# not as skipped).
if [ -n "${MONGODB_URI:-}" ]; then
  echo "== cargo test --test store_suite --test products --test cache_versions --test change_log --test multihost --test transfer -- --ignored (MongoDB at MONGODB_URI)"
  mongo_status=0
  # (Not the fleet run of deploy/capacity.md: a measurement, run by hand.)
  cargo test --test store_suite --test products --test cache_versions --test change_log --test multihost --test transfer -- --ignored \
    --skip fleet_background_reads 2>&1 | tee "$log.mongo" \
    || mongo_status=${PIPESTATUS[0]}
  [ "$status" != 0 ] || status=$mongo_status
fi
exit "$status"
