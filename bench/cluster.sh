#!/bin/sh
# cluster.sh -- kue on Redis Cluster: throughput and Redis CPU per processed
# job on each shard with 1, 2 and 3 queues on a 3-master cluster, against
# the same run on one plain redis-server (bench/RESULTS.md, "Redis
# Cluster").
#   KUE_BUILD=/abs/build sh bench/cluster.sh [N [RUNS]]
# Part of `make bench` (full mode); never part of `make test`.
#
# Method: a 3-master cluster (no replicas) on free loopback ports and one
# plain redis-server, no persistence.  Queue i has its own prefix, chosen so
# that the slot of {prefix} lies on master i (CLUSTER KEYSLOT), and its own
# kue-supervisor (1 worker process x 50, the no-op echo plugin, retention
# off so that the complete sets hold every job).  Per case:
# flush, save N jobs per queue (kue_job_save_bulk, untimed), read INFO cpu
# of every node, start the supervisors, poll each queue's complete set
# every 50 ms, read INFO cpu again when every queue holds N.  Reports the
# aggregate rate (the jobs completed after the first poll that saw one, over
# the time from that poll to the one that saw all)
# and, per shard, Redis CPU (used_cpu_sys + used_cpu_user) per job it
# processed (raw, and net of the node's idle CPU per second measured before
# the cases, times the case's duration), and kue's own CPU per job (the supervisors and their workers,
# /proc utime + stime).  The best rate of RUNS and the median CPU figures
# are kept.  The load average is printed: the machine may be shared.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${KUE_BUILD:?set KUE_BUILD to the absolute build directory (make O=dir all)}"
N=${1:-${BENCH_CLUSTER_N:-20000}}
RUNS=${2:-${BENCH_CLUSTER_RUNS:-3}}
for f in lib/libkue.a bin/kue-supervisor plugins/echo.so; do
    [ -e "$KUE_BUILD/$f" ] || { echo "cluster.sh: $KUE_BUILD/$f missing: build kue first" >&2; exit 1; }
done
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    { echo "cluster.sh: redis-server and redis-cli are needed" >&2; exit 1; }

out=$(mktemp -d "${TMPDIR:-/tmp}/kue-bench-cluster.XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$out"
}
trap cleanup EXIT INT TERM

CC=${CC:-cc}
$CC -O2 -std=c11 -D_GNU_SOURCE -I"$here/../include" -o "$out/kbench" "$here/kbench.c" \
    "$KUE_BUILD/lib/libkue.a" -lhiredis -ljansson -lev -lm -lpthread
mkdir -p "$out/plugins"
chmod 755 "$out/plugins"
cp "$KUE_BUILD/plugins/echo.so" "$out/plugins/" && chmod 755 "$out/plugins/echo.so"

free_port() {   # a free loopback port below 55536 (the cluster bus is port + 10000)
    python3 -c 'import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p < 55536: print(p); break'
}

start_redis() {   # $1 port, $2 dir, then extra options
    port=$1; dir=$2; shift 2
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
        --daemonize no --logfile "$dir/redis.log" "$@" &
    pids="$pids $!"
    i=0
    until redis-cli -p "$port" ping >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 200 ] || { echo "cluster.sh: redis on $port did not start" >&2; exit 1; }
        sleep 0.05
    done
}

# The cluster: three masters, no replicas.
ports=""
for i in 1 2 3; do
    p=$(free_port)
    start_redis "$p" "$out/node$i" --cluster-enabled yes --cluster-config-file nodes.conf \
        --cluster-node-timeout 5000
    ports="$ports $p"
done
set -- $ports
redis-cli --cluster create "127.0.0.1:$1" "127.0.0.1:$2" "127.0.0.1:$3" --cluster-yes >"$out/create.log" 2>&1 ||
    { cat "$out/create.log" >&2; exit 1; }
i=0
for p in $ports; do
    until redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok'; do
        i=$((i + 1)); [ $i -lt 400 ] || { echo "cluster.sh: the cluster did not form" >&2; exit 1; }
        sleep 0.05
    done
