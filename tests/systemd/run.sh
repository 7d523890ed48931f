#!/usr/bin/env bash
# tests/systemd/run.sh: the deb's whole operator life cycle under a real systemd as PID 1
# (tests/systemd/lifecycle.sh, run inside), the RPM's scriptlets against a recording systemctl
# (rpm-scriptlets.sh), and the Grafana dashboard against the metrics the bed scraped
# (dashboard.sh). What CI runs (tests/run-all.sh), after packaging/check.sh built the packages.
#
#   tests/systemd/run.sh                 # nspawn, then the QEMU variant (Debian kernel, real
#                                        # IPVS: vm.sh); the VM alone where nspawn cannot run
#   PULSE_SYSTEMD_BED=nspawn|vm run.sh   # one of them
#
# The bed: a cached Debian bookworm root (rootfs.sh, under /var/cache/pulse-systemd-test),
# overlaid (overlayfs, so the cache is never written) and booted with systemd-nspawn
# (--private-network; CAP_IPC_LOCK added for mlockall). The host runs no systemd, hence
# --register=no --keep-unit. The packages: target/packages/pulse_V_amd64.deb, and the same
# repacked as version V+lifecycle1 for the upgrade. Needs root, systemd-container, mmdebstrap
# (tests/install-deps.sh). Every wait is bounded; the container is killed and the overlay
# removed on any exit. Exit 0 when everything passed (or, not root, nothing could run).
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { echo "systemd-test: $*"; }
die() { echo "systemd-test: $*" >&2; exit 1; }
t0=$(date +%s.%N)
secs() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }

[ "$(id -u)" = 0 ] || { say "skipped: needs root (nspawn, overlayfs, dpkg in the bed)"; exit 0; }

