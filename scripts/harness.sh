#!/usr/bin/env bash
# scripts/harness.sh [--report FILE] COMMAND [ARGS...]
#
# Runs COMMAND (from the checkout) as the test suite's own: in a home and a
# temp directory of its own, made for this run and removed after it, so
# what the tests' tools keep in a home (siege's ~/.siege, Chromium's
# ~/.config/chromium, pip's and npm's caches) never lands in the user's,
# and what another program on the machine writes there is not the suite's.
# Rust's toolchain and caches stay where they are (CARGO_HOME, RUSTUP_HOME,
# PYENV_ROOT are passed on as the user's).
#
# Then it checks what it can lay at the suite's door, each a failure:
#   - nothing it started is still running (stopped, and listed). The
#     suite's processes are told apart by a cgroup of their own (cgroup v2,
#     where this user may make one: as root, say): every process the tests
#     start stays in it, daemons that detach and orphans too, and no other
#     program's process is ever in it. Where no cgroup can be made, by a
#     variable in their environment (TEST_HARNESS_RUN), which a process
#     that drops or overwrites its environment (nginx's workers) loses:
#     such a leak then goes unseen, never another program's process blamed;
#   - nothing is left in its temp directory (every test removes its own).
# Files changed meanwhile in /etc, /usr, /opt, /srv, /var and the user's
# home are listed with their times as a warning: any program on the machine
# may have written them, so they are not counted.
#
# Exits with COMMAND's status, or 1 if it passed and a check failed. With
# --report, writes to FILE the number of checks that failed (0, 1 or 2).
set -uo pipefail
cd "$(dirname "$0")/.."

report=
if [ "${1:-}" = --report ]; then
  report=$2
  shift 2
fi
[ $# -gt 0 ] || { echo "usage: scripts/harness.sh [--report FILE] COMMAND [ARGS...]" >&2; exit 2; }

checkout=$(pwd -P)

# "PID command line" of each process in the cgroup CG (and its children).
in_cgroup() {
  local pid
  find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -n | while read -r pid; do
    echo "$pid $(tr '\0\n' '  ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-160)"
  done
}

# "PID command line" of each process whose environment says it is this
# run's (where no cgroup could be made).
marked() {
  local p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" != "$$" ] || continue
    tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qxF "TEST_HARNESS_RUN=$suite" || continue
    echo "$pid $(tr '\0\n' '  ' 2>/dev/null <"$p/cmdline" | cut -c1-160)"
  done
}

user_home=${HOME:-}
suite=$(mktemp -d "${TMPDIR:-/tmp}/reviews-suite.XXXXXX")
marker=$suite/started
touch "$marker"
mkdir "$suite/home" "$suite/tmp"
# A cgroup beside this script's own, for the command's process tree.
cgroup=
for root in /sys/fs/cgroup /sys/fs/cgroup/unified; do
  [ -f "$root/cgroup.procs" ] && [ -f "$root/cgroup.subtree_control" ] || continue
  own=$(sed -n 's/^0:://p' /proc/self/cgroup)
  mkdir "$root${own%/}/reviews-suite-${suite##*.}" 2>/dev/null && cgroup=$root${own%/}/reviews-suite-${suite##*.}
  break
done
cleanup() {
  # A cgroup goes once its processes have: children first.
  [ -z "$cgroup" ] || find "$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null
  rm -rf "$suite"
}
trap cleanup EXIT

# Files changed during the run outside the checkout and the suite's own
# directories: the places a stray log or config would land (the build
# tools' caches and the package manager's records excepted). In the home
# directory, its files and dot-folders (where a tool keeps its state), not
# the user's own folders of other work.
changed_outside() {
  {
    find /etc /usr /opt /srv /var -xdev -newer "$marker" -type f \
      -not -path '/var/tmp/*' -not -path '/var/lib/apt/*' -not -path '/var/cache/*' \
      -not -path '/var/lib/dpkg/*' -not -path '/var/log/journal/*' -printf '%TT %p\n' 2>/dev/null
    if [ -n "$user_home" ] && [ -d "$user_home" ]; then
      find "$user_home" -xdev \( -path "$user_home/[!.]*" -o -path "$user_home/.cargo" \
        -o -path "$user_home/.rustup" -o -path "$user_home/.npm" -o -path "$user_home/.pyenv" \) -prune \
        -o -newer "$marker" -type f -printf '%TT %p\n' 2>/dev/null
    fi
  } | grep -v " $checkout/" | grep -v " $suite/" | sort || true
}

status=0
(
  # Into the suite's cgroup; where that fails, the marker alone tells.
  if [ -n "$cgroup" ] && ! echo "$BASHPID" >"$cgroup/cgroup.procs" 2>/dev/null; then
    touch "$suite/no-cgroup"
  fi
  export TEST_HARNESS_RUN=$suite
  export CARGO_HOME=${CARGO_HOME:-$user_home/.cargo}
  export RUSTUP_HOME=${RUSTUP_HOME:-$user_home/.rustup}
  if [ -z "${PYENV_ROOT:-}" ] && [ -d "$user_home/.pyenv" ]; then export PYENV_ROOT=$user_home/.pyenv; fi
  unset XDG_CONFIG_HOME XDG_CACHE_HOME XDG_DATA_HOME XDG_STATE_HOME
  export HOME=$suite/home TMPDIR=$suite/tmp
  exec "$@"
) || status=$?

failed=0
sleep 1  # a process a test stopped at its very end has exited by now
if [ -n "$cgroup" ] && [ ! -e "$suite/no-cgroup" ]; then
  left=$(in_cgroup "$cgroup")
else
  left=$(marked)
fi
if [ -n "$left" ]; then
  echo "harness: the tests left processes running (now stopped):"
  echo "$left"
  echo "$left" | awk '{print $1}' | xargs -r kill -9 2>/dev/null || true
  failed=$((failed + 1))
  # Gone before the cgroup is removed.
  for _ in $(seq 50); do
    [ -n "$cgroup" ] && [ -n "$(in_cgroup "$cgroup")" ] || break
    sleep 0.1
  done
fi
leftover=$(cd "$suite/tmp" && find . -mindepth 1 -maxdepth 2 | sed 's|^\./||' | sort | head -40)
if [ -n "$leftover" ]; then
  echo "harness: the tests left files in their temp directory (a test that does not remove its own):"
  echo "$leftover"
  failed=$((failed + 1))
fi
changed=$(changed_outside)
if [ -n "$changed" ]; then
  echo "harness: warning: changed during the run outside the checkout, by the tests or another program" \
       "(not counted: the tests' home and temp directory were their own):"
  echo "$changed" | head -40
fi
[ -z "$report" ] || echo "$failed" >"$report"
[ "$status" != 0 ] || [ "$failed" = 0 ] || status=1
exit "$status"
