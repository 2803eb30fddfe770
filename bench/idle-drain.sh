#!/bin/sh
# idle-drain.sh [BUILD] [RUNS] [PORT] -- how long an idle drain takes with
# etc/run.ini's set-up (5 workers, the web process, an embedded Redis):
# start kue-supervisor, wait for /healthz, wait 1 s, send SIGINT, time
# until it exits.  Prints one line per run: the wall time and the
# supervisor's own "stopped after" figure.
set -u
B=$(cd "${1:-build}" && pwd); N=${2:-5}; PORT=${3:-39118}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
cat > "$D/run.ini" <<INI
[supervisor]
plugins = $B/plugins
run_dir = $D/run
shutdown_timeout = 10s
[redis]
url = embedded
[web]
listen = 127.0.0.1:$PORT
[type echo]
processes = 2
concurrency = 10
[type sleep]
processes = 1
concurrency = 20
[type flaky]
processes = 1
concurrency = 5
[type slideshow]
processes = 1
concurrency = 2
INI
for i in $(seq "$N"); do
  "$B/bin/kue-supervisor" -c "$D/run.ini" 2>"$D/log" & pid=$!
  for t in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done
  sleep 1
  s=$(date +%s%N); kill -INT $pid; wait $pid; e=$(date +%s%N)
  echo "idle drain: $(( (e - s) / 1000000 )) ms wall, $(grep -o 'stopped after [0-9]*ms' "$D/log")"
done
