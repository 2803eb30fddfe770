#!/bin/sh
# wait-replicas.sh -- the cost of [redis] wait_replicas: the same work with
# wait_replicas = 0 and = 1, on a private master and one replica on loopback.
#   KUE_BUILD=/abs/build sh bench/wait-replicas.sh [N]
# For each setting: N saves one at a time (kue_job_save), N asynchronous
# saves with 100 in flight, N saves in bulk, then N no-op jobs (echo) run
# by a supervisor (2 workers x 20), timed from the first "complete" event
# to the Nth.  N defaults to 10000.  Prints one line per measure.  Never
# part of `make test`; the figures are in docs/redis-topologies.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${KUE_BUILD:?set KUE_BUILD to the absolute build directory (make O=dir all)}"
n=${1:-10000}
for f in lib/libkue.a bin/kue-supervisor bin/kue-worker plugins/echo.so; do
    [ -e "$KUE_BUILD/$f" ] || { echo "wait-replicas: $KUE_BUILD/$f missing: build kue first" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kue-wait-bench.XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

CC=${CC:-cc}
$CC -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -I"$here/../include" -o "$tmp/kbench" \
    "$here/kbench.c" "$KUE_BUILD/lib/libkue.a" -lhiredis -ljansson -lev -lm -lpthread
mkdir -p "$tmp/plugins"
cp "$KUE_BUILD/plugins/echo.so" "$tmp/plugins/echo.so"
chmod 755 "$tmp/plugins" "$tmp/plugins/echo.so"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
start_redis() {   # name port [extra args]
    name=$1 port=$2
    shift 2
    mkdir -p "$tmp/$name"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp/$name" \
        --daemonize no --logfile "$tmp/$name/redis.log" "$@" &
    pids="$pids $!"
    i=0
    until redis-cli -p "$port" ping >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 200 ] || { echo "wait-replicas: $name did not start" >&2; exit 1; }
        sleep 0.05
    done
}
mport=$(free_port)
start_redis master "$mport"
rport=$(free_port)
start_redis replica "$rport" --replicaof 127.0.0.1 "$mport"
i=0
until redis-cli -p "$rport" role 2>/dev/null | grep -qx connected; do
    i=$((i + 1)); [ $i -lt 200 ] || { echo "wait-replicas: the replica did not sync" >&2; exit 1; }
    sleep 0.05
done
url="redis://127.0.0.1:$mport/0"

secs() { sed -n 's/.*"secs":\([0-9.e-]*\).*/\1/p'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%8.0f jobs/s  (%.3f s)", n / s, s }'; }

echo "wait-replicas: master :$mport, replica :$rport, N = $n, $(nproc) cores, $(redis-server --version | cut -d' ' -f3)"
for w in 0 1; do
    for mode in single concurrent bulk; do
        redis-cli -p "$mport" flushall >/dev/null
        s=$(KBENCH_WAIT_REPLICAS=$w "$tmp/kbench" enqueue "$url" q echo "$mode" "$n" 100 | secs)
        printf 'wait_replicas = %d  save %-10s %s\n' "$w" "$mode" "$(rate "$n" "$s")"
    done

    # N no-op jobs through a supervisor: from the first completion to the Nth
    redis-cli -p "$mport" flushall >/dev/null
    "$tmp/kbench" enqueue "$url" q echo bulk "$n" >/dev/null
    redis-cli -p "$mport" config resetstat >/dev/null
    cat >"$tmp/workers.ini" <<EOF
[supervisor]
plugins = $tmp/plugins
run_dir = $tmp/run
log_level = warn
[redis]
url = $url
prefix = q
wait_replicas = $w
wait_timeout = 1s
[type echo]
processes = 2
concurrency = 20
EOF
    "$tmp/kbench" watch "$url" q echo "$n" >"$tmp/watch.json" &
    watch=$!
    sleep 0.3
    "$KUE_BUILD/bin/kue-supervisor" -c "$tmp/workers.ini" 2>"$tmp/sup-$w.log" &
    sup=$!
    wait "$watch"
    kill -TERM "$sup"
    wait "$sup" || true
    first=$(sed -n 's/.*"first_ms":\([0-9.]*\).*/\1/p' "$tmp/watch.json")
    last=$(sed -n 's/.*"last_ms":\([0-9.]*\).*/\1/p' "$tmp/watch.json")
    s=$(awk -v f="$first" -v l="$last" 'BEGIN { print (l - f) / 1000 }')
    waits=$(redis-cli -p "$mport" info commandstats | sed -n 's/^cmdstat_wait:calls=\([0-9]*\).*/\1/p')
    printf 'wait_replicas = %d  run  no-op       %s  %s WAIT calls\n' "$w" "$(rate "$n" "$s")" \
        "${waits:-0}"
    grep -i "replicas confirmed" "$tmp/sup-$w.log" | head -3 || true
done
