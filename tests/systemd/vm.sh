#!/usr/bin/env bash
# tests/systemd/vm.sh PKGDIR: the deb's life cycle (lifecycle.sh) in a QEMU VM booting Debian's
# own kernel (which has ip_vs) with systemd as PID 1: the variant with real IPVS, where pulse runs
# the packaged lvsd and the table is checked with ipvsadm (weights after a reload, empty after
# `dpkg -r`). PKGDIR holds the two debs and lifecycle.sh (tests/systemd/run.sh prepares it;
# PULSE_SYSTEMD_BED=vm tests/systemd/run.sh runs this).
#
# The image: a Debian bookworm root with linux-image-amd64 (mmdebstrap, about 2 min and 700 MB
# once), as an ext4 image plus its kernel and initrd, cached under $PULSE_SYSTEMD_CACHE
# (/var/cache/pulse-systemd-test) keyed by a hash of this script; each run boots a qcow2 overlay
# of it, so the image is never written. PKGDIR is shared over virtio-9p; a oneshot unit in the
# image runs lifecycle.sh from there, writes its output and status back and powers off.
# QEMU under TCG (never KVM on this machine kind: tests/vm/README.md); VM_TIMEOUT (default 900 s)
# bounds the whole run, and qemu is killed and the overlay removed on any exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
pkgs=$(readlink -f "$1")
say() { echo "systemd-vm: $*"; }
die() { echo "systemd-vm: $*" >&2; exit 1; }
t0=$(date +%s.%N)
secs() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }
for t in qemu-system-x86_64 qemu-img mkfs.ext4 mmdebstrap; do
    command -v "$t" >/dev/null || die "$t missing (tests/install-deps.sh)"
done

CACHE=${PULSE_SYSTEMD_CACHE:-/var/cache/pulse-systemd-test}
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,dbus,iproute2,procps,kmod,ipvsadm,linux-image-amd64,initramfs-tools
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
key=$( { printf '%s\n' "$SUITE" "$MIRROR" "$PACKAGES"; cat "$0"; } | sha256sum | cut -c1-16)
img=$CACHE/vm-$key
mkdir -p "$CACHE"
exec 8>"$CACHE/.vm-lock"
flock -w 1200 8 || die "$CACHE is locked by another run"
if [ ! -f "$img/.complete" ]; then
    for old in "$CACHE"/vm-*; do [ -d "$old" ] && [ "$old" != "$img" ] && rm -rf "$old"; done
    rm -rf "$img.tmp"
    mkdir -p "$img.tmp"
    say "building the VM image $img (once)"
    # The unit that runs the test: mounts the share, runs lifecycle.sh, reports, powers off.
    cat >"$img.tmp/pulse-test.service" <<'UNIT'
[Unit]
Description=Pulse life-cycle test (tests/systemd/vm.sh)
After=multi-user.target
[Service]
Type=oneshot
TimeoutStartSec=infinity
StandardOutput=journal+console
ExecStart=/bin/sh -c 'modprobe -a 9pnet_virtio 9p && mkdir -p /mnt/pulse-test && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 pulsetest /mnt/pulse-test && rc=0 && { /bin/bash /mnt/pulse-test/lifecycle.sh /mnt/pulse-test >/mnt/pulse-test/lifecycle.log 2>&1 || rc=$?; } ; echo $rc >/mnt/pulse-test/status; sync; systemctl poweroff --no-block'
[Install]
WantedBy=multi-user.target
UNIT
    timeout 1200 mmdebstrap --quiet --mode=root --variant=minbase --include="$PACKAGES" \
        --customize-hook="cp '$img.tmp/pulse-test.service' \"\$1/etc/systemd/system/\"" \
        --customize-hook='chroot "$1" systemctl enable pulse-test.service >/dev/null 2>&1' \
        --customize-hook='chroot "$1" systemctl mask getty@.service serial-getty@.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true' \
        --customize-hook='echo pulse-vm >"$1/etc/hostname"; echo "/dev/vda / ext4 rw 0 1" >"$1/etc/fstab"' \
        "$SUITE" "$img.tmp/root" "deb $MIRROR $SUITE main" >&2
    cp "$img.tmp"/root/boot/vmlinuz-* "$img.tmp/vmlinuz"
    cp "$img.tmp"/root/boot/initrd.img-* "$img.tmp/initrd.img"
    rm -rf "$img.tmp/root/usr/share/doc" "$img.tmp/root/usr/share/man" "$img.tmp/root/var/cache/apt"
    mkfs.ext4 -q -F -L root -d "$img.tmp/root" "$img.tmp/root.img" 2G
    rm -rf "$img.tmp/root" "$img.tmp/pulse-test.service"
    touch "$img.tmp/.complete"
    mv "$img.tmp" "$img"
    say "image built in $(secs) s"
fi
flock -u 8

work=$(mktemp -d "${TMPDIR:-/tmp}/pulse-systemd-vm.XXXXXX")
qpid=
cleanup() {
    set +e
    [ -n "$qpid" ] && kill -KILL "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$pkgs/out" "$pkgs/status" "$pkgs/lifecycle.log"
qemu-img create -q -f qcow2 -F raw -b "$img/root.img" "$work/run.qcow2"
qemu-system-x86_64 -accel tcg -cpu max -m "${VM_MEM:-2048}" -smp "${VM_SMP:-2}" -nodefaults \
    -display none -no-reboot -nic none \
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 quiet loglevel=4 panic=-1 systemd.show_status=false" \
    -drive "file=$work/run.qcow2,if=virtio,format=qcow2" \
    -virtfs "local,path=$pkgs,mount_tag=pulsetest,security_model=none" \
    -serial "file:$work/console.log" &
qpid=$!
limit=$(( $(date +%s) + ${VM_TIMEOUT:-900} ))
while kill -0 "$qpid" 2>/dev/null && [ "$(date +%s)" -lt "$limit" ]; do sleep 1; done
if kill -0 "$qpid" 2>/dev/null; then
    tail -40 "$work/console.log" >&2
    [ -f "$pkgs/lifecycle.log" ] && cat "$pkgs/lifecycle.log"
    die "the VM did not finish within ${VM_TIMEOUT:-900} s"
fi
wait "$qpid" || true
qpid=
[ -f "$pkgs/lifecycle.log" ] && cat "$pkgs/lifecycle.log"
status=$(cat "$pkgs/status" 2>/dev/null || true)
if [ -z "$status" ]; then
    tail -60 "$work/console.log" >&2
    die "no status came back from the VM"
fi
out=$pkgs/out
if [ -f "$out/security.txt" ]; then
    grep 'Overall' "$out/security.txt" | sed 's/^/systemd-vm: security: /' || true
fi
if [ -s "$out/metrics.txt" ]; then
    bash tests/systemd/dashboard.sh packaging/grafana/pulse.json "$out/metrics.txt" || status=1
fi
if [ -n "${PULSE_SYSTEMD_KEEP:-}" ]; then
    mkdir -p "$PULSE_SYSTEMD_KEEP" && cp -a "$out/." "$PULSE_SYSTEMD_KEEP/"
fi
say "VM life cycle: $([ "$status" = 0 ] && echo passed || echo FAILED) in $(secs) s"
[ "$status" = 0 ]
