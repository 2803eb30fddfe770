#!/bin/sh
# drain-rate.sh [BUILD] [N] [RUNS] -- how fast N echo jobs, saved in bulk,
# run through one idle supervisor (2 processes x concurrency 10, a private
# redis-server on a unix socket): the cost of the claim path, e.g. the
# paused-type check in claim.lua.  Prints one line per run: N jobs in T ms
# (jobs/s), from the first save to the last completion.  Run two builds
# alternately: the figures of a shared machine vary by 20%.
set -u
B=$(cd "${1:-build}" && pwd); N=${2:-20000}; RUNS=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
D=$(mktemp -d)
S="$D/redis.sock"
redis-server --port 0 --unixsocket "$S" --save '' --appendonly no --dir "$D" >/dev/null & rpid=$!
trap 'kill $rpid 2>/dev/null; rm -rf "$D"' EXIT
${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -I"$here/../include" -o "$D/kbench" "$here/kbench.c" \
    "$B/lib/libkue.a" -lhiredis -ljansson -lev -lm -lpthread
for t in $(seq 100); do redis-cli -s "$S" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -s "$S" ping >/dev/null || { echo "redis-server did not start" >&2; exit 1; }
URL="unix://$S?db=0"
cat > "$D/w.ini" <<INI
[supervisor]
plugins = $B/plugins
run_dir = $D/run
[redis]
url = $URL
[type echo]
processes = 2
concurrency = 10
INI
for r in $(seq "$RUNS"); do
  redis-cli -s "$S" flushall >/dev/null
  "$B/bin/kue-supervisor" -c "$D/w.ini" 2>"$D/log" & spid=$!
  sleep 1          # started and idle: the time below is saving plus running
  s=$(date +%s%N)
  "$D/kbench" enqueue "$URL" q echo bulk "$N" >/dev/null || exit 1
  while [ "$(redis-cli -s "$S" zcard q:jobs:echo:complete)" -lt "$N" ]; do sleep 0.02; done
  e=$(date +%s%N)
  kill -TERM $spid; wait $spid
  ms=$(( (e - s) / 1000000 ))
  # the scripts' own time inside Redis, free of the machine's noise
  es=$(redis-cli -s "$S" info commandstats | grep -E '^cmdstat_(evalsha|fcall):' | tr -d '\r')
  echo "$N jobs in $ms ms ($(( N * 1000 / ms )) jobs/s); $es"
  redis-cli -s "$S" config resetstat >/dev/null
done
