#!/usr/bin/env bash
# tests/vm/run-tests.sh — Pulse's tests that need a real IPVS kernel, run in one QEMU VM
# (tests/vm/run-in-vm.sh). The entry point CI calls.
#
#   tests/vm/run-tests.sh [--] [TEST-ARGS...]   build lvsd + lvsd's integration test `vm`
#                                               (crates/lvsd/tests/vm.rs) and run it in the VM;
#                                               TEST-ARGS go to the test binary (name filters,
#                                               --nocapture, --test-threads=N, --ignored, ...)
#   tests/vm/run-tests.sh --bench [ARGS...]     release-build lvsd and run, in the VM,
#                                               crates/lvsd/benches/vm.sh ARGS (bash) if that
#                                               file exists, else lvsd's cargo bench target
#                                               $PULSE_VM_BENCH (default ipvs) as `cargo bench`
#                                               runs it (BIN --bench ARGS)
#                                               (VM_MEM 4096, VM_TIMEOUT 1800 by default)
#   tests/vm/run-tests.sh --smoke               run tests/vm/smoke.sh in the VM (no cargo):
#                                               proves netns + veth + IPVS; prints OK
#   tests/vm/run-tests.sh --pair [--] [TEST-ARGS...]
#                                               build pulse, lvsd, pulsectl + pulse-e2e's
#                                               test `pair_vm` (tests/tests/pair_vm.rs: the
#                                               whole director pair, tests/src/pair_bed.rs)
#                                               and run it in the VM (cwd tests/, env also
#                                               PULSE_PULSECTL; CARGO_MANIFEST_DIR=tests/)
#   tests/vm/run-tests.sh --ecmp [--] [TEST-ARGS...]
#                                               as --pair, with pulse-e2e's test `ecmp_vm`
#                                               (tests/tests/ecmp_vm.rs: `ecmp = 1`, a BIRD
#                                               router and three directors) and the host's
#                                               `bird` (bird2, tests/install-deps.sh) in the VM
#
# Prints the program's stdout/stderr (live) and exits with its exit status; 124 = the VM timed
# out, 125 = the VM harness failed (see tests/vm/README.md).
#
# In the VM the repository (cargo's workspace root, and cargo's target dir when it lies
# elsewhere) is shared over virtio-9p at the SAME path as on the host (and at /mnt/host), so
# host paths stay valid: the test binary, PULSE_LVSD, env!("CARGO_BIN_EXE_lvsd"),
# env!("CARGO_MANIFEST_DIR") and fixture files. Binaries run from the share (faster than
# packing them into the initramfs, see the README). The test runs as root with cwd
# crates/lvsd and env:
#   PULSE_IN_VM=1  PULSE_LVSD=<lvsd binary>  PULSE_PULSE=<pulse binary>  CARGO_MANIFEST_DIR=<crates/lvsd>
#   RUST_BACKTRACE (default 1), and RUST_LOG, RUST_TEST_THREADS, RUST_MIN_STACK and every
#   PULSE_TEST_* variable when set on the host.
#
# Environment:
#   PULSE_VM_TEST_BIN   run this binary instead of building lvsd's `vm` test (no cargo at all);
#                       PULSE_LVSD is then passed only if set on the host (to a path that is
#                       valid in the VM, e.g. inside the repository)
#   PULSE_VM_CARGO_FLAGS  extra cargo flags (default: --locked)
#   PULSE_VM_NO_INSTALL=1 never run tests/vm/install-deps.sh; by default it runs (needs root)
#                       when qemu/busybox-static/ipvsadm/cpio are missing. CI may instead call
#                       `tests/vm/install-deps.sh` itself first (idempotent, 0.05 s when done).
#   PULSE_VM_TRANSFER   9p (default: binaries run from the share) | initramfs (copied into it)
#   PULSE_VM_VERBOSE=1  print the VM console after the run
#   VM_MEM, VM_SMP, VM_TIMEOUT, PULSE_VM_CACHE, ...: see tests/vm/run-in-vm.sh -h
#                       (defaults here: tests 1024 MiB / 2 vCPUs / 900 s; bench 4096 / 2 / 1800)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/../.." && pwd -P)
RUN_IN_VM=$HERE/run-in-vm.sh
die() { echo "run-tests: $*" >&2; exit 125; }
log() { echo "run-tests: $*" >&2; }

