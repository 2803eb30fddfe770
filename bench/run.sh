#!/bin/sh
# run.sh -- kue's benchmark (`make bench`, `make bench QUICK=1`).
#   KUE_BUILD=/abs/build sh bench/run.sh [--quick]
# Builds the bench's C parts against $KUE_BUILD/lib/libkue.a, installs the
# peer queues from npm into bench/node_modules, starts a private redis-server
# (loopback TCP on a free port plus a unix socket, no persistence), runs
# bench/bench.js and stops the server.  Never part of `make test`.
# Extra environment: BENCH_SYSTEMS=kue,bull (subset), BENCH_RUNS=N,
# BENCH_PROCS=1,2, BENCH_SCALE=0|1 (see bench/bench.js and bench/METHOD.md),
# BENCH_CLUSTER=0|1 (the Redis Cluster section, bench/cluster.sh: full mode
# only, on by default).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${KUE_BUILD:?set KUE_BUILD to the absolute build directory (make O=dir all)}"
quick=0
[ "${1:-}" = "--quick" ] && quick=1
[ "${QUICK:-}" = "1" ] && quick=1

for f in lib/libkue.a bin/kue-supervisor bin/kue-worker plugins/echo.so; do
    [ -e "$KUE_BUILD/$f" ] || { echo "bench: $KUE_BUILD/$f missing: build kue first (make O=... all)" >&2; exit 1; }
done
command -v node >/dev/null && command -v npm >/dev/null || { echo "bench: node and npm are needed for the peers" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "bench: redis-server not found" >&2; exit 1; }

# C parts: the producer tool and the timestamping plugin.  The plugins
# directory must be ours and not group/other-writable (the supervisor checks).
out="$KUE_BUILD/bench"
mkdir -p "$out/plugins"
chmod 755 "$out/plugins"
CC=${CC:-cc}
$CC -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -I"$here/../include" -o "$out/kbench" \
    "$here/kbench.c" "$KUE_BUILD/lib/libkue.a" -lhiredis -ljansson -lev -lm -lpthread
$CC -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -fPIC -shared -I"$here/../include" \
    -o "$out/plugins/stamp.so" "$here/stamp.c"
cp "$KUE_BUILD/plugins/echo.so" "$out/plugins/echo.so.tmp" && mv "$out/plugins/echo.so.tmp" "$out/plugins/echo.so"
chmod 755 "$out/plugins"/*.so

# Peers, into bench/node_modules (not committed).
if [ ! -d "$here/node_modules/bullmq" ] || [ ! "$here/node_modules/.stamp" -nt "$here/package.json" ]; then
    echo "bench: npm install (kue 0.11.6, bull, bullmq, bee-queue) into bench/node_modules" >&2
    (cd "$here" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$here/node_modules/.stamp"
fi

# A private redis-server on a free loopback port and a unix socket.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kue-bench-redis.XXXXXX")
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
redis-server --port "$port" --bind 127.0.0.1 --unixsocket "$tmp/redis.sock" --unixsocketperm 700 \
    --save '' --appendonly no --dir "$tmp" --databases 16 --daemonize no --enable-debug-command local \
    --logfile "$tmp/redis.log" --pidfile "$tmp/redis.pid" &
rpid=$!
cleanup() { kill "$rpid" 2>/dev/null || true; wait "$rpid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
i=0
until redis-cli -p "$port" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "bench: redis-server did not start" >&2; cat "$tmp/redis.log" >&2; exit 1; }
    sleep 0.05
done

mkdir -p "$here/results"
KUE_BUILD="$KUE_BUILD" BENCH_REDIS_PORT="$port" BENCH_REDIS_SOCK="$tmp/redis.sock" \
BENCH_RESULTS="$here/results" BENCH_QUICK="$quick" node "$here/bench.js"

# Redis Cluster: 1, 2 and 3 queues on a 3-master cluster (full mode).
if [ "$quick" = 0 ] && [ "${BENCH_CLUSTER:-1}" = 1 ]; then
    KUE_BUILD="$KUE_BUILD" sh "$here/cluster.sh" | tee "$here/results/cluster-$(date +%Y%m%dT%H%M%S).txt"
fi
