#!/usr/bin/env bash
# Runs every benchmark in test/bench (compiled to dist/test/bench/*.bench.js).
# Each prints its figures against a baseline measured in the same run.
set -uo pipefail
cd "$(dirname "$0")/../.."
rc=0
for b in dist/test/bench/*.bench.js; do
  [ -e "$b" ] || continue
  echo "== $(basename "$b" .bench.js)"
  node "$b" || { echo "bench: $b failed"; rc=1; }
done
exit $rc