# shellcheck disable=SC2012 # our own file names
deb=$(ls -t target/packages/pulse_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || die "no target/packages/pulse_*_amd64.deb (packaging/build.sh deb)"

# Beds: nspawn (fast: the systemd side), vm (QEMU, real IPVS); default both, the VM only where
# nspawn cannot run.
bed=${PULSE_SYSTEMD_BED:-both}
if [ "$bed" = both ] && ! { command -v systemd-nspawn >/dev/null && grep -qw overlay /proc/filesystems; }; then
    say "systemd-nspawn or overlayfs missing: the VM variant only"
    bed=vm
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pulse-systemd.XXXXXX")
nspawn_pid=
merged=
cleanup() {
    set +e
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -TERM "$nspawn_pid" 2>/dev/null # nspawn: an orderly shutdown of the container
        for _ in $(seq 1 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$nspawn_pid" 2>/dev/null
        wait "$nspawn_pid" 2>/dev/null
    fi
    if [ -n "$merged" ] && mountpoint -q "$merged"; then
        umount "$merged" || umount -l "$merged"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ the packages under test
pkgs=$work/pkgs
mkdir -p "$pkgs"
cp "$deb" "$pkgs/"
version=$(dpkg-deb -f "$deb" Version)
dpkg-deb -R "$deb" "$work/repack"
sed -i "s/^Version: .*/Version: $version+lifecycle1/" "$work/repack/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz --build "$work/repack" "$pkgs/pulse_${version}+lifecycle1_amd64.deb" >/dev/null
rm -rf "$work/repack"
cp tests/systemd/lifecycle.sh "$pkgs/"
say "packages: $(basename "$deb") and $version+lifecycle1 (Installed-Size $(dpkg-deb -f "$deb" Installed-Size) KiB)"

# ------------------------------------------------------------------ the RPM's scriptlets
# shellcheck disable=SC2012
rpm_file=$(ls -t target/packages/pulse-[0-9]*.x86_64.rpm 2>/dev/null | head -1 || true)
if [ -n "$rpm_file" ] && command -v rpm >/dev/null; then
    bash tests/systemd/rpm-scriptlets.sh "$rpm_file"
else
    say "no RPM built or no rpm tool: the RPM's scriptlets were not checked"
fi

run_vm() {
    local rc=0
    bash tests/systemd/vm.sh "$pkgs" || rc=$?
    return $rc
}
if [ "$bed" = vm ]; then
    rc=0
    run_vm || rc=$?
    exit $rc
fi

# ------------------------------------------------------------------ boot
rootfs=$(bash tests/systemd/rootfs.sh)
say "root: $rootfs ($(secs) s)"
mkdir -p "$work/upper" "$work/ovl" "$work/merged"
merged=$work/merged
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$work/upper,workdir=$work/ovl" "$merged"
mkdir -p "$merged/root/pulse-test"
cp -a "$pkgs/." "$merged/root/pulse-test/"

machine=pulse-test-$$
systemd-nspawn --quiet --boot --directory="$merged" --machine="$machine" --register=no \
    --keep-unit --private-network --capability=CAP_IPC_LOCK --console=read-only \
    >"$work/console.log" 2>&1 </dev/null &
nspawn_pid=$!

# The container's PID 1: systemd, a child of nspawn.
pid1=
for _ in $(seq 1 150); do
    for c in $(pgrep -P "$nspawn_pid" 2>/dev/null); do
        [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && pid1=$c
    done
    [ -n "$pid1" ] && break
    kill -0 "$nspawn_pid" 2>/dev/null || break
    sleep 0.2
done
[ -n "$pid1" ] || { cat "$work/console.log" >&2; die "the container's systemd did not start"; }
in_bed() { # SECONDS COMMAND...: a command in the container, as root, with a clean environment
    local t=$1
    shift
    timeout "$t" nsenter -t "$pid1" -a -- /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb "$@"
}
# systemctl fails at once ("Failed to connect to bus") until PID 1 has made its socket.
for _ in $(seq 1 150); do
    [ -S "/proc/$pid1/root/run/systemd/private" ] && break
    sleep 0.2
done
state=$(in_bed 90 systemctl is-system-running --wait 2>&1 || true)
case $state in
running | degraded) say "booted: $state ($(secs) s)" ;;
*) cat "$work/console.log" >&2; die "the container did not finish booting: '$state'" ;;
esac
if [ "$state" = degraded ]; then
    in_bed 10 systemctl --failed --no-legend --no-pager | sed 's/^/systemd-test: (failed unit in the bed) /'
fi

# ------------------------------------------------------------------ the life cycle
rc=0
# (in the background and waited for, so that a signal to this script cleans up at once)
in_bed 480 /bin/bash /root/pulse-test/lifecycle.sh /root/pulse-test &
wait $! || rc=$?
[ $rc = 124 ] && say "the life cycle timed out (480 s)"
out=$merged/root/pulse-test/out
if [ -f "$out/security.txt" ]; then
    grep -E '^✗|Overall' "$out/security.txt" | sed 's/^/systemd-test: security: /' | tail -25 || true
fi

# ------------------------------------------------------------------ the dashboard
if [ -s "$out/metrics.txt" ]; then
    bash tests/systemd/dashboard.sh packaging/grafana/pulse.json "$out/metrics.txt" || rc=1
else
    say "no metrics scrape from the bed: the dashboard was not checked"
    rc=1
fi
if [ -n "${PULSE_SYSTEMD_KEEP:-}" ]; then
    mkdir -p "$PULSE_SYSTEMD_KEEP" && cp -a "$out/." "$PULSE_SYSTEMD_KEEP/"
fi
say "nspawn life cycle: $([ $rc = 0 ] && echo passed || echo FAILED) in $(secs) s"
if [ "$bed" = both ]; then
    next=$(mktemp -d "${TMPDIR:-/tmp}/pulse-systemd.XXXXXX")
    mkdir -p "$next/pkgs"
    cp -a "$pkgs/." "$next/pkgs/"
    rm -rf "$next/pkgs/out"
    cleanup # the container goes before the VM starts (two cores)
    work=$next nspawn_pid='' merged='' pkgs=$next/pkgs
    run_vm || rc=1
fi
exit $rc
