#!/bin/sh
# groups.sh -- the throughput cost of job groups: N no-op (echo) jobs
# through one kue-supervisor (2 processes x 16 slots), queued first and
# then drained, without groups, with G groups and no limit, and with G
# groups and group_concurrency = L.  Prints jobs/s per case (best of RUNS).
#   KUE_BUILD=/abs/build sh bench/groups.sh [N [G [L [RUNS]]]]
# Never part of `make test`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${KUE_BUILD:?set KUE_BUILD to the absolute build directory}"
N=${1:-50000}; G=${2:-100}; L=${3:-2}; RUNS=${4:-3}
out=$(mktemp -d)
trap 'kill $(cat "$out/redis.pid") 2>/dev/null; [ -f "$out/sup.pid" ] && kill $(cat "$out/sup.pid") 2>/dev/null; sleep 0.3; rm -rf "$out"' EXIT
CC=${CC:-cc}
$CC -O2 -std=c11 -D_GNU_SOURCE -I"$here/../include" -o "$out/kbench" "$here/kbench.c" \
    "$KUE_BUILD/lib/libkue.a" -lhiredis -ljansson -lev -lm -lpthread
mkdir -p "$out/plugins" "$out/run"
chmod 755 "$out/plugins"
cp "$KUE_BUILD/plugins/echo.so" "$out/plugins/" && chmod 755 "$out/plugins/echo.so"
sock="$out/redis.sock"
redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no --daemonize yes \
    --pidfile "$out/redis.pid" --dir "$out" >/dev/null
url="unix://$sock?db=0"
until redis-cli -s "$sock" ping >/dev/null 2>&1; do sleep 0.05; done

run() {   # $1 groups, $2 group_concurrency -> jobs/s
    redis-cli -s "$sock" flushall >/dev/null
    KBENCH_GROUPS=$1 "$out/kbench" enqueue "$url" q echo bulk "$N" >/dev/null
    printf '[supervisor]\nplugins = plugins\nrun_dir = run\n[redis]\nurl = %s\nprefix = q\n[type echo]\nprocesses = 2\nconcurrency = 16\ngroup_concurrency = %s\n' \
        "$url" "$2" > "$out/w.ini"
    t0=$(date +%s.%N)
    "$KUE_BUILD/bin/kue-supervisor" -c "$out/w.ini" >"$out/sup.log" 2>&1 &
    echo $! > "$out/sup.pid"
    while [ "$(redis-cli -s "$sock" zcard q:jobs:complete)" -lt "$N" ]; do
        kill -0 "$(cat "$out/sup.pid")" 2>/dev/null || { cat "$out/sup.log" >&2; exit 1; }
        sleep 0.05
    done
    t1=$(date +%s.%N)
    kill "$(cat "$out/sup.pid")"; wait "$(cat "$out/sup.pid")" 2>/dev/null || true
    rm -f "$out/sup.pid"
    echo "$N $t0 $t1" | awk '{ printf "%.0f\n", $1 / ($3 - $2) }'
}
best() {
    b=0
    for _ in $(seq "$RUNS"); do r=$(run "$1" "$2"); [ "$r" -gt "$b" ] && b=$r; done
    echo "$b"
}
echo "no groups:                         $(best 0 0) jobs/s"
echo "$G groups, no limit:               $(best "$G" 0) jobs/s"
echo "$G groups, group_concurrency = $L:  $(best "$G" "$L") jobs/s"
