#!/bin/sh
# pubsub-fanout.sh -- what one event costs each master of a 3-master Redis
# Cluster: N PUBLISH (then N SPUBLISH) of a kue-sized event on the master
# of the slot of {ba}, with redis-benchmark, and the Redis CPU
# (used_cpu_sys + used_cpu_user) each master spent per message.  A cluster
# forwards every PUBLISH to every node; SPUBLISH stays on the slot's
# master (bench/RESULTS.md, "Redis Cluster").
#   sh bench/pubsub-fanout.sh [N]
# Never part of `make test`.
set -eu
N=${1:-200000}
d=$(mktemp -d "${TMPDIR:-/tmp}/kue-fanout.XXXXXX"); pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; for p in $pids; do wait "$p" 2>/dev/null || true; done; rm -rf "$d"; }
trap cleanup EXIT INT TERM
free_port() {
    python3 -c 'import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p < 55536: print(p); break'
}
ports=""; seeds=""
for i in 1 2 3; do
    p=$(free_port); mkdir -p "$d/$p"
    redis-server --port "$p" --bind 127.0.0.1 --dir "$d/$p" --save '' --appendonly no \
        --cluster-enabled yes --daemonize no --logfile "$d/$p/log" &
    pids="$pids $!"; ports="$ports $p"; seeds="$seeds 127.0.0.1:$p"
    until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.05; done
done
redis-cli --cluster create $seeds --cluster-yes >"$d/create.log" 2>&1
for p in $ports; do until redis-cli -p "$p" cluster info | grep -q cluster_state:ok; do sleep 0.05; done; done
set -- $ports
slot=$(redis-cli -p "$1" cluster keyslot '{ba}')
owner=$(redis-cli -p "$1" cluster nodes | awk -v s="$slot" '$3 ~ /master/ { split($2, a, "[:@]");
    for (i = 9; i <= NF; i++) { n = split($i, r, "-"); lo = r[1] + 0; hi = (n == 2 ? r[2] : r[1]) + 0;
        if (s + 0 >= lo && s + 0 <= hi) print a[2] } }')
cpu() { redis-cli -p "$1" info cpu | tr -d '\r' | awk -F: '/^used_cpu_sys:/ { s = $2 } /^used_cpu_user:/ { u = $2 } END { printf "%.6f", s + u }'; }
echo "3-master cluster, $N messages on the master of {ba} (port $owner), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in publish spublish; do
    a=""; for p in $ports; do a="$a $(cpu "$p")"; done
    redis-benchmark -p "$owner" -n "$N" -P 16 -q "$mode" '{ba}:events' \
        '{"id":123456,"event":"complete","args":[123456,null,null]}' 2>&1 | tr '\r' '\n' | grep 'requests per second' | tail -1
    b=""; for p in $ports; do b="$b $(cpu "$p")"; done
    echo "$ports |$a |$b" | awk -v n="$N" -v m="$mode" -v o="$owner" '{ split($0, x, "|"); split(x[1], p, " "); split(x[2], a, " "); split(x[3], b, " ");
        printf "%-9s us per message:", m;
        for (i = 1; i <= 3; i++) printf "  %s%s %.2f", p[i], (p[i] == o ? " (publisher)" : ""), (b[i] - a[i]) * 1e6 / n;
        printf "\n" }'
done
