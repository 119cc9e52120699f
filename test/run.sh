#!/usr/bin/env bash
# Runs Tern's whole suite: unit tests beside the code (in parallel), the Rust
# crates' own tests, then the integration tests that stand up the lab (one at
# a time: they need root and measure the network). Prints one closing line,
# `N passed, N failed`, also kept in .test-out/summary.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
out=.test-out
rm -rf "$out"; mkdir -p "$out"

if [ "$(id -u)" != 0 ]; then
  echo "test: the integration tests build network namespaces and need root (run as root or with sudo)" >&2
fi

# Show progress: file-level and test-level lines, not every assertion.
progress() { grep --line-buffered -E '^(ok|not ok|    (ok|not ok)|# Subtest)' || true; }

mapfile -t unit < <(find dist/daemons dist/test -name '*.test.js' -not -path 'dist/test/*' | sort)
mapfile -t integ < <(find dist/test -name '*.test.js' | sort)

echo "== unit tests (${#unit[@]} files)"
node_modules/.bin/tap -R tap "${unit[@]}" > "$out/unit.tap" 2> "$out/unit.stderr"; cat "$out/unit.tap" | progress

echo "== rust tests"
: > "$out/cargo.txt"
for m in native/Cargo.toml test/lab/relay/Cargo.toml; do
  [ -f "$m" ] || continue
  cargo test --quiet --manifest-path "$m" >> "$out/cargo.txt" 2>&1 || echo "cargo test failed: $m" >> "$out/cargo.txt"
done
grep -E '^test result|failed:' "$out/cargo.txt" || true

echo "== integration tests (${#integ[@]} files)"
if [ "${#integ[@]}" -gt 0 ]; then
  node_modules/.bin/tap -j1 -R tap "${integ[@]}" > "$out/integration.tap" 2> "$out/integration.stderr"; cat "$out/integration.tap" | progress
fi

node dist/test/summary.js --cargo "$out/cargo.txt" "$out/unit.tap" ${integ:+"$out/integration.tap"} | tee "$out/summary.txt"
exit "${PIPESTATUS[0]}"
