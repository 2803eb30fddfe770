#!/bin/sh
# fuzz-one.sh SECONDS NAME -- run the libFuzzer harness build-fuzz/fuzz/NAME
# for SECONDS from its seed corpus (fuzz/corpus/NAME), keeping what it finds
# in build-fuzz/corpus/NAME and its output in build-fuzz/NAME.log; print one
# line with its figures, or the end of its log if it failed (make fuzz runs
# FUZZ_PAR of these at a time).
set -u
t=$1 n=$2
mkdir -p "build-fuzz/corpus/$n"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
  "build-fuzz/fuzz/$n" -max_total_time="$t" -timeout=10 -rss_limit_mb=2048 \
  -max_len=65536 -print_final_stats=1 \
  -artifact_prefix=build-fuzz/ "build-fuzz/corpus/$n" "fuzz/corpus/$n" \
  >"build-fuzz/$n.log" 2>&1 || {
  tail -60 "build-fuzz/$n.log"
  echo "fuzz $n: FAILED (input saved in build-fuzz/)"
  exit 1
}
echo "== fuzz $n ($t s): $(grep -E '^stat::number_of_executed_units|^stat::new_units_added' "build-fuzz/$n.log" | tr '\n' ' ')"
