#!/usr/bin/env bash
# What the test suite and the lab need beyond the Rust toolchain, installed only when missing
# (a warm machine skips apt entirely): iproute2 (namespaces), rpm (rpmbuild for the RPM), systemd
# (systemd-analyze for the unit), rustfmt and clippy, and the VM's QEMU, busybox and ipvsadm
# (tests/vm/install-deps.sh; the VM's kernel itself is fetched on first use). Idempotent.
# Called by tests/run-all.sh and tests/lab/demo.sh; needs root to install anything.
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd-container, mmdebstrap: the real-init bed (tests/systemd/); lintian, rpmlint: the
# packages' lint (packaging/check.sh). cockpit-ws, cockpit-bridge, chromium, python3-websocket:
# the web console's browser test (cockpit/test/browser.py: headless chromium over the DevTools
# protocol against `cockpit-ws --local-session`). bird2: `ecmp = 1`'s routing daemon, a real
# BGP router and directors in namespaces (tests/tests/ecmp_bird.rs, etc/bird/).
apt_packages=(iproute2 rpm systemd systemd-container mmdebstrap lintian rpmlint
    cockpit-ws cockpit-bridge chromium python3-websocket bird2)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
        exit 0
    fi
    echo "==> apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The test runner: run-all.sh runs the suite with nextest (filters select the tests that need
# root); machines of this kind ship it, elsewhere it is built from crates.io once.
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "==> cargo install cargo-nextest"
    cargo install --locked cargo-nextest
fi

for comp in rustfmt clippy; do
    if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$comp"
    fi
done

if [ "$(id -u)" = 0 ]; then
    bash tests/vm/install-deps.sh
fi
