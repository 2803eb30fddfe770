#!/bin/sh
# floor.sh -- the Redis CPU per job that Kue's wire format itself costs:
# minimal scripts making only the writes Kue 0.11 needs to see a job
# created, claimed and completed (bench/floor.js), run against a private
# redis-server with BACKLOG jobs waiting.  Results: bench/RESULTS.md.
#
#   sh bench/floor.sh [BACKLOG [M [ROUNDS]]]      (default 100000 60000 5)
#
# Needs node, redis-server, and ioredis in bench/node_modules (`make bench`
# installs it).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kue-floor.XXXXXX")
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
    --daemonize no --logfile "$tmp/redis.log" &
rpid=$!
cleanup() { kill "$rpid" 2>/dev/null || true; wait "$rpid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
i=0
until redis-cli -p "$port" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "floor: redis-server did not start" >&2; exit 1; }
    sleep 0.05
done
echo "redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), $(nproc) cpus, $(date -u +%Y-%m-%dT%H:%MZ)"
node "$here/floor.js" "$port" "$@"
