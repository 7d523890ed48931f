#!/usr/bin/env bash
# tests/systemd/rpm-scriptlets.sh RPM: the RPM's scriptlets, run by rpm itself (install,
# upgrade to a newer build, erase) in a scratch root whose /bin/sh is a static busybox and whose
# systemctl and chkconfig only record how they were called; the calls are compared with what
# packaging/README.md promises, once as a systemd host (/run/systemd/system present) and once
# as a SysV host. No RHEL-family systemd runs here: that the real systemctl does the right thing
# with these calls is not tested by this script. Needs rpm, rpmbuild, cpio, busybox-static.
set -euo pipefail
cd "$(dirname "$0")/../.."
rpm_file=$(readlink -f "$1")
say() { echo "rpm-scriptlets: $*"; }
for t in rpm rpmbuild rpm2cpio cpio; do
    command -v "$t" >/dev/null || { say "$t missing: not run"; exit 0; }
done
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    say "no static busybox (apt-get install busybox-static): not run"
    exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/pulse-rpmscript.XXXXXX")
trap 'rm -rf "$work"' EXIT
debian=()
rpm --help 2>/dev/null | grep -q -- --force-debian && debian=(--force-debian)

# A newer build of the same files: the RPM's payload rebuilt with the spec at version V.1.
version=$(rpm -qp --qf '%{VERSION}' "$rpm_file")
mkdir -p "$work/stage"
(cd "$work/stage" && rpm2cpio "$rpm_file" | cpio -idm --quiet)
# (the debuginfo files are not in this payload: the spec's debuginfo package wants them)
debugrpm=${rpm_file/pulse-$version/pulse-debuginfo-$version}
if [ -f "$debugrpm" ]; then (cd "$work/stage" && rpm2cpio "$debugrpm" | cpio -idm --quiet); fi
# (nor are the web console's: the spec's cockpit-pulse subpackage wants them)
cockpitrpm=${rpm_file%/*}/cockpit-pulse-$version-1.noarch.rpm
if [ -f "$cockpitrpm" ]; then (cd "$work/stage" && rpm2cpio "$cockpitrpm" | cpio -idm --quiet); fi
rpmbuild -bb --quiet --define "_topdir $work/rpmbuild" --define "_rpmdir $work/new" \
    --define "_build_id_links none" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --define "pulse_version $version.1" --define "pulse_stage $work/stage" \
    packaging/rpm/pulse.spec
new_file=$work/new/pulse-$version.1-1.x86_64.rpm
[ -f "$new_file" ] || { say "could not build the newer RPM"; exit 1; }

fails=0
# scenario NAME SYSTEMD(1|0) EXPECTED_INSTALL EXPECTED_UPGRADE EXPECTED_ERASE
scenario() {
    local name=$1 systemd=$2 want_i=$3 want_u=$4 want_e=$5 r=$work/root-$1 got
    mkdir -p "$r/bin" "$r/usr/bin" "$r/usr/sbin" "$r/sbin" "$r/tmp" "$r/var/lib/rpm" "$r/run" "$r/dev"
    mknod -m 0666 "$r/dev/null" c 1 3
    cp "$busybox" "$r/bin/busybox"
    for a in sh rm mkdir cat echo sleep readlink basename dirname touch kill od tr cut; do
        ln -sf busybox "$r/bin/$a"
    done
    [ "$systemd" = 1 ] && mkdir -p "$r/run/systemd/system"
    for tool in systemctl chkconfig; do
        printf '#!/bin/sh\necho "%s $*" >>/calls.log\nexit 0\n' "$tool" >"$r/usr/bin/$tool"
        chmod 0755 "$r/usr/bin/$tool"
    done
    [ "$systemd" = 1 ] && rm "$r/usr/bin/chkconfig" # a systemd host may have no chkconfig
    run() { : >"$r/calls.log"; rpm --root "$r" --nodeps "${debian[@]}" "$@" >"$work/rpm.out" 2>&1 || { cat "$work/rpm.out"; return 1; }; }
    expect() { # WHAT WANT
        got=$(tr '\n' ';' <"$r/calls.log")
        if [ "$got" = "$2" ]; then say "$name: $1: $got"; else
            say "$name: $1: FAIL: calls '$got', want '$2'"
            fails=$((fails + 1))
        fi
    }
    run -i "$rpm_file" && expect "rpm -i" "$want_i"
    echo 1 >"$r/var/lib/pulse/heartbeat-seq" # what pulse writes there
    run -U "$new_file" && expect "rpm -U (to $version.1)" "$want_u"
    [ "$(rpm --root "$r" -q --qf '%{VERSION}' pulse)" = "$version.1" ] || { say "$name: not upgraded"; fails=$((fails + 1)); }
    [ -f "$r/var/lib/pulse/heartbeat-seq" ] || { say "$name: the upgrade lost /var/lib/pulse"; fails=$((fails + 1)); }
    run -e pulse && expect "rpm -e" "$want_e"
    # (pulse's state, /var/lib/pulse/heartbeat-seq, is not the package's file: it stays, as RPM
    # leaves every daemon's state; the deb's purge removes it.)
    if [ -e "$r/usr/sbin/pulse" ] || [ -e "$r/etc/rc.d/init.d/pulse" ] || [ -e "$r/usr/lib/systemd/system/pulse.service" ]; then
        say "$name: files left after rpm -e: $(cd "$r" && find usr/sbin/pulse etc/rc.d/init.d/pulse usr/lib/systemd/system/pulse.service 2>/dev/null | tr '\n' ' ')"
        fails=$((fails + 1))
    fi
}
scenario systemd 1 \
    "systemctl daemon-reload;" \
    "systemctl daemon-reload;systemctl daemon-reload;systemctl try-restart pulse.service;" \
    "systemctl stop pulse.service;systemctl --no-reload disable pulse.service;systemctl daemon-reload;"
# On a SysV host the upgrade's condrestart and the erase's stop run the init script itself
# (pulse is not running in the scratch root: they do nothing and record nothing).
scenario sysv 0 \
    "chkconfig --add pulse;chkconfig pulse off;" \
    "chkconfig --add pulse;" \
    "chkconfig --del pulse;"
[ "$fails" = 0 ] || { say "$fails failure(s)"; exit 1; }
say "install, upgrade and erase call what they should (systemd and SysV hosts)"