done
curl="redis-cluster://127.0.0.1:$1,127.0.0.1:$2,127.0.0.1:$3"
# The single server, for the reference figure.
sport=$(free_port)
start_redis "$sport" "$out/single"
surl="redis://127.0.0.1:$sport"

# Prefixes whose {slot} lies on master 1, 2, 3 (in the order of $ports).
first=$1
owner_port() {   # $1 slot -> the port of the master serving it
    redis-cli -p "$first" cluster nodes | awk -v s="$1" '$3 ~ /master/ {
        split($2, a, "[:@]");
        for (i = 9; i <= NF; i++) {
            n = split($i, r, "-"); lo = r[1] + 0; hi = (n == 2 ? r[2] : r[1]) + 0;
            if (s + 0 >= lo && s + 0 <= hi) print a[2]
        } }'
}
prefix_for() {   # $1 port -> a prefix whose slot that master serves
    for c in a b c d e f g h i j k l m n o p r s t u v w x y z; do
        s=$(redis-cli -p "$1" cluster keyslot "{b$c}")
        [ "$(owner_port "$s")" = "$1" ] && { echo "b$c"; return; }
    done
    echo "cluster.sh: no prefix found for the master on $1" >&2; exit 1
}
prefixes=""
for p in $ports; do prefixes="$prefixes $(prefix_for "$p")"; done

cpu_of() {   # $1 port -> used_cpu_sys + used_cpu_user (s)
    redis-cli -p "$1" info cpu | tr -d '\r' |
        awk -F: '/^used_cpu_sys:/ { s = $2 } /^used_cpu_user:/ { u = $2 } END { printf "%.6f", s + u }'
}
now() { date +%s.%N; }