MODE="test"
case ${1:-} in
    --smoke) MODE=smoke; shift ;;
    --bench) MODE=bench; shift ;;
    --pair) MODE=pair; shift; [ "${1:-}" = -- ] && shift ;;
    --ecmp) MODE=pair; E2E_TEST=ecmp_vm; shift; [ "${1:-}" = -- ] && shift ;;
    --) shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

# ------------------------------------------------------------------ host tools
tools_ok() {
    command -v qemu-system-x86_64 >/dev/null && command -v cpio >/dev/null &&
        command -v busybox >/dev/null && ! ldd "$(command -v busybox)" >/dev/null 2>&1 &&
        [ -x /usr/sbin/ipvsadm ] && [ -x /usr/sbin/ip ]
}
if ! tools_ok; then
    if [ "${PULSE_VM_NO_INSTALL:-0}" = 1 ]; then
        die "VM tools missing; run tests/vm/install-deps.sh as root"
    fi
    [ "$(id -u)" = 0 ] || die "VM tools missing; run tests/vm/install-deps.sh as root"
    log "VM tools missing: running tests/vm/install-deps.sh"
    bash "$HERE/install-deps.sh" || die "install-deps.sh failed"
    tools_ok || die "VM tools still missing after install-deps.sh"
fi

VMARGS=()
[ "${PULSE_VM_VERBOSE:-0}" = 1 ] && VMARGS+=(-v)

