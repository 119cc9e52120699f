#!/usr/bin/env bash
# Checks the root slot of a Tern image built for another architecture (arm64)
# without booting it: the binaries are of the image's architecture, and
# Node loads tern.node and sqlite3 and runs ternctl, through qemu-user.
#   test/image/check-rootfs.sh IMAGE [ARCH]
set -uo pipefail
img=${1:?usage: check-rootfs.sh IMAGE [ARCH]}
arch=${2:-arm64}
case $arch in
arm64) want='ARM aarch64' ;;
amd64) want='x86-64' ;;
*) echo "check-rootfs: unknown arch $arch" >&2; exit 2 ;;
esac
say() { printf 'check-rootfs: %s\n' "$*"; }
fails=0
ok() { say "$1: ok${2:+ ($2)}"; }
fail() { say "$1: FAIL $2"; fails=$((fails + 1)); }

tmp=$(mktemp -d /var/tmp/tern-check-XXXXXX)
root=$tmp/root
cleanup() {
	umount "$root/proc" 2>/dev/null
	grep -q " $tmp/" /proc/mounts || rm -rf "$tmp"
}
trap cleanup EXIT

# Slot A is the second partition (GPT name tern-root-a).
start=$(sfdisk -J "$img" | python3 -c 'import json,sys; p=[p for p in json.load(sys.stdin)["partitiontable"]["partitions"] if p.get("name")=="tern-root-a"]; print(p[0]["start"] if p else "")')
[ -n "$start" ] || { say "FAIL: no partition tern-root-a in $img"; exit 1; }
unsquashfs -q -n -o $((start * 512)) -d "$root" "$img" >/dev/null || { say "FAIL: cannot unpack the root slot"; exit 1; }
ok "root slot" "$(du -sh "$root" | cut -f1) unpacked"

for f in usr/bin/node usr/bin/wg usr/sbin/nft usr/lib/tern/native/tern.node \
	usr/lib/tern/node_modules/sqlite3/build/Release/node_sqlite3.node; do
	got=$(file -bL "$root/$f")
	[[ $got == *"$want"* ]] && ok "$f" "$(cut -d, -f1-2 <<<"$got")" || fail "$f" "is '$got'; want $want"
done

mount -t proc proc "$root/proc"
t0=$(date +%s)
js='
const native = await import("/usr/lib/tern/dist/daemons/lib/native/index.js");
const m = native.loadNative();
const sqlite3 = (await import("module")).createRequire("/usr/lib/tern/")("sqlite3");
const db = new sqlite3.Database(":memory:");
db.get("select sqlite_version() as v", (err, row) => {
  if (err) { console.error(err); process.exit(1); }
  console.log(`${process.arch} node ${process.version}; tern.node exports ${Object.keys(m).length}: ${Object.keys(m).sort().join(" ")}; sqlite ${row.v}`);
});'
if out=$(chroot "$root" /usr/bin/node --input-type=module -e "$js" 2>&1); then
	ok "native modules load" "$out"
else
	fail "native modules load" "$out"
fi
sed 's/@SITE@/tern-check/g' "$root/usr/lib/tern-image/tern.yaml.default" >"$root/tmp/tern.yaml"
if out=$(chroot "$root" /usr/bin/ternctl config validate /tmp/tern.yaml 2>&1); then
	ok "ternctl config validate" "$out"
else
	fail "ternctl config validate" "$out"
fi
say "node under qemu-user: $(($(date +%s) - t0)) s for the checks"
((fails == 0)) && { say PASS; exit 0; }
say "FAIL ($fails checks)"; exit 1
