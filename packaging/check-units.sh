#!/bin/bash
# packaging/check-units.sh: `systemd-analyze verify` on the systemd unit, without a running
# systemd and without installing anything. The unit is copied into a scratch root laid out as
# the packages install it, with stub programs at the paths it names (verify checks that each
# Exec*= program exists and is executable). Exit 0 when the unit verifies clean: any message at
# all from systemd-analyze about pulse.service fails the check.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v systemd-analyze >/dev/null || {
    echo "check-units: systemd-analyze not found (apt-get install systemd)" >&2
    exit 2
}
root=$(mktemp -d "${TMPDIR:-/tmp}/pulse-units.XXXXXX")
trap 'rm -rf "$root"' EXIT
unitdir=$root/usr/lib/systemd/system
mkdir -p "$unitdir" "$root/usr/sbin" "$root/usr/libexec/pulse" "$root/bin" "$root/etc/sysconfig/ha"
install -m 0644 packaging/systemd/pulse.service "$unitdir/pulse.service"
install -m 0755 packaging/libexec/delay "$root/usr/libexec/pulse/delay"
for p in usr/sbin/pulse usr/sbin/pulsectl usr/sbin/lvsd bin/kill; do
    printf '#!/bin/sh\nexit 0\n' >"$root/$p"
    chmod 0755 "$root/$p"
done < <(sed -n 's/^Exec[A-Za-z]*=[-@+!]*\([^ ]*\).*/\1/p' packaging/systemd/pulse.service | sort -u)
# Every program the unit names must be one the packages install (or /bin/kill).
while read -r exe; do
    [ -x "$root$exe" ] || { echo "check-units: pulse.service runs $exe, which is not staged" >&2; exit 1; }
done < <(sed -n 's/^Exec[A-Za-z]*=[-@+!]*\([^ ]*\).*/\1/p' packaging/systemd/pulse.service | sort -u)

# --root: units and Exec paths resolve inside the scratch root; --man=no: the man pages are
# installed by the packages, not here.
out=$(systemd-analyze verify --root="$root" --man=no --recursive-errors=no \
    "$unitdir/pulse.service" 2>&1) || {
    printf '%s\n' "$out" >&2
    echo "check-units: systemd-analyze verify failed" >&2
    exit 1
}
if grep -i 'pulse' <<<"$out" >&2; then
    echo "check-units: systemd-analyze verify complained about pulse.service" >&2
    exit 1
fi
[ -z "$out" ] || printf 'check-units: (about other units, ignored)\n%s\n' "$out"
# The unit's DELAY helper: never fails the start, and "random" stays within 0.0-4.9 s.
for d in '' 0 0.1 abc 1.2.3 random; do
    DELAY=$d timeout 6 sh packaging/libexec/delay 2>/dev/null ||
        { echo "check-units: delay helper failed for DELAY='$d'" >&2; exit 1; }
done
if command -v shellcheck >/dev/null; then
    shellcheck -s sh packaging/sysv/pulse.init packaging/libexec/delay
    shellcheck packaging/check-units.sh
fi
echo "check-units: pulse.service verifies (systemd-analyze $(systemd-analyze --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p'))"
