#!/bin/sh
# killstorm.sh BUILD_DIR [SECONDS] [PERIOD_MS] -- supervision under a kill
# storm: one worker of the echo plugin at the default respawn settings
# (respawn_delay 1s, respawn_max_delay 60s) is killed with SIGKILL every
# PERIOD_MS (default 2000) for SECONDS (default 40); every 100 ms a sample
# notes whether a worker process is alive.  Prints the share of samples
# with no live worker and the longest respawn delay the master logged.
# Needs redis-server; everything runs in a temporary directory.
set -u
B=$(cd "$1" && pwd)
secs=${2:-40}
period=${3:-2000}
d=$(mktemp -d)
trap 'kill $sup $rp 2>/dev/null; wait 2>/dev/null; rm -rf "$d"' EXIT
redis-server --port 0 --unixsocket "$d/r.sock" --save '' --appendonly no \
    --daemonize no >/dev/null 2>&1 & rp=$!
while ! redis-cli -s "$d/r.sock" ping >/dev/null 2>&1; do sleep 0.05; done
mkdir "$d/plugins"; cp "$B/plugins/echo.so" "$d/plugins/"; chmod -R go-w "$d/plugins"
cat >"$d/w.ini" <<INI
[supervisor]
plugins = plugins
run_dir = run
[redis]
url = unix://$d/r.sock
[type echo]
processes = 1
INI
"$B/bin/kue-supervisor" -c "$d/w.ini" >"$d/log" 2>&1 & sup=$!
worker() { pgrep -P "$sup" -f 'kue-supervisor: worker echo' | head -1; }
while [ -z "$(worker)" ]; do sleep 0.05; done
samples=0; dead=0; next=0; t=0
end=$((secs * 1000))
while [ $t -lt $end ]; do
  w=$(worker)
  samples=$((samples + 1))
  [ -z "$w" ] && dead=$((dead + 1))
  if [ $t -ge $next ]; then
    [ -n "$w" ] && kill -9 "$w"
    next=$((next + period))
  fi
  sleep 0.1; t=$((t + 100))
done
max=$(sed -n 's/.*\(restarting in\|next start in\) \([0-9]*\)ms.*/\2/p' "$d/log" | sort -n | tail -1)
echo "samples $samples, no live worker in $dead ($((100 * dead / samples))%), max respawn delay ${max:-0} ms"
