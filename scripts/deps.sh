#!/bin/sh
# deps.sh check|install [test] -- make sure the Debian packages kue needs
# are here: those to build and run it, plus with "test" those the test
# suite uses (Criterion, Node for the tests with real Kue, Chromium for the
# dashboard test, openssl for the TLS test).
#   check:   if something is missing, name each package and the apt-get
#            line that installs it, and fail (make test/run/bench install
#            nothing).
#   install: install what is missing (as root; make deps, .ci/run).
set -eu
PKGS="build-essential pkg-config libhiredis-dev libev-dev libjansson-dev \
libcriterion-dev libmicrohttpd-dev redis-server"
[ "${2:-}" = test ] && PKGS="$PKGS nodejs npm openssl chromium clang libclang-rt-14-dev"
# the plot of bench/retention-soak.sh (installed by make deps, never required)
[ "$1" = install ] && PKGS="$PKGS gnuplot-nox"
missing=""
for p in $PKGS; do
  case $p in
    # node may come from elsewhere than Debian (e.g. a NodeSource or image build)
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    build-essential) command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$1" = install ] && [ "$(id -u)" = 0 ]; then
  echo "deps: installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
  # the package starts a redis-server on 6379; kue's tests never use it
  exit 0
fi
echo "deps: missing Debian packages:$missing" >&2
echo "deps: install them with 'make deps' (as root), or:  apt-get install -y$missing" >&2
exit 1
