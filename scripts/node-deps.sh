#!/bin/sh
# node-deps.sh -- install the npm packages the interoperability tests and
# benchmarks use (real Kue 0.11.6 and friends) into tests/node/node_modules.
# Skips quietly when npm is absent; tests that need Node then say they skip.
set -eu
cd "$(dirname "$0")/../tests/node"
command -v npm >/dev/null 2>&1 || { echo "node-deps: npm not found, Node interop tests will skip" >&2; exit 0; }
if [ -d node_modules/kue ] && [ node_modules/.stamp -nt package.json ]; then exit 0; fi
npm install --no-audit --no-fund --loglevel=error >/dev/null
touch node_modules/.stamp
