#!/bin/sh
# ab.sh -- interleaved A/B of Redis CPU per processed job between two builds
# (bench/METHOD.md, "Measuring a change").  Each round runs
# `profile.js jobs BACKLOG M 2` (2 workers x 50, no subscriber, no perf)
# once per build, alternating, so the VM's drift hits both alike; prints
# every round and the median and range per build.
#
#   sh bench/ab.sh BUILD_A BUILD_B [ROUNDS [BACKLOG [M]]]
#
# Each build needs its bench tools (kbench, plugins) as `make bench` makes
# them; bench/node_modules needs ioredis.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 BUILD_A BUILD_B [ROUNDS [BACKLOG [M]]]" >&2; exit 2; }
a=$(cd "$1" && pwd); b=$(cd "$2" && pwd)
rounds=${3:-5}; backlog=${4:-100000}; m=${5:-60000}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp "${TMPDIR:-/tmp}/kue-ab.XXXXXX")
trap 'rm -f "$out"' EXIT INT TERM
i=0
while [ "$i" -lt "$rounds" ]; do
    i=$((i + 1))
    for which in A B; do
        if [ $which = A ]; then build=$a; else build=$b; fi
        us=$(PERF=0 KUE_BUILD=$build node "$here/profile.js" jobs "$backlog" "$m" 2 |
             sed -n 's/^Redis CPU per job: \([0-9.]*\) us.*/\1/p')
        echo "$which $us" >>"$out"
        echo "round $i $which ($build): $us us/job, load $(cut -d' ' -f1 /proc/loadavg)"
    done
done
for which in A B; do
    grep "^$which " "$out" | cut -d' ' -f2 | sort -n | awk -v w="$which" '
        { v[NR] = $1 } END { printf "%s: median %.2f us/job (%.2f-%.2f), %d rounds\n", w, v[int((NR + 1) / 2)], v[1], v[NR], NR }'
done
