#!/usr/bin/env bash
# Checks Tern's systemd units: `systemd-analyze verify` must pass for every
# unit (exit non-zero otherwise), and `systemd-analyze security` reports each
# unit's exposure (0 = locked down, 10 = fully exposed) as a table.
set -uo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp ./*.service ./*.target "$tmp"/
rc=0
if out=$(systemd-analyze verify "$tmp"/*.service "$tmp"/*.target 2>&1) && [ -z "$out" ]; then
  echo "verify: ok ($(ls "$tmp" | wc -l) units)"
else
  echo "verify: FAILED"; echo "$out"; rc=1
fi
printf '%-24s %s\n' unit exposure
for u in "$tmp"/*.service; do
  level=$(systemd-analyze security --offline=true "$u" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \(.*\)/\1 \2/p')
  printf '%-24s %s\n' "$(basename "$u")" "${level:-unknown}"
done
exit $rc
