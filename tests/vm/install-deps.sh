#!/usr/bin/env bash
# tests/vm/install-deps.sh — install, only when missing, what tests/vm/run-in-vm.sh needs on the
# host (Debian 12 "bookworm", as root): busybox-static, ipvsadm, cpio, iproute2, and
# qemu-system-x86 from bookworm-backports.
#
# Why backports: this machine kind ships qemu-utils 10.0.2 from bookworm-backports, which
# `Breaks: qemu-system-common (<< 1:8.0)`; plain bookworm's qemu-system-x86 (7.2) would make apt
# REMOVE qemu-utils (qemu-img). The backports suite is added with the same mirror and keyring
# as the machine's own Debian source.
#
# Never installs a kernel on the host (linux-image-amd64 pulls udev, which upgrades systemd):
# run-in-vm.sh fetches the kernel .deb with `apt-get download` into its cache instead.
#
# Idempotent: when everything is present it only runs dpkg-query and exits (well under a
# second); apt-get update runs only when something has to be installed.
# Exit: 0 ok, 1 failure.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PLAIN=(busybox-static ipvsadm cpio iproute2 gzip)
QEMU=qemu-system-x86

installed() { # PKG -> 0 when dpkg says "install ok installed"
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}
qemu_ok() { # installed and at least 8.0 (the backports one is 10.x)
    installed "$QEMU" || return 1
    local v
    v=$(dpkg-query -W -f='${Version}' "$QEMU")
    dpkg --compare-versions "$v" ge 1:8.0
}

missing=()
for p in "${PLAIN[@]}"; do installed "$p" || missing+=("$p"); done
# busybox-static provides /bin/busybox; a dynamic busybox (package "busybox") cannot be copied
# into the initramfs, and the two packages conflict: installing busybox-static replaces it.
need_qemu=0
qemu_ok || need_qemu=1

if [ ${#missing[@]} -eq 0 ] && [ $need_qemu = 0 ]; then
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "install-deps: must run as root (missing: ${missing[*]} $([ $need_qemu = 1 ] && echo $QEMU))" >&2; exit 1; }

if [ $need_qemu = 1 ] && ! grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || { echo "install-deps: no Debian source configured" >&2; exit 1; }
    echo "install-deps: adding bookworm-backports ($uri)" >&2
    cat > /etc/apt/sources.list.d/bookworm-backports.sources <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

echo "install-deps: installing ${missing[*]} $([ $need_qemu = 1 ] && echo "$QEMU (bookworm-backports)")" >&2
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ $need_qemu = 1 ]; then
    apt-get install -y -qq --no-install-recommends -t bookworm-backports "$QEMU" >/dev/null
fi
qemu-system-x86_64 --version | head -1 >&2