# One case: $1 = number of queues (1..3) on the cluster, or 0 = one queue
# on the single server (the plain key style there: the scripts are the same).  Prints: rate cpu1 cpu2 cpu3 (us per job, "-" for a
# shard without a queue; for the single server cpu1 only).
run_case() {
    nq=$1
    if [ "$nq" = 0 ]; then
        redis-cli -p "$sport" flushall >/dev/null
        targets="$sport"; qs="q"; url=$surl; style=plain
    else
        for p in $ports; do redis-cli -p "$p" flushall >/dev/null; done
        targets=$(echo $ports | cut -d' ' -f1-"$nq"); qs=$(echo $prefixes | cut -d' ' -f1-"$nq"); url=$curl
        style=hashtag
    fi
    for q in $qs; do "$out/kbench" enqueue "$url" "$q" echo bulk "$N" >/dev/null; done
    allports=$ports; [ "$nq" = 0 ] && allports=$sport
    c0=""; for p in $allports; do c0="$c0 $(cpu_of "$p")"; done
    t0=$(now)
    sups=""
    for q in $qs; do
        mkdir -p "$out/run-$q"
        printf '[supervisor]\nplugins = %s\nrun_dir = %s\nlog_level = warn\n[redis]\nurl = %s\nprefix = %s\nkey_style = %s\n[retention]\nkeep_complete = 0\n[type echo]\nprocesses = 1\nconcurrency = 50\n' \
            "$out/plugins" "$out/run-$q" "$url" "$q" "$style" >"$out/$q.ini"
        "$KUE_BUILD/bin/kue-supervisor" -c "$out/$q.ini" >"$out/$q.log" 2>&1 &
        sups="$sups $!"
    done
    pids="$pids $sups"
    set -- $targets
    tf=""; cf=0
    while :; do
        left=0; k=1; sum=0
        for q in $qs; do
            eval "qp=\${$k}"
            if [ "$style" = plain ]; then key="$q:jobs:echo:complete"; else key="{$q}:jobs:echo:complete"; fi
            c=$(redis-cli -p "$qp" zcard "$key")
            [ "$c" -lt "$N" ] && left=1
            sum=$((sum + c))
            k=$((k + 1))
        done
        # the window starts at the first completion seen (start-up not counted)
        [ -z "$tf" ] && [ "$sum" -gt 0 ] && { tf=$(now); cf=$sum; }
        [ $left = 0 ] && break
        for s in $sups; do kill -0 "$s" 2>/dev/null || { cat "$out"/*.log >&2; exit 1; }; done
        awk -v a="$(now)" -v b="$t0" 'BEGIN { exit !(a - b > 600) }' &&
            { echo "cluster.sh: not done after 600 s" >&2; exit 1; }
        sleep 0.05
    done
    t1=$(now)
    c1=""; for p in $allports; do c1="$c1 $(cpu_of "$p")"; done
    # kue's own CPU: the supervisors and their workers (utime + stime)
    kcpu=0
    for s in $sups; do
        for p in $s $(pgrep -P "$s" || true); do
            t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
            kcpu=$((kcpu + t))
        done
    done
    for s in $sups; do kill "$s" 2>/dev/null || true; done
    for s in $sups; do wait "$s" 2>/dev/null || true; done
    if [ "$nq" = 0 ]; then idles=$sidle; else idles=$cidle; fi
    echo "$nq $N $tf $t1 $cf $kcpu $(getconf CLK_TCK) $t0 |$c0 |$c1 |$idles" | awk '{
        split($0, part, "|"); split(part[2], a, " "); split(part[3], b, " "); split(part[4], idle, " ");
        nq = $1; n = $2; jobs = (nq == 0 ? 1 : nq) * n; secs = $4 - $8;
        printf "%.0f %.1f", (jobs - $5) / ($4 - $3), $6 / $7 * 1e6 / jobs;
        for (i = 1; i <= (nq == 0 ? 1 : 3); i++) {
            d = (b[i] - a[i]) * 1e6;
            if (nq == 0 || i <= nq) printf " %.1f/%.1f", d / n, (d - idle[i] * secs) / n;
            else printf " idle(%.0fms)", d / 1e3;
        }
        printf "\n" }'
}


# The idle CPU of every node (cluster bus, cron), per second, over 3 s with
# no client: subtracted from each shard's figure as "net" (it is a cost per
# second, not per job, so it weighs more on a slow machine).
idle_rate() {   # $1 port -> CPU us per second when idle
    a=$(cpu_of "$1"); sleep 3; b=$(cpu_of "$1")
    awk -v a="$a" -v b="$b" 'BEGIN { printf "%.0f", (b - a) * 1e6 / 3 }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

cidle=""; for p in $ports; do cidle="$cidle $(idle_rate "$p")"; done
sidle=$(idle_rate "$sport")
echo "kue on Redis Cluster: $N no-op jobs per queue, 1 supervisor (1 process x 50) per queue, best rate / median CPU of $RUNS runs"
echo "shard columns: Redis CPU us per job processed there, raw/net of the node's idle CPU (cluster nodes idle:$cidle us/s; single server idle: $sidle us/s)"
echo "cluster masters on ports$ports; queue prefixes:$prefixes (each on its own master); $(nproc) CPUs; $(redis-server --version | cut -d' ' -f3); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %10s %14s %14s %14s %14s\n' case "jobs/s" "kue us/job" "shard1 us/job" "shard2 us/job" "shard3 us/job"
for nq in 0 1 2 3; do
    : >"$out/runs"
    r=0
    while [ $r -lt "$RUNS" ]; do run_case "$nq" >>"$out/runs"; r=$((r + 1)); done
    rate=$(awk '{ print $1 }' "$out/runs" | sort -n | tail -1)
    kue_us=$(awk '{ print $2 }' "$out/runs" | median)
    cols=""
    for f in 3 4 5; do
        v=$(awk -v f=$f '{ print $f }' "$out/runs" | head -1)
        case "$v" in
            "") cols="$cols -" ;;
            idle*) cols="$cols idle" ;;
            *) cols="$cols $(awk -v f=$f '{ split($f, x, "/"); print x[1] }' "$out/runs" | median)/$(awk -v f=$f '{ split($f, x, "/"); print x[2] }' "$out/runs" | median)" ;;
        esac
    done
    set -- $cols
    if [ "$nq" = 0 ]; then name="single server, 1 queue"; else name="cluster, $nq queue(s)"; fi
    printf '%-22s %10s %14s %14s %14s %14s\n' "$name" "$rate" "$kue_us" "$1" "${2:--}" "${3:--}"
    [ -n "${BENCH_CLUSTER_RAW:-}" ] && sed 's/^/    run: /' "$out/runs"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
