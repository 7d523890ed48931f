#!/usr/bin/env bash
# The lab (the README's first command): the whole director pair on real IPVS. Two directors
# running pulse (each with its lvsd: warm standby), three web servers and a client, each in a
# network namespace on a bridge, on TEST addresses that never leave them; the client sends a
# request to the VIP every 10 ms, the active director is crashed (SIGKILL of pulse and lvsd, its
# cable pulled) and the failover timeline is printed with both IPVS tables. Program:
# tests/src/bin/pulse-lab.rs, on the bed of the VM tests (tests/src/pair_bed.rs).
#
# Where the running kernel has IPVS the lab runs right here; otherwise (this machine kind has
# none) in the project's VM (tests/vm/: QEMU with a Debian kernel, installed and fetched on first
# use). Needs root. `tests/lab/demo.sh --nat` runs it with network = nat; `tests/lab/demo.sh --fos`
# runs service = fos (failover services: a small HTTP server on each director, no IPVS) here;
# `tests/lab/demo.sh --ecmp` runs ecmp = 1 (docs/ecmp.md; bed tests/src/ecmp_bed/): three
# directors active at once behind a BIRD router's ECMP route, the host's `bird` (bird2, from
# tests/install-deps.sh) copied into the VM; it shows the traffic shared, then kills one director
# and drains another under long-lived flows and new connections, with each timeline.
# Exits with the lab's status: 0 when the survivor serves with the same table (--ecmp: when no
# flow is lost on the other directors, none of the drained one's and at most 5 % of the killed
# one's, no flow pauses over 1.5 s and no new connection fails).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd -P)
[ "$(id -u)" = 0 ] || { echo "demo.sh: the lab needs root (network namespaces, IPVS)" >&2; exit 1; }
bash tests/install-deps.sh >/dev/null
cargo build --quiet --locked -p pulse-daemon --bin pulse -p lvsd --bin lvsd -p pulsectl --bin pulsectl \
    -p pulse-e2e --bin pulse-lab
target=$(cargo metadata --no-deps --format-version 1 --locked | grep -o '"target_directory":"[^"]*"' |
    sed 's/^"target_directory":"\(.*\)"$/\1/')
bin=$target/debug
env=(PULSE_PULSE="$bin/pulse" PULSE_LVSD="$bin/lvsd" PULSE_PULSECTL="$bin/pulsectl" RUST_BACKTRACE=1)

# --fos: failover services need no IPVS; the lab runs on this host.
for a in "$@"; do
    if [ "$a" = --fos ]; then
        exec env "${env[@]}" "$bin/pulse-lab" "$@"
    fi
done
if modprobe -q ip_vs 2>/dev/null && [ -e /proc/net/ip_vs ]; then
    echo "(this kernel has IPVS: the lab runs on this host)"
    exec env "${env[@]}" "$bin/pulse-lab" "$@"
fi
echo "(this kernel has no IPVS: the lab runs in the project's VM, tests/vm/; booting takes a few seconds)"
shares=(-s "$root")
case $target/ in "$root"/*) ;; *) shares+=(-s "$target") ;; esac
vmenv=(-e PULSE_IN_VM=1)
for e in "${env[@]}"; do vmenv+=(-e "$e"); done
bins=(-b "$bin/pulse" -b "$bin/lvsd" -b "$bin/pulsectl")
timeout=300
for a in "$@"; do
    if [ "$a" = --ecmp ]; then
        bird=$(command -v bird) || { echo "demo.sh: no bird (tests/install-deps.sh installs bird2)" >&2; exit 1; }
        bins+=(-b "$bird")
        timeout=600
    fi
done
VM_TIMEOUT=${VM_TIMEOUT:-$timeout} exec bash tests/vm/run-in-vm.sh "${shares[@]}" -C "$root/tests" \
    "${bins[@]}" "${vmenv[@]}" "$bin/pulse-lab" "$@"