if [ "$MODE" = smoke ]; then
    [ $# = 0 ] || die "--smoke takes no arguments"
    export VM_TIMEOUT=${VM_TIMEOUT:-300}
    exec bash "$RUN_IN_VM" "${VMARGS[@]}" "$HERE/smoke.sh"
fi

# ------------------------------------------------------------------ cargo
read -r -a CARGO_FLAGS <<<"${PULSE_VM_CARGO_FLAGS---locked}"
# path of the artifact KIND NAME of package crates/lvsd in cargo's JSON messages (stdin)
artifact() {
    grep -F '"reason":"compiler-artifact"' |
        grep -F "\"manifest_path\":\"${ARTIFACT_DIR:-$LVSD_DIR}/Cargo.toml\"" |
        grep -F "\"kind\":[\"$1\"]" | grep -F "\"name\":\"$2\"" |
        grep -o '"executable":"[^"]*"' | tail -1 | sed 's/^"executable":"\(.*\)"$/\1/'
}
metadata() { # FIELD: a top-level string of `cargo metadata`
    (cd "$ROOT" && cargo metadata --no-deps --format-version 1 "${CARGO_FLAGS[@]}") |
        grep -o "\"$1\":\"[^\"]*\"" | tail -1 | sed 's/^"[^"]*":"\(.*\)"$/\1/'
}

LVSD_DIR=$ROOT/crates/lvsd
# One test at a time by default: tearing down a test's namespaces holds the kernel's RTNL for
# seconds under TCG, and a parallel test's sync-daemon stop (which needs RTNL) then stalls.
ENVS=(-e PULSE_IN_VM=1 -e "RUST_BACKTRACE=${RUST_BACKTRACE:-1}" -e "RUST_TEST_THREADS=${RUST_TEST_THREADS:-1}")
for v in RUST_LOG RUST_MIN_STACK $(compgen -v PULSE_TEST_ || true); do
    [ -n "${!v+x}" ] && ENVS+=(-e "$v=${!v}")
done

if [ "$MODE" = pair ]; then
    command -v cargo >/dev/null || die "cargo not found"
    json=$(mktemp "${TMPDIR:-/tmp}/pulse-vm-cargo.XXXXXX")
    trap 'rm -f "$json"' EXIT
    E2E_DIR=$ROOT/tests
    E2E_TEST=${E2E_TEST:-pair_vm}
    log "cargo build pulse lvsd pulsectl; cargo test -p pulse-e2e --test $E2E_TEST --no-run"
    (cd "$ROOT" && cargo build -p pulse-daemon --bin pulse -p lvsd --bin lvsd \
        -p pulsectl --bin pulsectl "${CARGO_FLAGS[@]}" \
        --message-format=json-render-diagnostics) >"$json" || exit 125
    LVSD=$(artifact bin lvsd <"$json")
    [ -n "$LVSD" ] && [ -x "$LVSD" ] || die "no lvsd binary in cargo's output"
    BIN_DIR=$(dirname "$LVSD")
    for b in pulse pulsectl; do [ -x "$BIN_DIR/$b" ] || die "no $b binary at $BIN_DIR/$b"; done
    (cd "$ROOT" && cargo test -p pulse-e2e --test "$E2E_TEST" --no-run "${CARGO_FLAGS[@]}" \
        --message-format=json-render-diagnostics) >"$json" || exit 125
    PROG=$(ARTIFACT_DIR=$E2E_DIR artifact test "$E2E_TEST" <"$json")
    [ -n "$PROG" ] || die "no executable for pulse-e2e's test '$E2E_TEST' in cargo's output"
    ENVS+=(-e "PULSE_LVSD=$LVSD" -e "PULSE_PULSE=$BIN_DIR/pulse"
        -e "PULSE_PULSECTL=$BIN_DIR/pulsectl" -e "CARGO_MANIFEST_DIR=$E2E_DIR")
    # ipip: the real servers' tunl0 of the `network = tunnel` scenarios.
    VMARGS+=(-b "$LVSD" -b "$BIN_DIR/pulse" -b "$BIN_DIR/pulsectl" -m ipip)
    if [ "$E2E_TEST" = ecmp_vm ]; then
        BIRD=$(command -v bird) || die "no bird: run tests/install-deps.sh (bird2)"
        VMARGS+=(-b "$BIRD")
    fi
    GCWD=$E2E_DIR
    SHARES=("$ROOT")
    target=$(metadata target_directory)
    [ -n "$target" ] || die "cargo metadata gave no target_directory"
    case $target/ in "$ROOT"/*) ;; *) SHARES+=("$target") ;; esac
elif [ "$MODE" = test ] && [ -n "${PULSE_VM_TEST_BIN:-}" ]; then
    PROG=$(readlink -f "$PULSE_VM_TEST_BIN") || die "no such binary: $PULSE_VM_TEST_BIN"
    [ -x "$PROG" ] || die "not an executable: $PROG"
    [ -n "${PULSE_LVSD:-}" ] && ENVS+=(-e "PULSE_LVSD=$PULSE_LVSD")
    GCWD=$ROOT
    SHARES=("$ROOT")   # (a binary outside the repository is copied into the initramfs)
else
    [ -f "$LVSD_DIR/Cargo.toml" ] || die "$LVSD_DIR/Cargo.toml not found (package lvsd not written yet? use PULSE_VM_TEST_BIN=...)"
    command -v cargo >/dev/null || die "cargo not found"
    json=$(mktemp "${TMPDIR:-/tmp}/pulse-vm-cargo.XXXXXX")
    trap 'rm -f "$json"' EXIT
    BENCH=${PULSE_VM_BENCH:-ipvs}
    if [ "$MODE" = bench ] && [ -f "$LVSD_DIR/benches/vm.sh" ]; then
        log "cargo build --release -p lvsd --bin lvsd"
        (cd "$ROOT" && cargo build --release -p lvsd --bin lvsd "${CARGO_FLAGS[@]}" \
            --message-format=json-render-diagnostics) >"$json" || exit 125
    elif [ "$MODE" = bench ]; then
        # the bench profile builds lvsd (CARGO_BIN_EXE_lvsd) in target/release as well
        log "cargo bench -p lvsd --bench $BENCH --no-run"
        (cd "$ROOT" && cargo bench -p lvsd --bench "$BENCH" --no-run "${CARGO_FLAGS[@]}" \
            --message-format=json-render-diagnostics) >"$json" || exit 125
        PROG=$(artifact bench "$BENCH" <"$json")
        [ -n "$PROG" ] || die "no executable for lvsd's bench '$BENCH' in cargo's output"
    else
        # an integration test gets its package's binaries built as well (CARGO_BIN_EXE_lvsd)
        log "cargo test -p lvsd --test vm --no-run"
        (cd "$ROOT" && cargo test -p lvsd --test vm --no-run "${CARGO_FLAGS[@]}" \
            --message-format=json-render-diagnostics) >"$json" || exit 125
        PROG=$(artifact test vm <"$json")
        [ -n "$PROG" ] || die "no executable for lvsd's test 'vm' in cargo's output"
    fi
    LVSD=$(artifact bin lvsd <"$json")
    if [ -z "$LVSD" ]; then   # not in the test build's messages: build it explicitly
        profile=()
        [ "$MODE" = bench ] && profile=(--release)
        (cd "$ROOT" && cargo build -p lvsd --bin lvsd "${profile[@]}" "${CARGO_FLAGS[@]}" \
            --message-format=json-render-diagnostics) >"$json" || exit 125
        LVSD=$(artifact bin lvsd <"$json")
    fi
    if [ -z "$LVSD" ] || [ ! -x "$LVSD" ]; then die "no lvsd binary in cargo's output"; fi
    ENVS+=(-e "PULSE_LVSD=$LVSD" -e "CARGO_MANIFEST_DIR=$LVSD_DIR")
    # pulse too (its sync-daemon test), from the same profile, next to lvsd.
    profile=()
    [ "$MODE" = bench ] && profile=(--release)
    (cd "$ROOT" && cargo build -p pulse-daemon --bin pulse "${profile[@]}" "${CARGO_FLAGS[@]}" \
        --message-format=json-render-diagnostics) >/dev/null || exit 125
    PULSE_BIN=$(dirname "$LVSD")/pulse
    [ -x "$PULSE_BIN" ] || die "no pulse binary at $PULSE_BIN"
    ENVS+=(-e "PULSE_PULSE=$PULSE_BIN")
    # They run from the share too, but the libraries they link (ldd) must be in the initramfs.
    VMARGS+=(-b "$LVSD" -b "$PULSE_BIN")
    GCWD=$LVSD_DIR
    SHARES=("$ROOT")
    target=$(metadata target_directory)
    [ -n "$target" ] || die "cargo metadata gave no target_directory"
    case $target/ in "$ROOT"/*) ;; *) SHARES+=("$target") ;; esac
    if [ "$MODE" = bench ]; then
        if [ -f "$LVSD_DIR/benches/vm.sh" ]; then
            set -- "$LVSD_DIR/benches/vm.sh" "$@"
            PROG=/bin/bash   # (so vm.sh needs no x bit; /bin/bash is in the VM anyway)
        else
            set -- --bench "$@"
        fi
        export VM_MEM=${VM_MEM:-4096} VM_TIMEOUT=${VM_TIMEOUT:-1800}
    fi
fi
# The VM tests are #[ignore]d (a plain `cargo test` on the host lists them as skipped); here
# they run.
if [ "$MODE" = test ] || [ "$MODE" = pair ]; then
    set -- --include-ignored "$@"
fi
export VM_TIMEOUT=${VM_TIMEOUT:-900}
[ "${PULSE_VM_TRANSFER:-9p}" = initramfs ] && export VM_COPY=1

SARGS=()
for s in "${SHARES[@]}"; do SARGS+=(-s "$s"); done
log "VM: $PROG $*"
rc=0
bash "$RUN_IN_VM" "${VMARGS[@]}" "${SARGS[@]}" -C "$GCWD" "${ENVS[@]}" "$PROG" "$@" || rc=$?
exit "$rc"
