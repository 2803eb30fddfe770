#!/bin/sh
# hup-block.sh BUILD_DIR [CHECK_SECONDS] -- how long a HUP holds the
# master's loop.  A supervisor runs one echo worker; the config then gains
# a type whose plugin takes CHECK_SECONDS (default 3) to load, and the
# master gets HUP and, 10 ms later, USR1 (which only logs a line).  Prints
# the time between the master's "SIGHUP: reloading" and "SIGUSR1" lines
# (the loop is busy that long; the floor is the 10 ms between the two
# signals), and between "SIGHUP" and "reloaded".
# Needs redis-server and cc; everything runs in a temporary directory.
set -u
B=$(cd "$1" && pwd)
secs=${2:-3}
src=$(cd "$(dirname "$0")/.." && pwd)
d=$(mktemp -d)
trap 'kill $sup $rp 2>/dev/null; wait 2>/dev/null; rm -rf "$d"' EXIT
redis-server --port 0 --unixsocket "$d/r.sock" --save '' --appendonly no \
    --daemonize no >/dev/null 2>&1 & rp=$!
while ! redis-cli -s "$d/r.sock" ping >/dev/null 2>&1; do sleep 0.05; done
mkdir "$d/plugins"; cp "$B/plugins/echo.so" "$d/plugins/"
cat >"$d/slow.c" <<C
#include <unistd.h>
#include <kue/plugin.h>
__attribute__((constructor)) static void slow(void) { sleep($secs); }
static void process(kue_handle_t *j) { kue_done(j, 0, 0); }
KUE_PLUGIN(.process = process);
C
cc -shared -fPIC -I"$src/include" -o "$d/plugins/slow.so" "$d/slow.c" || exit 1
chmod -R go-w "$d/plugins"
cat >"$d/w.ini" <<INI
[supervisor]
plugins = plugins
run_dir = run
[redis]
url = unix://$d/r.sock
[type echo]
processes = 1
INI
: >"$d/log"
"$B/bin/kue-supervisor" -c "$d/w.ini" >"$d/log" 2>&1 & sup=$!
while ! grep -q 'worker echo#0 (pid' "$d/log" && ! pgrep -P "$sup" -f 'worker echo' >/dev/null
do sleep 0.05; done
printf '[type slow]\nprocesses = 1\n' >>"$d/w.ini"
kill -HUP "$sup"; sleep 0.01; kill -USR1 "$sup"
n=0
while ! grep -q 'reloaded (generation\|reload failed' "$d/log" && [ $n -lt 400 ]; do
  sleep 0.05; n=$((n + 1))
done
sleep 0.2
ms() { grep -m1 "$1" "$d/log" | sed 's/^\([0-9T:.-]*\)Z.*/\1/' |
       awk -FT '{ split($2, t, ":"); printf "%d\n", (t[1] * 3600 + t[2] * 60 + t[3]) * 1000 }'; }
hup=$(ms 'SIGHUP: reloading'); usr=$(ms 'SIGUSR1'); done_=$(ms 'reloaded (generation')
echo "HUP to USR1 handled (loop blocked): $((usr - hup)) ms"
echo "HUP to reload applied: $((done_ - hup)) ms"
