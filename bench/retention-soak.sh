#!/bin/sh
# retention-soak.sh -- Redis memory with retention: N echo jobs through
# kue-supervisor with [retention] keep_complete = 1000, Redis used_memory
# sampled every second; writes bench/retention-soak.csv and, when gnuplot
# is installed (Debian: gnuplot-nox), bench/retention-soak.png.  Not part
# of `make test` or `make bench` (it runs for minutes).
#
#   KUE_BUILD=build [RATE=5000] sh bench/retention-soak.sh [N] [KEEP]
#
# RATE (jobs/s, default 0: as fast as they are taken) paces the producer;
# unpaced, the workers' claims and completions saturate Redis on a small
# machine and retention gets only what is left of it.
# N (default 1000000) jobs are saved in batches of 10,000 while fewer than
# 50,000 wait, so the backlog stays bounded and what grows is what is kept.
# KEEP=0 runs the same without retention (keep_complete = 0 and no age
# limit: nothing is removed), for the "before" curve.
set -eu
RATE=${RATE:-0}
N=${1:-1000000}
KEEP=${2:-1000}
here=$(cd "$(dirname "$0")" && pwd)
: "${KUE_BUILD:=$here/../build}"
KUE_BUILD=$(cd "$KUE_BUILD" && pwd)
CC=${CC:-cc}
out=$(mktemp -d /tmp/kue-soak.XXXXXX)
trap 'kill $sup $rpid 2>/dev/null; wait 2>/dev/null; rm -rf "$out"' EXIT INT TERM
$CC -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -I"$here/../include" -o "$out/kbench" \
    "$here/kbench.c" "$KUE_BUILD/lib/libkue.a" -lhiredis -ljansson -lev -lm -lpthread
sock=$out/redis.sock
redis-server --unixsocket "$sock" --port 0 --save '' --appendonly no --dir "$out" \
    > "$out/redis.log" 2>&1 &
rpid=$!
i=0; until redis-cli -s "$sock" ping >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.05; done
url="unix://$sock"
mkdir -p "$out/plugins" "$out/run"; chmod 700 "$out/run"
cp "$KUE_BUILD/plugins/echo.so" "$out/plugins/"
if [ "$KEEP" -gt 0 ]; then ret="keep_complete = $KEEP"; else ret="keep_complete = 0
keep_complete_for = 0"; fi
cat > "$out/w.ini" <<INI
[supervisor]
plugins = plugins
run_dir = run
log_level = warn
[redis]
url = $url
[retention]
$ret
interval = 100ms
[type echo]
processes = 2
concurrency = 50
INI
"$KUE_BUILD/bin/kue-supervisor" -c "$out/w.ini" > "$out/sup.log" 2>&1 &
sup=$!
csv=$here/retention-soak${KEEP:+-$KEEP}.csv
[ "$KEEP" = 1000 ] && csv=$here/retention-soak.csv
echo "secs,jobs_done,used_memory,complete_kept,inactive" > "$csv"
t0=$(date +%s)
made=0
sample() {
    ids=$(redis-cli -s "$sock" get q:ids); ids=${ids:-0}
    inact=$(redis-cli -s "$sock" zcard q:jobs:inactive)
    act=$(redis-cli -s "$sock" zcard q:jobs:active)
    comp=$(redis-cli -s "$sock" zcard q:jobs:complete)
    mem=$(redis-cli -s "$sock" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
    echo "$(( $(date +%s) - t0 )),$((ids - inact - act)),$mem,$comp,$inact" >> "$csv"
}
last=0
while :; do
    inact=$(redis-cli -s "$sock" zcard q:jobs:inactive)
    due=$N
    [ "$RATE" -gt 0 ] && due=$(( ($(date +%s%N) / 1000000 - t0 * 1000) * RATE / 1000 ))
    if [ "$made" -lt "$N" ] && [ "$inact" -lt 50000 ] && [ "$made" -lt "$due" ]; then
        b=10000; [ "$RATE" -gt 0 ] && b=1000
        "$out/kbench" enqueue "$url" q echo bulk $b > /dev/null
        made=$((made + b))
    else
        sleep 0.05
    fi
    now=$(date +%s)
    if [ "$now" -ne "$last" ]; then sample; last=$now; fi
    [ "$made" -ge "$N" ] && [ "$inact" -eq 0 ] && break
done
sleep 2; sample
peak=$(awk -F, 'NR>1 && $3>m {m=$3} END {print m}' "$csv")
echo "jobs: $made  peak used_memory: $peak bytes  ($(( $(date +%s) - t0 )) s)  -> $csv"
if command -v gnuplot > /dev/null; then
    png=${csv%.csv}.png
    gnuplot -e "csv='$csv'; png='$png'; title='$made echo jobs, keep\\_complete = $KEEP, ${RATE:-0} jobs/s (0: unpaced); peak $((peak / 1048576)) MB'" \
        "$here/retention-soak.gp" && echo "plot: $png"
fi
