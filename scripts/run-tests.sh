#!/bin/sh
# run-tests.sh TEST... -- run each Criterion test binary, print a summary
# line, fail if any failed.  KUE_BUILD is the build directory.
set -u
pass=0; fail=0; failed=""
for t in "$@"; do
  name=${t#"$KUE_BUILD"/tests/}
  echo "== $name"
  if "$t" --jobs 2 --timeout 120; then pass=$((pass+1)); else fail=$((fail+1)); failed="$failed $name"; fi
done
echo
echo "test binaries: $pass passed, $fail failed"
[ -n "$failed" ] && echo "failed:$failed"
[ "$fail" = 0 ]
