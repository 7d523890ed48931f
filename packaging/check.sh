#!/usr/bin/env bash
# Builds both packages and checks what they install (run by tests/run-all.sh, so by CI):
# every file with its mode and config flags in the RPM, an RPM install into a scratch root
# whose pulsectl accepts the installed lvs.cf, the same files in the deb, and the systemd unit
# through `systemd-analyze verify`. Exit 1 with the first difference.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "packaging/check.sh: $*" >&2; exit 1; }

bash packaging/build.sh all
# shellcheck disable=SC2012 # our own file names, newest first
rpm_file=$(ls -t target/packages/pulse-[0-9]*.x86_64.rpm | head -1)
# shellcheck disable=SC2012
debuginfo_file=$(ls -t target/packages/pulse-debuginfo-[0-9]*.x86_64.rpm | head -1)
# shellcheck disable=SC2012
deb_file=$(ls -t target/packages/pulse_*_amd64.deb | head -1)
# shellcheck disable=SC2012
dbgsym_file=$(ls -t target/packages/pulse-dbgsym_*_amd64.deb | head -1)

# MODE FLAGS PATH: FLAGS "c" = %config, "cn" = %config(noreplace), "-" = plain (rpm's fflags).
expected="\
-rwxr-xr-x - /usr/sbin/pulse
-rwxr-xr-x - /usr/sbin/lvsd
-rwxr-xr-x - /usr/sbin/pulsectl
drwxr-xr-x - /etc/sysconfig/ha
-rw-r--r-- cn /etc/sysconfig/ha/lvs.cf
-rw-r--r-- cn /etc/sysconfig/pulse
-rwxr-xr-x - /etc/rc.d/init.d/pulse
-rw-r--r-- - /usr/lib/systemd/system/pulse.service
-rw-r--r-- - /usr/lib/modules-load.d/pulse.conf
-rwxr-xr-x - /usr/libexec/pulse/delay
drwxr-xr-x - /var/lib/pulse
-rw-r--r-- - /usr/share/man/man5/lvs.cf.5.gz
-rw-r--r-- - /usr/share/man/man8/pulse.8.gz
-rw-r--r-- - /usr/share/man/man8/lvsd.8.gz
-rw-r--r-- - /usr/share/man/man8/pulsectl.8.gz
-rw-r--r-- - /usr/share/doc/pulse/copyright
-rw-r--r-- - /usr/share/pulse/grafana/pulse.json"

listing=$(rpm -qp --qf '[%{FILEMODES:perms}|%{FILEFLAGS:fflags}|%{FILENAMES}\n]' "$rpm_file")
while read -r mode flags path; do
    flags=${flags/-/}
    line=$(awk -F'|' -v p="$path" '$3 == p' <<<"$listing")
    [ -n "$line" ] || fail "$path is not in $rpm_file"
    IFS='|' read -r got_mode got_flags _ <<<"$line"
    [ "$got_mode" = "$mode" ] || fail "$path: mode $got_mode, want $mode"
    # rpm prints "" (nothing) for no flags, "d" for %doc; only the config letters matter here.
    got_config=$(tr -cd 'cn' <<<"${got_flags:-}")
    [ "$got_config" = "$flags" ] || fail "$path: flags '$got_flags', want '${flags:-none}'"
done <<<"$expected"
echo "rpm -qlp: every file present with its mode and config flags ($(wc -l <<<"$listing") entries)"
rpm -qp --provides "$rpm_file" | grep -q '^piranha = ' || fail "the RPM does not provide piranha"
rpm -qp --obsoletes "$rpm_file" | grep -q '^piranha <= 0.8.6' || fail "the RPM does not obsolete piranha"

# Install into a scratch root. --nodeps: the root has no /bin/sh or libc to satisfy anything;
# --noscripts: the scriptlets would run chrooted into that empty root.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/pulse-rpmroot.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# (Debian's rpm warns against installing into its own root unless told it is deliberate.)
debian=(); rpm --help 2>/dev/null | grep -q -- --force-debian && debian=(--force-debian)
rpm --root "$scratch" --dbpath /var/lib/rpm --nodeps --noscripts "${debian[@]}" -i "$rpm_file"
rpm --root "$scratch" --dbpath /var/lib/rpm -q pulse >/dev/null || fail "not installed in the scratch root"
"$scratch/usr/sbin/pulsectl" config check "$scratch/etc/sysconfig/ha/lvs.cf" ||
    fail "the installed pulsectl refuses the installed lvs.cf"
"$scratch/usr/sbin/pulse" --version | grep -q '^Program Version:' || fail "installed pulse --version"
"$scratch/usr/sbin/lvsd" --version | grep -q '^Program Version:' || fail "installed lvsd --version"
echo "rpm --root: installed; its pulsectl accepts its lvs.cf"

