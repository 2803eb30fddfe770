#!/bin/sh
# run-tests.sh TEST... -- run each Criterion test binary (KUE_BUILD is the
# build directory), then print the totals over all of them and fail if
# any test failed, a binary did not finish, or a sanitizer reported.
set -u
log=$(mktemp)
trap 'rm -f "$log"' EXIT
bad=""
for t in "$@"; do
  name=${t#"$KUE_BUILD"/tests/}
  echo "== $name"
  out=$(mktemp)
  "$t" --jobs 2 >"$out" 2>&1
  rc=$?
  # A sanitizer report in a test's child (a leak found at its exit, say)
  # does not make Criterion fail that test: count it here.
  if grep -q -e 'ERROR: LeakSanitizer' -e 'ERROR: AddressSanitizer' -e ': runtime error: ' "$out"; then
    echo "$name: sanitizer report (see above)" >>"$out"
    rc=1
  fi
  cat "$out"; cat "$out" >>"$log"; rm -f "$out"
  [ "$rc" = 0 ] || bad="$bad $name"
done
# Criterion prints: [====] Synthesis: Tested: N | Passing: N | Failing: N | Crashing: N
totals=$(sed -n 's/.*Synthesis: Tested: \([0-9]*\) | Passing: \([0-9]*\) | Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1 \2 \3 \4/p' "$log" |
  awk '{t+=$1; p+=$2; f+=$3+$4} END {printf "%d %d %d", t, p, f}')
set -- $totals
echo
echo "tests: $2 passed, $3 failed"
if [ -n "$bad" ]; then echo "failing binaries:$bad"; exit 1; fi
[ "$3" = 0 ]
