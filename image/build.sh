#!/usr/bin/env bash
# Builds the Tern appliance disk image for one architecture:
#   image/build.sh amd64|arm64
# Output: image/out/<arch>/tern-<arch>.img (raw GPT disk: ESP, root slot A,
# root slot B, data) plus its manifest. Debian packages are cached in
# $TERN_IMAGE_CACHE (default /var/cache/tern-image), outside the repository.
# The build is repeatable: every timestamp, UUID and volume id derives from
# SOURCE_DATE_EPOCH (default: the last commit's date) and the architecture.
# Needs root (mmdebstrap --mode=root, chroot) and `make image-deps`.
set -euo pipefail

arch=${1:-${ARCH:-amd64}}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
suite=${TERN_IMAGE_SUITE:-trixie}
mirror=${TERN_IMAGE_MIRROR:-http://deb.debian.org/debian}
cache=${TERN_IMAGE_CACHE:-/var/cache/tern-image}
work=${TERN_IMAGE_WORK:-/var/tmp/tern-image-$arch}
out=${TERN_IMAGE_OUT:-$here/out/$arch}
# The host's Node options (a test runner's --import hooks, say) name files
# that do not exist inside the target root, where node runs too.
unset NODE_OPTIONS NODE_V8_COVERAGE
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)}

# Partition sizes in MiB. The ESP holds kernel and initrd of both slots.
esp_mib=256 slot_mib=768 data_mib=256

extra=
case $arch in
amd64) kernel=linux-image-amd64 efi=x64 efi_upper=X64 console=ttyS0 gpt_root=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709 ;;
arm64) kernel=linux-image-arm64 efi=aa64 efi_upper=AA64 console=ttyAMA0 gpt_root=B921B045-1DF0-41C3-AF44-4C6F280D3FAE
	extra=libsqlite3-0 ;; # sqlite3's addon is linked to Debian's SQLite there (lib/build-native.sh)
*) echo "image: unknown ARCH '$arch'; want amd64 or arm64" >&2; exit 2 ;;
esac
gpt_esp=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
gpt_linux=0FC63DAF-8483-4772-8E79-3D69D8477DE4

# What the appliance runs. No recommends (mmdebstrap's default): they pull
# firmware, documentation and desktop bits an appliance does not need.
packages=(
	"$kernel" systemd systemd-sysv systemd-resolved systemd-boot-efi udev dbus
	initramfs-tools busybox zstd kmod e2fsprogs
	nodejs ca-certificates wireguard-tools nftables iproute2 iptables procps
	libnetfilter-queue1 libnetfilter-conntrack3 libmnl0 dnsmasq-base $extra
)

