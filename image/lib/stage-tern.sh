#!/usr/bin/env bash
# Stages Tern as the image installs it: STAGE/usr/lib/tern/{dist,bin,native,
# node_modules,docs,package.json,README.md}.
#   stage-tern.sh ARCH STAGE
# The JavaScript comes from the host's `make build` (dist/, arch-independent).
# The two native parts — native/tern.node (Rust, N-API) and sqlite3's
# node_sqlite3.node (C, node-gyp) — must match the target:
#   amd64: the host's builds are used as they are. Both are N-API modules
#          (no Node ABI tie), linked against bookworm's glibc 2.36, which
#          trixie's 2.41 runs; the image test proves they load.
#   other: built inside a Debian build root of the target architecture with
#          Debian's rustc and node-gyp, run through qemu-user (binfmt); see
#          build-native.sh.
set -euo pipefail
arch=$1 stage=$2
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(dirname "$here")
dest=$stage/usr/lib/tern
say() { printf 'image: stage: %s\n' "$*"; }

for f in dist/daemons/ctl/main.js dist/daemons/exporter/main.js native/tern.node node_modules/sqlite3/build/Release/node_sqlite3.node; do
	[ -e "$repo/$f" ] || { echo "image: stage: $f missing; run make build first" >&2; exit 1; }
done
mkdir -p "$dest"
# Tests, fixtures and the lab stay out of the image.
tar -C "$repo" --exclude='*.test.js' --exclude='*.test.js.map' --exclude='*.fixture.js' --exclude='*.fixture.js.map' \
	-cf - dist/daemons bin package.json package-lock.json README.md docs | tar -C "$dest" -xf -

# Production dependencies only: a copy of node_modules pruned offline (no
# install scripts run, so the native addon already built stays).
cp -a "$repo/node_modules" "$dest/"
(cd "$dest" && npm prune --omit=dev --offline --no-audit --no-fund --ignore-scripts >/dev/null)
# sqlite3's build tree: only the addon itself is loaded at run time.
sq=$dest/node_modules/sqlite3
find "$sq/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
find "$sq/build/Release" -mindepth 1 -maxdepth 1 ! -name node_sqlite3.node -exec rm -rf {} +
rm -f "$dest/node_modules/.package-lock.json" "$dest/node_modules/.tern-stamp"
mkdir -p "$dest/native"
cp "$repo/native/tern.node" "$repo/native/index.d.ts" "$dest/native/"

if [ "$arch" != "$(dpkg --print-architecture)" ]; then
	bash "$here/lib/build-native.sh" "$arch" "$dest"
fi
say "$arch: $(du -sh "$dest" | cut -f1) under /usr/lib/tern ($(ls "$dest/node_modules" | wc -l) production packages); native: $(file -b "$dest/native/tern.node" | cut -d, -f1-2)"
