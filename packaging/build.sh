#!/usr/bin/env bash
# Builds Pulse's packages from this repository into target/packages/:
#
#   packaging/build.sh rpm     # pulse-VERSION-1.x86_64.rpm   (rpmbuild; Debian's `rpm` package has it)
#   packaging/build.sh deb     # pulse_VERSION_amd64.deb      (dpkg-deb)
#   (each also builds cockpit-pulse, the web console: cockpit-pulse-VERSION-1.noarch.rpm,
#   cockpit-pulse_VERSION_all.deb)
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

work=$(mktemp -d "${TMPDIR:-/tmp}/pulse-pkg.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- stripped binaries
# The packages ship the binaries stripped (38 MB -> 5 MB each); their debug information goes to
# /usr/lib/debug/.build-id/XX/YYYY.debug in a separate package (pulse-dbgsym deb,
# pulse-debuginfo RPM), found by gdb through the build id or the .gnu_debuglink section.
bin=$work/bin
debugroot=$work/debug-root
mkdir -p "$bin"
for b in pulse lvsd pulsectl; do
    src=$root/target/release/$b
    id=$(readelf -n "$src" | sed -n 's/^ *Build ID: \([0-9a-f]*\)$/\1/p')
    [ -n "$id" ] || { echo "build.sh: $src has no build id" >&2; exit 1; }
    dbg=$debugroot/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
    install -d -m 0755 "$(dirname "$dbg")"
    objcopy --only-keep-debug --compress-debug-sections=zlib "$src" "$dbg"
    chmod 0644 "$dbg"
    objcopy --strip-debug --strip-unneeded --remove-section=.comment \
        --add-gnu-debuglink="$dbg" "$src" "$bin/$b"
    echo "$b: $(stat -c %s "$src") -> $(stat -c %s "$bin/$b") bytes (debug: $dbg)" |
        sed "s|$debugroot||"
done

# ---------------------------------------------------------------- staging (shared by both)
# stage DIR INITDIR: the installed tree under DIR; the SysV script goes to INITDIR
# (/etc/rc.d/init.d on RHEL, /etc/init.d on Debian).
stage() {
    local d=$1 initdir=$2
    rm -rf "$d"
    install -d -m 0755 "$d/usr/sbin" "$d/etc/sysconfig/ha" "$d$initdir" \
        "$d/usr/lib/systemd/system" "$d/usr/lib/modules-load.d" "$d/usr/libexec/pulse" \
        "$d/usr/share/man/man5" "$d/usr/share/man/man8" "$d/usr/share/doc/pulse" "$d/var/lib/pulse" \
        "$d/usr/share/pulse/grafana"
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
    install -m 0644 packaging/copyright "$d/usr/share/doc/pulse/copyright"
    install -m 0644 packaging/grafana/pulse.json "$d/usr/share/pulse/grafana/pulse.json"
}

# stage_cockpit DIR: the web console (cockpit-pulse, its own package): plain files, no build.
stage_cockpit() {
    local d=$1
    install -d -m 0755 "$d/usr/share/cockpit/pulse"
    install -m 0644 cockpit/pulse/manifest.json cockpit/pulse/index.html cockpit/pulse/*.js \
        cockpit/pulse/*.css "$d/usr/share/cockpit/pulse/"
}

if [ "$what" = rpm ] || [ "$what" = all ]; then
    command -v rpmbuild >/dev/null || { echo "build.sh: rpmbuild missing (apt-get install rpm)" >&2; exit 1; }
    echo "==> rpm"
    stage "$work/rpm-root" /etc/rc.d/init.d
    cp -a "$debugroot/." "$work/rpm-root/"
    stage_cockpit "$work/rpm-root"
    rpmbuild -bb --quiet \
        --define "_topdir $work/rpmbuild" \
        --define "_rpmdir $out" \
        --define "_build_id_links none" \
        --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
        --define "pulse_version ${version//-/_}" \
        --define "pulse_stage $work/rpm-root" \
        packaging/rpm/pulse.spec
    echo "$out/pulse-${version//-/_}-1.x86_64.rpm"
    echo "$out/pulse-debuginfo-${version//-/_}-1.x86_64.rpm"
    echo "$out/cockpit-pulse-${version//-/_}-1.noarch.rpm"
fi

if [ "$what" = deb ] || [ "$what" = all ]; then
    echo "==> deb"
    d=$work/deb-root
    stage "$d" /etc/init.d
    # The changelog (lintian wants one; the project's history is in git). The version has no
    # Debian revision, so this is a native package: changelog.gz, not changelog.Debian.gz.
    printf 'pulse (%s) unstable; urgency=medium\n\n  * Built from the Pulse repository.\n\n -- %s  %s\n' \
        "$version" "Pulse developers <pulse@example.invalid>" \
        "$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}")" |
        gzip -9n >"$d/usr/share/doc/pulse/changelog.gz"
    chmod 0644 "$d/usr/share/doc/pulse/changelog.gz"
    # Shared-library dependencies as dpkg-shlibdeps computes them (libc6, libgcc-s1).
    depends="libc6 (>= 2.34), libgcc-s1 (>= 4.2)"
    if command -v dpkg-shlibdeps >/dev/null; then
        mkdir -p "$work/shlibs/debian"
        printf 'Source: pulse\n\nPackage: pulse\nArchitecture: any\n' >"$work/shlibs/debian/control"
        depends=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$d"/usr/sbin/* 2>/dev/null |
            sed -n 's/^shlibs:Depends=//p')
        [ -n "$depends" ] || { echo "build.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
    fi
    install -d -m 0755 "$d/DEBIAN"
    size=$(du -sk --exclude=DEBIAN "$d" | cut -f1)
    sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
        packaging/deb/control >"$d/DEBIAN/control"
    install -m 0644 packaging/deb/conffiles "$d/DEBIAN/conffiles"
    (cd "$d" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
        >"$d/DEBIAN/md5sums"
    for s in postinst prerm postrm; do install -m 0755 "packaging/deb/$s" "$d/DEBIAN/$s"; done
    dpkg-deb --root-owner-group -Zxz --build "$d" "$out/pulse_${version}_amd64.deb" >/dev/null
    echo "$out/pulse_${version}_amd64.deb (Installed-Size: $size KiB)"

    # pulse-dbgsym: the debug information, as Debian's automatic dbgsym packages lay it out.
    g=$work/dbgsym-root
    cp -a "$debugroot" "$g"
    install -d -m 0755 "$g/usr/share/doc" "$g/DEBIAN"
    ln -s pulse "$g/usr/share/doc/pulse-dbgsym"
    ids=$(find "$g/usr/lib/debug/.build-id" -name '*.debug' | sed 's|.*/\(..\)/\([^/]*\)\.debug$|\1\2|' | sort | xargs)
    gsize=$(du -sk --exclude=DEBIAN "$g" | cut -f1)
    cat >"$g/DEBIAN/control" <<CONTROL
Package: pulse-dbgsym
Source: pulse
Version: $version
Auto-Built-Package: debug-symbols
Architecture: amd64
Maintainer: Pulse developers <pulse@example.invalid>
Installed-Size: $gsize
Depends: pulse (= $version)
Section: debug
Priority: optional
Description: debug symbols for pulse
Build-Ids: $ids
CONTROL
    (cd "$g" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
        >"$g/DEBIAN/md5sums"
    dpkg-deb --root-owner-group -Zxz --build "$g" "$out/pulse-dbgsym_${version}_amd64.deb" >/dev/null
    echo "$out/pulse-dbgsym_${version}_amd64.deb"

    # cockpit-pulse: the web console, architecture-independent, its own package.
    c=$work/cockpit-root
    stage_cockpit "$c"
    install -d -m 0755 "$c/usr/share/doc/cockpit-pulse" "$c/DEBIAN"
    install -m 0644 packaging/copyright "$c/usr/share/doc/cockpit-pulse/copyright"
    printf 'cockpit-pulse (%s) unstable; urgency=medium\n\n  * Built from the Pulse repository.\n\n -- %s  %s\n' \
        "$version" "Pulse developers <pulse@example.invalid>" \
        "$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}")" |
        gzip -9n >"$c/usr/share/doc/cockpit-pulse/changelog.gz"
    chmod 0644 "$c/usr/share/doc/cockpit-pulse/changelog.gz"
    csize=$(du -sk --exclude=DEBIAN "$c" | cut -f1)
    sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$csize/" packaging/deb/cockpit-pulse.control \
        >"$c/DEBIAN/control"
    (cd "$c" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
        >"$c/DEBIAN/md5sums"
    dpkg-deb --root-owner-group -Zxz --build "$c" "$out/cockpit-pulse_${version}_all.deb" >/dev/null
    echo "$out/cockpit-pulse_${version}_all.deb"
fi
