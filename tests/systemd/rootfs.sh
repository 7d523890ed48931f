#!/usr/bin/env bash
# tests/systemd/rootfs.sh: prints the path of a cached Debian bookworm root with systemd, built
# once with mmdebstrap (about 1 min, 500 MB) under $PULSE_SYSTEMD_CACHE
# (/var/cache/pulse-systemd-test), outside the repository. The directory name carries a hash
# of everything that goes into it (suite, mirror, package list, this script), so a change
# rebuilds it and an unchanged one is reused; older roots are deleted. Needs root and
# mmdebstrap. Concurrent callers wait for one another (flock).
set -euo pipefail
CACHE=${PULSE_SYSTEMD_CACHE:-/var/cache/pulse-systemd-test}
SUITE=bookworm
# What the tests use in the guest: systemd as PID 1 (systemd-sysv), dbus for systemctl's
# polkit-free path, ip, ps/pgrep, kmod (modprobe), ipvsadm, and the kernel for the VM variant
# is added by vm.sh, not here.
PACKAGES=systemd,systemd-sysv,dbus,iproute2,procps,kmod,ipvsadm
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$MIRROR" ] || MIRROR=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

key=$( { printf '%s\n' "$SUITE" "$MIRROR" "$PACKAGES"; cat "$0"; } | sha256sum | cut -c1-16)
dir=$CACHE/rootfs-$key
mkdir -p "$CACHE"
exec 8>"$CACHE/.lock"
flock -w 900 8 || { echo "rootfs.sh: $CACHE is locked by another run for 15 min" >&2; exit 1; }
if [ ! -f "$dir/.complete" ]; then
    command -v mmdebstrap >/dev/null || { echo "rootfs.sh: mmdebstrap missing (apt-get install mmdebstrap)" >&2; exit 1; }
    for old in "$CACHE"/rootfs-*; do
        [ -e "$old" ] && [ "$old" != "$dir" ] && rm -rf "$old"
    done
    rm -rf "$dir.tmp"
    t0=$(date +%s)
    echo "rootfs.sh: building $dir (mmdebstrap $SUITE, once)" >&2
    timeout 900 mmdebstrap --quiet --mode=root --variant=minbase --include="$PACKAGES" \
        --customize-hook='echo pulse-test >"$1/etc/hostname"' \
        --customize-hook='chroot "$1" systemctl mask getty@.service console-getty.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true' \
        "$SUITE" "$dir.tmp" "deb $MIRROR $SUITE main" >&2
    touch "$dir.tmp/.complete"
    mv "$dir.tmp" "$dir"
    echo "rootfs.sh: built in $(($(date +%s) - t0)) s ($(du -sh "$dir" | cut -f1))" >&2
fi
echo "$dir"
