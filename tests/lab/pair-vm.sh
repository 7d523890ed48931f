#!/usr/bin/env bash
# The whole director pair on real IPVS: builds pulse, lvsd, pulsectl and the `pulse-lab`
# program (tests/src/bin/pulse-lab.rs) and runs the lab in the project's VM (tests/vm/): two
# directors, three web servers and a client in network namespaces; the active director is
# crashed under traffic and the failover timeline printed. Needs root (QEMU is installed by
# tests/vm/install-deps.sh when missing). Exits with the lab's status.
# `tests/lab/pair-vm.sh --nat`: the same with network = nat.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd -P)
[ "$(id -u)" = 0 ] || { echo "pair-vm.sh: needs root" >&2; exit 1; }
cargo build --quiet --locked -p pulse-daemon --bin pulse -p lvsd --bin lvsd -p pulsectl --bin pulsectl \
    -p pulse-e2e --bin pulse-lab
target=$(cargo metadata --no-deps --format-version 1 --locked | grep -o '"target_directory":"[^"]*"' |
    sed 's/^"target_directory":"\(.*\)"$/\1/')
bin=$target/debug
tests/vm/install-deps.sh >/dev/null
shares=(-s "$root")
case $target/ in "$root"/*) ;; *) shares+=(-s "$target") ;; esac
VM_TIMEOUT=${VM_TIMEOUT:-300} bash tests/vm/run-in-vm.sh "${shares[@]}" -C "$root/tests" \
    -b "$bin/pulse" -b "$bin/lvsd" -b "$bin/pulsectl" \
    -e "PULSE_PULSE=$bin/pulse" -e "PULSE_LVSD=$bin/lvsd" -e "PULSE_PULSECTL=$bin/pulsectl" \
    -e PULSE_IN_VM=1 -e RUST_BACKTRACE=1 \
    "$bin/pulse-lab" "$@"
