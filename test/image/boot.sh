#!/usr/bin/env bash
# Boots the amd64 Tern image in QEMU (TCG, no KVM; OVMF firmware) with the
# tern.smoke credential, so tern-smoke.service checks the booted appliance
# (read-only root, data partition, first-boot identity and key, tern.target
# and every daemon active, `ternctl status`, restart after SIGKILL, watchdog
# restart of a hung daemon) and powers off. Passes only on its PASS line.
#   test/image/boot.sh IMAGE
# The serial log is kept in .test-out/image/serial.log. The image file is not
# changed: QEMU writes to a temporary overlay (-snapshot).
set -uo pipefail
img=${1:?usage: boot.sh IMAGE}
repo=$(cd "$(dirname "$0")/../.." && pwd)
outdir=$repo/.test-out/image
log=$outdir/serial.log
limit=${TERN_IMAGE_BOOT_TIMEOUT:-1500}
cpus=${TERN_IMAGE_CPUS:-2}
say() { printf 'image-test: %s\n' "$*"; }

[ -r "$img" ] || { say "no image $img; run make image ARCH=amd64"; exit 1; }
code=/usr/share/OVMF/OVMF_CODE_4M.fd vars=/usr/share/OVMF/OVMF_VARS_4M.fd
[ -r $code ] || { say "no OVMF firmware ($code); run make image-deps"; exit 1; }
mkdir -p "$outdir"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp $vars "$tmp/vars.fd"
: >"$log"

# A guest kernel that panics before it starts init (no "Run /init" line)
# never ran a line of the image's own userspace: under TCG that is the
# emulator (an int3 Oops while the kernel patches its text on 2 vCPUs, seen
# once in a CI run here), so it boots again, once, and says so. A
# panic after init starts is the image's and fails at once.
early_panic() { tr -d '\r' <"$log" | grep -a -q 'Kernel panic' && ! tr -d '\r' <"$log" | grep -a -q -E 'Run /init|Run /sbin/init'; }

say "booting $img ($(du -h --apparent-size "$img" | cut -f1), TCG, $cpus vCPUs, limit ${limit}s); serial log $log"
for attempt in 1 2; do
t0=$(date +%s)
# Two NICs as the default configuration expects: eth0 (WAN, DHCP from
# QEMU's user network) and eth1 (LAN, nothing behind it).
# CPU time is reported too: on a shared machine the wall time says more
# about the neighbours than about the image.
TIMEFORMAT='%U %S'
{ time timeout --foreground -k 10 "$limit" qemu-system-x86_64 \
	-machine q35,accel=tcg -cpu max -smp "$cpus" -m 1536 \
	-drive if=pflash,format=raw,unit=0,readonly=on,file=$code \
	-drive if=pflash,format=raw,unit=1,file="$tmp/vars.fd" \
	-drive if=virtio,format=raw,file="$img" -snapshot \
	-nic user,model=virtio-net-pci -nic user,model=virtio-net-pci,restrict=on \
	-smbios type=11,value=io.systemd.credential:tern.smoke=1 \
	-display none -vga none -no-reboot -serial file:"$log" -monitor none \
	>"$tmp/qemu.out" 2>&1; echo $? >"$tmp/rc"; } 2>"$tmp/cpu"
rc=$(cat "$tmp/rc")
cpu=$(awk '{ printf "%d", $1 + $2 }' "$tmp/cpu")
t1=$(date +%s)
if [ $attempt = 1 ] && early_panic; then
	cp "$log" "$outdir/serial.panic.log"
	say "the guest kernel panicked before starting init (serial log kept in $outdir/serial.panic.log):"
	tr -d '\r' <"$log" | grep -a -m3 -E 'Oops|RIP:|Kernel panic' | sed 's/^/  /'
	say "an emulator fault, not the image's: booting again (once)"
	cp $vars "$tmp/vars.fd"; : >"$log"
	continue
fi
break
done

# The smoke lines without the terminal's carriage returns.
tr -d '\r' <"$log" | grep -a 'TERN-SMOKE:' | sed 's/^.*TERN-SMOKE: /  /' >"$tmp/smoke.txt"
tr -d '\r' <"$log" | grep -a -E '^  \| ' >"$tmp/detail.txt"
cat "$tmp/smoke.txt"
[ -s "$tmp/detail.txt" ] && { say "ternctl status and failure details:"; cat "$tmp/detail.txt"; }
if [ $rc = 124 ] || [ $rc = 137 ]; then
	say "FAIL: no power-off within ${limit}s; last serial lines:"
	tr -d '\r' <"$log" | tail -25 | sed 's/^/  /'
	exit 1
fi
[ $rc = 0 ] || { say "FAIL: qemu exited $rc: $(cat "$tmp/qemu.out")"; exit 1; }
boot=$(tr -d '\r' <"$log" | grep -a -m1 'TERN-SMOKE: boot:' | sed 's/.*Startup finished in //')
if grep -q '^  RESULT PASS' "$tmp/smoke.txt"; then
	say "PASS in $((t1 - t0)) s from power-on to power-off, QEMU used $cpu s of CPU (systemd: ${boot:-?})"
	exit 0
fi
if ! [ -s "$tmp/smoke.txt" ]; then
	say "FAIL: the smoke test never ran; last serial lines:"
	tr -d '\r' <"$log" | tail -25 | sed 's/^/  /'
else
	say "FAIL after $((t1 - t0)) s (QEMU used $cpu s of CPU): see the lines above and $log"
fi
exit 1
