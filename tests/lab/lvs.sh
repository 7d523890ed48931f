#!/usr/bin/env bash
# The lvsd part of the lab demo: builds lvsd and pulsectl and runs tests/lab/lvs-in-vm.sh in
# the project's VM (tests/vm/), which has a real kernel with IPVS. Needs root (QEMU is installed
# by tests/vm/install-deps.sh when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd -P)
cargo build --quiet --locked -p lvsd -p pulsectl
tests/vm/install-deps.sh >/dev/null
VM_TIMEOUT=${VM_TIMEOUT:-300} bash tests/vm/run-in-vm.sh -s "$root" \
    -b "$root/target/debug/lvsd" -b "$root/target/debug/pulsectl" \
    -e "PULSE_LVSD=$root/target/debug/lvsd" -e "PULSE_PULSECTL=$root/target/debug/pulsectl" \
    /bin/bash "$root/tests/lab/lvs-in-vm.sh"
