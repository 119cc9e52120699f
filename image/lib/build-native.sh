#!/usr/bin/env bash
# Builds Tern's two native modules for a foreign architecture inside a Debian
# build root of that architecture, run through qemu-user (binfmt):
#   build-native.sh ARCH DEST      (DEST = the staged /usr/lib/tern)
# native/tern.node with Debian's rustc/cargo (the crate has no dependencies,
# so cargo runs --offline), and sqlite3's node_sqlite3.node with Debian's
# node-gyp against Debian's Node headers. A cross toolchain would be faster,
# but rustup cannot fetch a target's std here and Debian's rustc is the one
# the crate promises to build with (rust-version 1.85).
# The build root is kept as a tarball in the cache, keyed by its package list.
set -euo pipefail
arch=$1 dest=$2
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(dirname "$here")
suite=${TERN_IMAGE_SUITE:-trixie}
mirror=${TERN_IMAGE_MIRROR:-http://deb.debian.org/debian}
cache=${TERN_IMAGE_CACHE:-/var/cache/tern-image}
work=${TERN_IMAGE_WORK:-/var/tmp/tern-image-$arch}/buildroot
say() { printf 'image: native %s: %s\n' "$arch" "$*"; }

packages=nodejs,node-gyp,libnode-dev,python3,make,g++,rustc,cargo,libnetfilter-queue-dev,libnetfilter-conntrack-dev,libmnl-dev,libsqlite3-dev
key=$(printf '%s %s %s' "$suite" "$arch" "$packages" | sha256sum | cut -c1-12)
tarball=$cache/buildroot-$arch-$key.tar
t0=$(date +%s)
if [ ! -s "$tarball" ]; then
	say "creating the build root (once; cached as $tarball)"
	mkdir -p "$cache/debs-$arch"
	mmdebstrap --mode=root --format=tar --variant=minbase --arch="$arch" --include="$packages" \
		--aptopt='Acquire::Languages "none"' --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
		--skip=essential/unlink \
		--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
		--setup-hook="sync-in $cache/debs-$arch /var/cache/apt/archives/" \
		--customize-hook="sync-out /var/cache/apt/archives $cache/debs-$arch" \
		"$suite" "$tarball.new" "$mirror" 2>&1 | grep -E '^(E|W):' || true
	[ -s "$tarball.new" ] || { echo "image: native $arch: mmdebstrap failed" >&2; exit 1; }
	mv "$tarball.new" "$tarball"
fi
rm -rf "$work"; mkdir -p "$work"
tar -C "$work" -xf "$tarball"
t1=$(date +%s)

# The outputs are cached too, keyed by everything they are built from: under
# qemu-user tern.node takes ~8 min and sqlite3's binding a few.
out_key=$( { printf '%s\n' "$key"; cat "$repo/native/Cargo.toml" "$repo/native/Cargo.lock" "$repo/native/build.rs";
	find "$repo/native/src" -type f | LC_ALL=C sort | xargs cat; cat "$dest/node_modules/sqlite3/package.json" "$dest/node_modules/node-addon-api/package.json"; } |
	sha256sum | cut -c1-12)
built=$cache/native-$arch-$out_key
if [ -s "$built/tern.node" ] && [ -s "$built/node_sqlite3.node" ]; then
	cp "$built/tern.node" "$dest/native/tern.node"
	cp "$built/node_sqlite3.node" "$dest/node_modules/sqlite3/build/Release/node_sqlite3.node"
	say "tern.node and node_sqlite3.node from the cache ($built)"
	rm -rf "$work"
	exit 0
fi

mkdir -p "$work/build/native"
cp -a "$repo/native/Cargo.toml" "$repo/native/Cargo.lock" "$repo/native/build.rs" "$repo/native/src" "$work/build/native/"
cp -a "$dest/node_modules/sqlite3" "$work/build/sqlite3"
# What sqlite3's binding.gyp requires at configure time (found from
# /build/sqlite3 through /build/node_modules).
mkdir -p "$work/build/node_modules"
cp -a "$dest/node_modules/node-addon-api" "$work/build/node_modules/"
rm -rf "$work/build/sqlite3/build"
mount -t proc proc "$work/proc"
trap 'umount "$work/proc" 2>/dev/null || true' EXIT
chroot "$work" sh -ec 'cd /build/native && CARGO_HOME=/build/.cargo cargo build --release --offline --quiet'
t2=$(date +%s)
chroot "$work" sh -ec 'cd /build/sqlite3 && HOME=/build node-gyp rebuild --release --nodedir=/usr --sqlite=/usr -j 2 >/build/node-gyp.log 2>&1' ||
	{ tail -30 "$work/build/node-gyp.log" >&2; exit 1; }
t3=$(date +%s)
umount "$work/proc"; trap - EXIT

cp "$work/build/native/target/release/libtern.so" "$dest/native/tern.node"
cp "$work/build/sqlite3/build/Release/node_sqlite3.node" "$dest/node_modules/sqlite3/build/Release/node_sqlite3.node"
say "rustc $(chroot "$work" rustc --version | cut -d' ' -f2), node-gyp against node $(chroot "$work" node --version); build root $((t1 - t0)) s, tern.node $((t2 - t1)) s, node_sqlite3.node $((t3 - t2)) s (qemu-user)"
for f in "$dest/native/tern.node" "$dest/node_modules/sqlite3/build/Release/node_sqlite3.node"; do
	file -b "$f" | grep -q 'ARM aarch64' || { echo "image: native $arch: $f is not aarch64: $(file -b "$f")" >&2; exit 1; }
done
mkdir -p "$built.new"
cp "$dest/native/tern.node" "$dest/node_modules/sqlite3/build/Release/node_sqlite3.node" "$built.new/"
rm -rf "$built"; mv "$built.new" "$built"
rm -rf "$work"
