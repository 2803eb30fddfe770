#!/bin/sh
# run-tests.sh TEST... -- run the Criterion test binaries (KUE_BUILD is the
# build directory), up to KUE_TEST_PAR (default 3; 1 runs them one after
# another) at a time, the slowest first; print one line per binary as it
# finishes, then the output of each failing binary, then the totals over
# all of them; fail if any test failed, a binary did not finish, or a
# sanitizer reported.
#
# Every binary's output is kept in $KUE_BUILD/test-logs/NAME.log (NAME as
# in unit/lib_exports), and its wall time in $KUE_BUILD/test-logs/times,
# which orders the next run.  Most binaries spend their time waiting on
# leases, timers and failovers, not on the CPU, and each one starts its own
# redis-servers and processes, so they can run side by side.
set -u

# --one RESULTS INDEX: run the INDEX-th binary of RESULTS/list (called by
# xargs below); its status goes to RESULTS/INDEX.
if [ "${1:-}" = --one ]; then
  res=$2 i=$3
  t=$(sed -n "${i}p" "$res/list")
  name=${t##*/tests/}
  out="$KUE_BUILD/test-logs/$name.log"
  mkdir -p "$(dirname "$out")"
  start=$(date +%s)
  "$t" --jobs 2 >"$out" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  # A sanitizer report in a test's child (a leak found at its exit, say)
  # does not make Criterion fail that test: count it here.
  if grep -q -e 'ERROR: LeakSanitizer' -e 'ERROR: AddressSanitizer' -e ': runtime error: ' "$out"; then
    echo "$name: sanitizer report (see above)" >>"$out"
    rc=1
  fi
  if [ "$rc" = 0 ]; then st=ok; else st=FAILED; fi
  echo "$name $st $secs" >"$res/$i"
  echo "== $name: $st ($secs s)"
  exit 0
fi

par=${KUE_TEST_PAR:-3}
case $par in
  ''|*[!0-9]*|0) echo "run-tests.sh: KUE_TEST_PAR=$par: want a number >= 1" >&2; exit 2 ;;
esac
logs="$KUE_BUILD/test-logs"
mkdir -p "$logs"
res=$(mktemp -d)
trap 'rm -rf "$res"' EXIT

# Seconds each binary took in its last run here, else these figures (the
# slowest on the 2-core reference machine, run one at a time); unknown
# binaries count as 0.  The slowest start first, so that the run is not
# left waiting on one long binary at its end.
{
  [ -f "$logs/times" ] && cat "$logs/times"
  cat <<'EOF'
integration/supervisor_leader 31
integration/web_browser 27
integration/sentinel_failover 22
integration/supervisor_faults 19
integration/replica_wait 17
integration/cluster_queue 16
integration/supervisor_sched 13
integration/worker_restart 10
integration/supervisor_crash 10
integration/supervisor_hup 8
EOF
} >"$res/known"
n=0
for t in "$@"; do
  n=$((n + 1))
  name=${t##*/tests/}
  secs=$(awk -v n="$name" '$1 == n { print $2; exit }' "$res/known")
  echo "${secs:-0} $n $t"
done | sort -k1,1nr -k2,2n | cut -d' ' -f3- >"$res/list"
total=$#

[ "$total" = 0 ] || awk -v n="$total" 'BEGIN { for (i = 1; i <= n; i++) print i }' |
  xargs -n 1 -P "$par" sh "$0" --one "$res"

bad=""
i=0
while [ "$i" -lt "$total" ]; do
  i=$((i + 1))
  if [ -f "$res/$i" ]; then
    read -r name st secs <"$res/$i"
  else
    t=$(sed -n "${i}p" "$res/list")
    name=${t##*/tests/} st=FAILED secs=
  fi
  [ "$st" = ok ] || bad="$bad $name"
  [ -n "$secs" ] && echo "$name $secs" >>"$res/times"
done
# Keep the times of binaries not run this time (KUE_TEST_FILTER).
touch "$res/times"
{
  cat "$res/times"
  [ -f "$logs/times" ] && awk 'NR == FNR { seen[$1] = 1; next } !($1 in seen)' "$res/times" "$logs/times"
} | sort >"$res/times.all"
mv "$res/times.all" "$logs/times"

for name in $bad; do
  echo
  echo "==== $name: FAILED (full log: $logs/$name.log)"
  cat "$logs/$name.log" 2>/dev/null || echo "(no output: the binary did not start)"
done

# Criterion prints: [====] Synthesis: Tested: N | Passing: N | Failing: N | Crashing: N
totals=$(while read -r t; do cat "$logs/${t##*/tests/}.log" 2>/dev/null; done <"$res/list" |
  sed -n 's/.*Synthesis: Tested: \([0-9]*\) | Passing: \([0-9]*\) | Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1 \2 \3 \4/p' |
  awk '{t+=$1; p+=$2; f+=$3+$4} END {printf "%d %d %d", t, p, f}')
set -- $totals
echo
echo "tests: $2 passed, $3 failed"
if [ -n "$bad" ]; then echo "failing binaries:$bad"; exit 1; fi
[ "$3" = 0 ]