# The deb: the same files (the SysV script at Debian's /etc/init.d), the same modes.
deb_listing=$(dpkg-deb -c "$deb_file")
while read -r mode _ path; do
    [ "$path" = /etc/rc.d/init.d/pulse ] && path=/etc/init.d/pulse
    suffix=; [ "${mode:0:1}" = d ] && suffix=/
    grep -qE "^${mode} root/root +[0-9]+ [0-9-]+ [0-9:]+ \.${path}${suffix}\$" <<<"$deb_listing" ||
        fail "$path ($mode) is not in $deb_file"
done <<<"$expected"
dpkg-deb -f "$deb_file" Conflicts | grep -q piranha || fail "the deb does not conflict with piranha"
echo "dpkg-deb -c: the same files with the same modes"

# Stripped binaries, their debug information in the separate packages (by build id), and a
# deb that installs in under 20 MB (unstripped it was 94 MB; stripped 12 MB, then 16.5 MB once
# lvsd and pulse carried the HTTPS checks' TLS stack, rustls + ring + webpki roots).
debuginfo_listing=$(rpm -qlp "$debuginfo_file")
dbgsym_listing=$(dpkg-deb -c "$dbgsym_file")
for b in pulse lvsd pulsectl; do
    readelf -S "$scratch/usr/sbin/$b" | grep -q '\.debug_info' && fail "/usr/sbin/$b is not stripped"
    id=$(readelf -n "$scratch/usr/sbin/$b" | sed -n 's/^ *Build ID: \([0-9a-f]*\)$/\1/p')
    debug=/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
    grep -qx "$debug" <<<"$debuginfo_listing" || fail "$debug ($b) is not in $debuginfo_file"
    grep -q " \.$debug\$" <<<"$dbgsym_listing" || fail "$debug ($b) is not in $dbgsym_file"
done
size=$(dpkg-deb -f "$deb_file" Installed-Size)
[ "$size" -lt 20480 ] || fail "the deb's Installed-Size is $size KiB (limit 20 MiB)"
dpkg-deb -f "$dbgsym_file" Depends | grep -q "^pulse (= " || fail "pulse-dbgsym does not depend on its pulse"
echo "stripped: debug information in $(basename "$debuginfo_file") and $(basename "$dbgsym_file"); Installed-Size $size KiB"

# lintian and rpmlint, when installed (tests/install-deps.sh installs them): nothing above
# the tags packaging/README.md explains.
if command -v lintian >/dev/null; then
    tags=$(lintian --tag-display-limit 0 "$deb_file" "$dbgsym_file" 2>/dev/null | grep -E '^[EW]: ' |
        grep -v -x 'W: pulse: init.d-script-does-not-source-init-functions \[etc/init.d/pulse\]' || true)
    [ -z "$tags" ] || fail "lintian: $tags"
    echo "lintian: clean (one explained warning)"
fi
if command -v rpmlint >/dev/null; then
    tags=$(rpmlint -c packaging/rpm/rpmlint.toml "$rpm_file" "$debuginfo_file" 2>/dev/null | grep -E '^pulse' |
        grep -v -E ': E: no-signature$|: W: no-manual-page-for-binary |: W: only-non-binary-in-usr-lib$' |
        grep -v -E '^pulse-debuginfo\.x86_64: (E: shared-library-without-dependency-information|W: unstripped-binary-or-object) /usr/lib/debug/|^pulse-debuginfo\.x86_64: W: (no-documentation|requires-on-release)' || true)
    [ -z "$tags" ] || fail "rpmlint: $tags"
    echo "rpmlint: clean but for the tags packaging/README.md explains"
fi

bash packaging/check-units.sh
# cockpit-pulse: the console's files, in both formats, depending on its pulse and on Cockpit.
# shellcheck disable=SC2012
cockpit_rpm=$(ls -t target/packages/cockpit-pulse-[0-9]*.noarch.rpm | head -1)
# shellcheck disable=SC2012
cockpit_deb=$(ls -t target/packages/cockpit-pulse_*_all.deb | head -1)
cockpit_rpm_list=$(rpm -qlp "$cockpit_rpm")
cockpit_deb_list=$(dpkg-deb -c "$cockpit_deb")
for f in manifest.json index.html app.js render.js pulse.css; do
    grep -qx "/usr/share/cockpit/pulse/$f" <<<"$cockpit_rpm_list" || fail "$f is not in $cockpit_rpm"
    grep -q " \./usr/share/cockpit/pulse/$f\$" <<<"$cockpit_deb_list" || fail "$f is not in $cockpit_deb"
done
rpm -qp --requires "$cockpit_rpm" | grep -q '^cockpit-bridge' || fail "cockpit-pulse (RPM) does not require cockpit-bridge"
dpkg-deb -f "$cockpit_deb" Depends | grep -q 'cockpit-bridge' || fail "cockpit-pulse (deb) does not depend on cockpit-bridge"
echo "cockpit-pulse: $(basename "$cockpit_rpm") and $(basename "$cockpit_deb") carry the console"

echo "packages OK: $rpm_file $deb_file"
