#!/usr/bin/env bash
# Builds Pulse's packages from this repository into target/packages/:
#
#   packaging/build.sh rpm     # pulse-VERSION-1.x86_64.rpm   (rpmbuild; Debian's `rpm` package has it)
#   packaging/build.sh deb     # pulse_VERSION_amd64.deb      (dpkg-deb)
#   packaging/build.sh all     # both (the default)
#
# Both packages carry the same files, staged once by `stage` below (release binaries, the
# example lvs.cf, /etc/sysconfig/pulse, the systemd unit, the SysV script, modules-load.d, man
# pages). The RPM is built with a plain spec (packaging/rpm/pulse.spec) around the staged tree
# rather than `cargo generate-rpm`: scriptlets, %config(noreplace), Obsoletes/Provides for
# piranha and file modes are first-class in a spec, and rpmbuild is one apt package away.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)
what=${1:-all}
case $what in rpm|deb|all) ;; *) echo "usage: packaging/build.sh [rpm|deb|all]" >&2; exit 2 ;; esac

version=$(cargo metadata --no-deps --format-version 1 --locked |
    grep -o '"name":"pulse-daemon","version":"[^"]*"' | sed 's/.*"version":"\([^"]*\)"/\1/')
[ -n "$version" ] || { echo "build.sh: cannot find the workspace version" >&2; exit 1; }
out=$root/target/packages
mkdir -p "$out"

echo "==> cargo build --release (pulse, lvsd, pulsectl)"
cargo build --release --locked --quiet -p pulse-daemon -p lvsd -p pulsectl
bin=$root/target/release

# ---------------------------------------------------------------- staging (shared by both)
# stage DIR INITDIR: the installed tree under DIR; the SysV script goes to INITDIR
# (/etc/rc.d/init.d on RHEL, /etc/init.d on Debian).
stage() {
    local d=$1 initdir=$2
    rm -rf "$d"
    install -d -m 0755 "$d/usr/sbin" "$d/etc/sysconfig/ha" "$d$initdir" \
        "$d/usr/lib/systemd/system" "$d/usr/lib/modules-load.d" "$d/usr/libexec/pulse" \
        "$d/usr/share/man/man5" "$d/usr/share/man/man8" "$d/usr/share/doc/pulse" "$d/var/lib/pulse"
    install -m 0755 "$bin/pulse" "$bin/lvsd" "$bin/pulsectl" "$d/usr/sbin/"
    install -m 0644 etc/sysconfig/ha/lvs.cf "$d/etc/sysconfig/ha/lvs.cf"
    install -m 0644 etc/sysconfig/pulse "$d/etc/sysconfig/pulse"
    install -m 0644 packaging/systemd/pulse.service "$d/usr/lib/systemd/system/pulse.service"
    install -m 0644 packaging/modules-load.d/pulse.conf "$d/usr/lib/modules-load.d/pulse.conf"
    install -m 0755 packaging/sysv/pulse.init "$d$initdir/pulse"
    for f in packaging/libexec/*; do
        [ -e "$f" ] && install -m 0755 "$f" "$d/usr/libexec/pulse/"
    done
    for page in packaging/man/*.[58]; do
        [ -e "$page" ] || continue
        local section=${page##*.}
        # shellcheck disable=SC2094 # different files: the source page and its .gz
        gzip -9n <"$page" >"$d/usr/share/man/man$section/$(basename "$page").gz"
        chmod 0644 "$d/usr/share/man/man$section/$(basename "$page").gz"
    done
    install -m 0644 README.md docs/lvs.cf.md docs/pulse.md docs/lvsd.md "$d/usr/share/doc/pulse/"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/pulse-pkg.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ "$what" = rpm ] || [ "$what" = all ]; then
    command -v rpmbuild >/dev/null || { echo "build.sh: rpmbuild missing (apt-get install rpm)" >&2; exit 1; }
    echo "==> rpm"
    stage "$work/rpm-root" /etc/rc.d/init.d
    rpmbuild -bb --quiet \
        --define "_topdir $work/rpmbuild" \
        --define "_rpmdir $out" \
        --define "_build_id_links none" \
        --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
        --define "pulse_version ${version//-/_}" \
        --define "pulse_stage $work/rpm-root" \
        packaging/rpm/pulse.spec
    echo "$out/pulse-${version//-/_}-1.x86_64.rpm"
fi

if [ "$what" = deb ] || [ "$what" = all ]; then
    echo "==> deb"
    d=$work/deb-root
    stage "$d" /etc/init.d
    install -d -m 0755 "$d/DEBIAN"
    size=$(du -sk --exclude=DEBIAN "$d" | cut -f1)
    sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" packaging/deb/control >"$d/DEBIAN/control"
    install -m 0644 packaging/deb/conffiles "$d/DEBIAN/conffiles"
    for s in postinst prerm postrm; do install -m 0755 "packaging/deb/$s" "$d/DEBIAN/$s"; done
    dpkg-deb --root-owner-group -Zxz --build "$d" "$out/pulse_${version}_amd64.deb" >/dev/null
    echo "$out/pulse_${version}_amd64.deb"
fi
