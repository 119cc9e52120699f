#!/usr/bin/env bash
# mmdebstrap customize hook: turns the Debian root into the Tern appliance.
#   customize.sh ROOT TERN_STAGE ARCH
# Installs Tern and its units, the image's own files (rootfs/), the mount
# points of the read-only root, and enables what runs at boot.
set -euo pipefail
root=$1 stage=$2 arch=$3
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(dirname "$here")

# The image's files, then Tern under /usr/lib/tern.
tar -C "$here/rootfs" --owner=0 --group=0 -cf - . | tar -C "$root" -xf -
tar -C "$stage" --owner=0 --group=0 -cf - . | tar -C "$root" -xf -
ln -sf /usr/lib/tern/bin/ternctl "$root/usr/bin/ternctl"
ln -sf /usr/lib/tern/bin/tern-exporter "$root/usr/bin/tern-exporter"

# Units, system users and runtime directories from systemd/.
install -m 0644 "$repo"/systemd/*.service "$repo"/systemd/tern.target "$root/usr/lib/systemd/system/"
install -m 0644 "$repo/systemd/tern.sysusers.conf" "$root/usr/lib/sysusers.d/tern.conf"
install -m 0644 "$repo/systemd/tern.tmpfiles.conf" "$root/usr/lib/tmpfiles.d/tern.conf"
chroot "$root" systemd-sysusers
chroot "$root" systemctl enable --quiet tern.target tern-tunneld.service tern-probed.service \
	tern-steerd.service tern-paird.service tern-qosd.service tern-edged.service tern-exporter.service \
	tern-firstboot.service tern-config-rollback.service tern-networkd.service tern-smoke.service tern-smoke-setup.service systemd-networkd.service systemd-resolved.service

# The first-boot configuration must be valid for any machine id: check the
# template with a site name of the same form, with the image's own ternctl.
sed 's/@SITE@/tern-0123abcd/g' "$root/usr/lib/tern-image/tern.yaml.default" >"$root/tmp/tern.yaml"
chroot "$root" /usr/bin/ternctl config validate /tmp/tern.yaml
rm -f "$root/tmp/tern.yaml"

# Jobs of a writable Debian system that have nothing to do on a read-only
# root (apt, dpkg database backup, ext4 snapshot scrubbing).
chroot "$root" systemctl mask --quiet apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
	e2scrub_all.timer e2scrub_reap.service

# Mount points the read-only root must already have (see etc/fstab and the
# initramfs script local-bottom/tern-data), and an empty machine-id for the
# data partition's one to be bound over.
mkdir -p "$root/data" "$root/efi" "$root/etc/tern" "$root/var/lib/tern"
: >"$root/etc/machine-id"
# The root is read-only: no package database updates, no apt caches.
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* "$root/var/log/"*.log "$root/var/log/apt"