say() { printf 'image: %s\n' "$*"; }
die() { printf 'image: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap --mode=root and chroot)"
for t in mmdebstrap mksquashfs mkfs.fat mcopy mmd mkfs.ext4 sfdisk; do
	command -v $t >/dev/null || die "$t missing; run make image-deps"
done
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
	[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "no qemu-aarch64 binfmt handler; run make image-deps"
fi

# uuid NAME: a fixed UUID for NAME, so the image is the same on every build.
uuid() {
	local h
	h=$(printf 'tern-image/%s/%s' "$arch" "$1" | sha256sum | cut -c1-32)
	printf '%s-%s-4%s-8%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" "${h:17:3}" "${h:20:12}"
}

t0=$(date +%s)
mkdir -p "$out" "$cache/debs-$arch"
# One build per architecture at a time on this machine: two builds share the
# work tree and the package cache, and one would remove the other's root
# while its chroot has /proc and /sys mounted (two CI runs side by side did).
# The second waits for the first.
exec {lock}>"$cache/build-$arch.lock"
if ! flock -n "$lock"; then
	say "$arch: another build of $arch runs on this machine; waiting for it"
	flock "$lock"
fi
# Never remove the work tree while something is still mounted in it (a
# failed chroot step could leave /proc or /dev there), and never cross into
# another file system while removing it.
mounted() { grep -q " $work/" /proc/mounts; }
remove_work() {
	if mounted; then
		echo "image: not removing $work: still mounted: $(grep " $work/" /proc/mounts | cut -d' ' -f2 | xargs)" >&2
		return 1
	fi
	rm -rf --one-file-system "$work"
}
remove_work || die "unmount what is left under $work (a failed earlier build), then build again"
mkdir -p "$work"
trap 'remove_work || true' EXIT

say "$arch: SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH ($(date -u -d "@$SOURCE_DATE_EPOCH" +%FT%TZ)), cache $cache"

# 1. Tern itself, staged as it will sit under /usr/lib/tern.
bash "$here/lib/stage-tern.sh" "$arch" "$work/tern"
t1=$(date +%s)

# 2. The root filesystem. The .debs are synced in from the cache before apt
#    runs and back out after, so a warm build downloads nothing.
root=$work/root
{ mmdebstrap --mode=root --variant=minbase --arch="$arch" \
	--include="$(IFS=,; echo "${packages[*]}")" \
	--aptopt='Acquire::Languages "none"' \
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--skip=essential/unlink \
	--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
	--setup-hook="sync-in $cache/debs-$arch /var/cache/apt/archives/" \
	--essential-hook='mkdir -p "$1"/etc/initramfs-tools' \
	--essential-hook="copy-in $here/rootfs/etc/initramfs-tools/conf.d $here/rootfs/etc/initramfs-tools/hooks $here/rootfs/etc/initramfs-tools/scripts /etc/initramfs-tools/" \
	--customize-hook="sync-out /var/cache/apt/archives $cache/debs-$arch" \
	--customize-hook="bash $here/lib/customize.sh \"\$1\" $work/tern $arch" \
	"$suite" "$root" "$mirror"; echo $? >"$work/mmdebstrap.rc"; } 2>&1 |
	grep -v -E '^I: (running|downloading|extracting|installing|unpacking|configuring)' || true
[ "$(cat "$work/mmdebstrap.rc")" = 0 ] || die "mmdebstrap failed (exit $(cat "$work/mmdebstrap.rc")); see above"
t2=$(date +%s)

kver=$(basename "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)" | sed 's/^vmlinuz-//')
[ -n "$kver" ] || die "no kernel in the root"
chroot "$root" dpkg-query -W -f='${Package} ${Version} ${Architecture}\n' >"$out/packages.txt"

# 3. Root slot A: a read-only squashfs. mksquashfs takes SOURCE_DATE_EPOCH
#    as the time of the filesystem and of every file in it.
mksquashfs "$root" "$work/root.sqfs" -noappend -comp zstd -Xcompression-level 15 -b 256K \
	-processors 2 -no-progress -quiet >/dev/null
sqfs_bytes=$(stat -c %s "$work/root.sqfs")
((sqfs_bytes <= slot_mib * 1024 * 1024)) || die "root.sqfs is $((sqfs_bytes >> 20)) MiB; a slot holds $slot_mib MiB"

# 4. The ESP: systemd-boot, and kernel + initrd of slot A with its entry.
part_esp=$(uuid esp) part_a=$(uuid root-a) part_b=$(uuid root-b) part_data=$(uuid data)
esp=$work/esp
mkdir -p "$esp/EFI/BOOT" "$esp/loader/entries" "$esp/tern-a"
cp "$root/usr/lib/systemd/boot/efi/systemd-boot$efi.efi" "$esp/EFI/BOOT/BOOT$efi_upper.EFI"
cp "$root/boot/vmlinuz-$kver" "$esp/tern-a/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$esp/tern-a/initrd.img"
cat >"$esp/loader/loader.conf" <<-EOF
	default tern-a.conf
	timeout 0
	editor no
EOF
cat >"$esp/loader/entries/tern-a.conf" <<-EOF
	title Tern (slot A, Debian $suite, kernel $kver)
	linux /tern-a/vmlinuz
	initrd /tern-a/initrd.img
	options root=PARTUUID=$part_a rootfstype=squashfs ro console=tty0 console=$console,115200 net.ifnames=0 panic=10
EOF
esp_img=$work/esp.img
mkfs.fat -F 32 -n TERN-ESP -i "$(printf %s "$part_esp" | cut -c1-8)" --invariant -C "$esp_img" $((esp_mib * 1024)) >/dev/null
find "$esp" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$esp" && find . -mindepth 1 -type d | sort | sed 's|^\./||' | while read -r d; do mmd -i "$esp_img" "::$d"; done
 find . -type f | sort | sed 's|^\./||' | while read -r f; do mcopy -m -i "$esp_img" "$f" "::$f"; done)

# 5. The data partition: empty ext4; the initramfs fills it on first boot.
data_img=$work/data.img
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mkfs.ext4 -q -F -L tern-data -U "$part_data" \
	-E "hash_seed=$part_data,root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0" "$data_img" "${data_mib}M"

# 6. The disk: GPT with fixed ids, partitions written in place (sparse).
disk=$out/tern-$arch.img
rm -f "$disk"
total_mib=$((1 + esp_mib + 2 * slot_mib + data_mib + 1))
truncate -s "${total_mib}M" "$disk"
mib=2048 # sectors per MiB
sfdisk --quiet --no-reread --no-tell-kernel "$disk" <<-EOF
	label: gpt
	label-id: $(uuid disk)
	unit: sectors
	first-lba: 2048
	start=$((1 * mib)), size=$((esp_mib * mib)), type=$gpt_esp, uuid=$part_esp, name="tern-esp"
	start=$(((1 + esp_mib) * mib)), size=$((slot_mib * mib)), type=$gpt_root, uuid=$part_a, name="tern-root-a"
	start=$(((1 + esp_mib + slot_mib) * mib)), size=$((slot_mib * mib)), type=$gpt_root, uuid=$part_b, name="tern-root-b"
	start=$(((1 + esp_mib + 2 * slot_mib) * mib)), size=$((data_mib * mib)), type=$gpt_linux, uuid=$part_data, name="tern-data"
EOF
dd if="$esp_img" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/root.sqfs" of="$disk" bs=1M seek=$((1 + esp_mib)) conv=notrunc,sparse status=none
dd if="$data_img" of="$disk" bs=1M seek=$((1 + esp_mib + 2 * slot_mib)) conv=notrunc,sparse status=none
t3=$(date +%s)

sha=$(sha256sum "$disk" | cut -d' ' -f1)
{
	echo "arch=$arch suite=$suite kernel=$kver node=$(chroot "$root" node --version)"
	echo "source_date_epoch=$SOURCE_DATE_EPOCH commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null)$(git -C "$repo" diff --quiet HEAD 2>/dev/null || echo -dirty)"
	echo "sha256=$sha"
	echo "disk_mib=$total_mib esp_mib=$esp_mib slot_mib=$slot_mib data_mib=$data_mib"
	echo "root_sqfs_bytes=$sqfs_bytes root_unpacked_kib=$(du -sk "$root" | cut -f1)"
	echo "partuuid esp=$part_esp root-a=$part_a root-b=$part_b data=$part_data"
} >"$out/manifest.txt"
cp "$esp/loader/entries/tern-a.conf" "$out/"

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
say "$arch: built $disk in $((t3 - t0)) s (stage Tern $((t1 - t0)) s, root filesystem $((t2 - t1)) s, squashfs + disk $((t3 - t2)) s)"
say "$arch: size: disk $(mb "$(stat -c %s "$disk")") ($(mb $(($(stat -c %b "$disk") * 512))) allocated), root slot $(mb "$sqfs_bytes") squashfs of $(mb $(($(du -sk "$root" | cut -f1) * 1024))), $(wc -l <"$out/packages.txt") packages, kernel $kver"
say "$arch: sha256 $sha"
