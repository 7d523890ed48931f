#!/usr/bin/env bash
# tests/vm/run-in-vm.sh — run one program inside a throw-away QEMU VM whose Debian kernel has
# IPVS (ip_vs + every scheduler) loaded. The host kernel has no IPVS; this is how Pulse's
# IPVS-touching tests and benchmarks get a real one.
#
# Usage: run-in-vm.sh [options] PROGRAM [ARGS...]
#   -b PATH     also put host binary PATH (+ the shared libs ldd lists) at the same path in the
#               VM (repeatable). ipvsadm, iproute2's ip and bash are always there.
#   -f SRC:DST  copy a host file or directory SRC to DST in the VM (repeatable)
#   -m MODULE   load one more kernel module (repeatable; dependencies come from modules.dep)
#   -e VAR=VAL  set an environment variable for PROGRAM (repeatable)
#   -s DIR      share host DIR read-write over virtio-9p (repeatable). The first share is
#               mounted at /mnt/host; every share is also mounted at its own host path when
#               that path is not a system directory (/usr, /lib, /etc, /run, ...), so host
#               paths such as target/debug/... and env!("CARGO_MANIFEST_DIR") stay valid.
#               A PROGRAM inside a share runs from there (not copied; see VM_COPY).
#   -C DIR      working directory of PROGRAM in the VM (default /test)
#   -v          print the VM console (kernel + init messages) to stderr after the run
#               (it is printed anyway when no exit status came back)
#   -h          this help
#
# Environment:
#   VM_MEM          guest memory in MiB (default 1024)
#   VM_SMP          vCPUs (default 2; multi-threaded TCG, one host thread per vCPU)
#   VM_TIMEOUT      wall-clock limit in seconds for the whole VM run (default 300)
#   VM_COPY         1 = copy PROGRAM into the initramfs even when it lies in a -s share
#   VM_KEEP         1 = keep the work dir (initramfs, console log) and print its path
#   VM_BOOT         pvh (default: boot the uncompressed vmlinux through QEMU's PVH entry,
#                   ~2.5 s faster under TCG than the bzImage) | bzimage
#   VM_IO           virtio (default: PROGRAM's stdout/stderr/status over virtio-serial ports,
#                   ~7 MB/s; costs ~0.3 s of boot) | serial (16550 UARTs ttyS1-3, ~0.3 MB/s)
#   VM_APPEND       kernel command line instead of "quiet loglevel=4" (e.g. "loglevel=7")
#   VM_9P_CACHE     cache mode of the 9p mounts (default loose: page cache + readahead;
#                   files changed on the host *during* the run may be seen stale)
#   PULSE_VM_CACHE  kernel/initramfs cache, outside the repo
#                   (default ${XDG_CACHE_HOME:-$HOME/.cache}/pulse-vm; about 450 MB)
#   PULSE_VM_KERNEL Debian kernel package to use, e.g. linux-image-6.1.0-56-amd64 (default:
#                   the newest one already in the cache, else what linux-image-amd64 depends
#                   on now; so a cached kernel stays in use until the cache is deleted)
#
# In the VM: PROGRAM runs as root, pid 1's child, stdin /dev/null, with proc, sysfs, devtmpfs,
# devpts, tmpfs on /run (with /run/netns, so `ip netns add` works) and /dev/shm, /var/run ->
# /run, a writable RAM root (/tmp included), lo up, hostname pulse-vm, PATH
# /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin (so `ipvsadm` and `ip` resolve
# to the real tools), and these modules loaded: ip_vs and all its schedulers (rr wrr lc wlc
# lblc lblcr dh sh sed nq fo ovf mh), veth, bridge, dummy, 8021q, nlmon (+virtio, 9p).
# AF_PACKET, IPv6, netns are built in. The clock is the host's (RTC); `date` is busybox's
# (no %N: in bash use $EPOCHREALTIME).
# No NIC: build networks with netns + veth inside the VM. /bin/sh is bash; busybox provides
# the other small tools. (busybox's own sh prefers its applets: there `ip` is busybox's.)
#
# Output: PROGRAM's stdout and stderr come back separately (virtio-serial ports or ttyS1/2 ->
# files, streamed live to our stdout/stderr), its exit status through a third port; this
# script exits with that status. 124: the VM timed out (qemu is killed); 125: no status came back
# (infrastructure failure; the console is dumped). The console of the last run is kept at
# $PULSE_VM_CACHE/last-console.log.
#
# Needs (Debian 12): qemu-system-x86 busybox-static ipvsadm iproute2 cpio (tests/vm/install-deps.sh).
# The kernel: an installed linux-image-*-amd64 with ip_vs (/boot/vmlinuz-V + /lib/modules/V),
# or else Debian's current one, fetched once with `apt-get download` (~70 MB) and unpacked with
# dpkg-deb -x into $PULSE_VM_CACHE: nothing is installed on the host.
set -euo pipefail

die() { echo "run-in-vm: $*" >&2; exit 125; }
log() { echo "run-in-vm: $*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }

EXTRA_BINS=()
EXTRA_FILES=()
EXTRA_MODS=()
ENVS=()
SHARES=()
GCWD=/test
VERBOSE=0
while getopts "b:f:m:e:s:C:vh" o; do
    case $o in
        b) EXTRA_BINS+=("$OPTARG") ;;
        f) EXTRA_FILES+=("$OPTARG") ;;
        m) EXTRA_MODS+=("$OPTARG") ;;
        e) ENVS+=("$OPTARG") ;;
        s) d=$(cd "$OPTARG" 2>/dev/null && pwd -P) || die "no such directory: $OPTARG"
           case $d in *[[:space:],]*) die "-s: no spaces or commas in the path, please: $d" ;; esac
           SHARES+=("$d") ;;
        C) GCWD=$OPTARG ;;
        v) VERBOSE=1 ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) exit 125 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || die "usage: run-in-vm.sh [options] PROGRAM [ARGS...]  (-h for help)"
PROG_ARG=$1
PROG=$(readlink -f "$1") || die "no such program: $1"
shift
[ -f "$PROG" ] || die "no such program: $PROG"

MEM=${VM_MEM:-1024}
SMP=${VM_SMP:-2}
TIMEOUT=${VM_TIMEOUT:-300}
CACHE=${PULSE_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulse-vm}
P9CACHE=${VM_9P_CACHE:-loose}

for t in qemu-system-x86_64 busybox cpio gzip ldd timeout flock; do
    command -v "$t" >/dev/null ||
        die "missing $t: run tests/vm/install-deps.sh (as root)"
done
BUSYBOX=$(command -v busybox)
! ldd "$BUSYBOX" >/dev/null 2>&1 || die "busybox must be static: apt-get install busybox-static"
for t in /usr/sbin/ipvsadm /usr/sbin/ip /bin/bash; do
    [ -x "$t" ] || die "missing $t: run tests/vm/install-deps.sh (as root)"
done

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"   # serialises cache writes between concurrent runs (not the VMs)
flock 9

# ------------------------------------------------------------------ kernel + modules
# Sets KIMG (bzImage), KVER, MODDIR (.../lib/modules/$KVER with a modules.dep)
find_kernel() {
    local k v pkg root
    if [ -z "${PULSE_VM_KERNEL:-}" ]; then
        for k in /boot/vmlinuz-*; do
            [ -f "$k" ] || continue
            v=${k#/boot/vmlinuz-}
            if compgen -G "/lib/modules/$v/kernel/net/netfilter/ipvs/ip_vs.ko*" >/dev/null &&
               [ -f "/lib/modules/$v/modules.dep" ] &&
               compgen -G "/lib/modules/$v/kernel/net/9p/9pnet_virtio.ko*" >/dev/null; then
                KIMG=$k KVER=$v MODDIR=/lib/modules/$v
                return 0
            fi
        done
    fi
    pkg=${PULSE_VM_KERNEL:-}
    if [ -z "$pkg" ]; then   # a kernel already in the cache (apt-cache alone costs 0.8 s)
        root=$(find "$CACHE" -maxdepth 2 -name .complete -path '*/linux-image-*' 2>/dev/null |
               sort -V | tail -1)
        [ -n "$root" ] && pkg=$(basename "$(dirname "$root")")
    fi
    if [ -z "$pkg" ]; then
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
              awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
    if [ -z "$pkg" ]; then
        log "apt lists do not know linux-image-amd64; running apt-get update"
        apt-get update -qq >&2 || die "apt-get update failed (are you root?)"
        pkg=$(apt-cache depends linux-image-amd64 |
              awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
    [ -n "$pkg" ] || die "cannot resolve linux-image-amd64's kernel package"
    v=${pkg#linux-image-}
    root=$CACHE/$pkg
    if [ ! -f "$root/.complete" ]; then
        log "fetching $pkg into $root (once)"
        rm -rf "$root"
        mkdir -p "$root"
        local dl
        dl=$(mktemp -d "${TMPDIR:-/tmp}/pulse-vm-deb.XXXXXX")
        chown _apt "$dl" 2>/dev/null || true   # lets apt download sandboxed
        (cd "$dl" && apt-get download -q "$pkg" >&2) ||
            { rm -rf "$dl"; die "apt-get download $pkg failed"; }
        dpkg-deb -x "$dl"/*.deb "$root" || { rm -rf "$dl"; die "dpkg-deb -x failed"; }
        rm -rf "$dl" "$root/usr/share/doc"
        "$BUSYBOX" depmod -b "$root" "$v" || die "depmod failed"
        touch "$root/.complete"
    fi
    KIMG=$root/boot/vmlinuz-$v KVER=$v MODDIR=$root/lib/modules/$v
}

# Under TCG ~3 s of each boot go to the emulated BIOS + the bzImage's xz decompressor. QEMU can
# boot the uncompressed ELF vmlinux through its PVH entry (Debian: CONFIG_PVH=y): unpack it once.
extract_vmlinux() { # BZIMAGE OUT
    local fmt off
    for fmt in 'xz:\xfd\x37\x7a\x58\x5a\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08'; do
        command -v "${fmt%%:*}" >/dev/null || continue
        for off in $(LC_ALL=C grep -obUaP "${fmt#*:}" "$1" | cut -d: -f1 | head -3); do
            tail -c +$((off + 1)) "$1" | "${fmt%%:*}" -dc >"$2.tmp" 2>/dev/null || true
            if [ "$(head -c 4 "$2.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
                mv "$2.tmp" "$2"
                return 0
            fi
        done
    done
    rm -f "$2.tmp"
    return 1
}

tb0=$(now)
find_kernel
[ -f "$KIMG" ] || die "kernel image $KIMG missing"
BOOTIMG=$KIMG
if [ "${VM_BOOT:-pvh}" = pvh ]; then
    VMLINUX=$CACHE/vmlinux-$KVER
    if [ -s "$VMLINUX" ] || extract_vmlinux "$KIMG" "$VMLINUX"; then
        BOOTIMG=$VMLINUX
    else
        log "could not unpack vmlinux from $KIMG; booting the bzImage"
    fi
fi

# ------------------------------------------------------------------ work dir, cleanup
W=$(mktemp -d "${TMPDIR:-/tmp}/pulse-vm.XXXXXX")
QPID="" T1="" T2=""
# shellcheck disable=SC2317  # (called through the trap)
cleanup() {
    local rc=$?
    if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
        kill "$QPID" 2>/dev/null || true            # timeout(1) passes it on to qemu
    fi
    if [ -s "$W/qemu.pid" ]; then
        local q
        q=$(cat "$W/qemu.pid" 2>/dev/null || true)
        if [ -n "$q" ] && [ "$(cat "/proc/$q/comm" 2>/dev/null)" = qemu-system-x86 ]; then
            kill -9 "$q" 2>/dev/null || true
        fi
    fi
    for t in $T1 $T2; do kill "$t" 2>/dev/null || true; done
    if [ "${VM_KEEP:-0}" = 1 ]; then log "kept $W"; else rm -rf "$W"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ base initramfs (cached)
# busybox, bash, ipvsadm, ip with their libs, /etc basics, the kernel modules: the same for
# every run, so it is built once per kernel/tool version and reused (gzip, padded to 4 bytes
# so that the per-run cpio can simply be appended).
MODS=(crc32c_generic ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr
      ip_vs_dh ip_vs_sh ip_vs_sed ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_mh veth bridge dummy 8021q)
grep -qE '(^|/)nlmon\.ko' "$MODDIR/modules.dep" && MODS+=(nlmon)
SHARE_MODS=(9pnet_virtio 9p)
IO_MODS=(virtio_pci virtio_console)   # VM_IO=virtio: stdout/stderr/status over virtio-serial
BASE_BINS=(/usr/sbin/ipvsadm /usr/sbin/ip /bin/bash)
BASE_VERSION=5   # bump when the base layout below changes

# Debian signs its modules; checking an RSA signature per module under TCG is slow and
# nothing here needs it: cut the appended signature (the kernel then notes a taint, loads it)
strip_module_sig() { # FILE
    local f=$1 sz b len=0
    [ "$(tail -c 28 "$f")" = "~Module signature appended~" ] || return 0
    sz=$(stat -c %s "$f")
    for b in $(tail -c 32 "$f" | head -c 4 | od -An -tu1); do len=$((len * 256 + b)); done
    truncate -s $((sz - 28 - 12 - len)) "$f"
}

# copy module FILE (a modules.dep path) from MODDIR to ROOT, uncompressed; prints its new path
install_module() { # ROOT FILE
    local root=$1 f=$2 dst
    dst=lib/modules/$KVER/${f%.ko*}.ko
    mkdir -p "$root/$(dirname "$dst")"
    case $f in
        *.ko.xz)  xz -dc "$MODDIR/$f" >"$root/$dst" ;;
        *.ko.zst) zstd -qdc "$MODDIR/$f" >"$root/$dst" ;;
        *.ko.gz)  gzip -dc "$MODDIR/$f" >"$root/$dst" ;;
        *)        cp "$MODDIR/$f" "$root/$dst" ;;
    esac
    [ "${VM_MODSIG:-strip}" = keep ] || strip_module_sig "$root/$dst"
}
modline() { # MODULE -> its modules.dep line ("path: deps...") in MODDIR, or fail
    grep -E "(^|/)${1//_/[_-]}\.ko(\.xz|\.zst|\.gz)?:" "$MODDIR/modules.dep" | head -1
}

# copy a host binary and every shared object ldd reports for it to ROOT, keeping paths
copy_bin() { # ROOT SRC [DST]
    local root=$1 src=$2 dst=${3:-$2} l
    mkdir -p "$root$(dirname "$dst")"
    cp -L "$src" "$root$dst"
    if ldd "$src" >/dev/null 2>&1; then
        for l in $(ldd "$src" | grep -o '/[^ )]*'); do
            [ -e "$root$l" ] && continue
            [ -n "${BASE_HAS[$l]:-}" ] && continue
            mkdir -p "$root$(dirname "$l")"
            cp -L "$l" "$root$l"
        done
    fi
}
declare -A BASE_HAS=()

key=$( { echo "$BASE_VERSION ${VM_MODSIG:-strip} $KVER ${MODS[*]} ${SHARE_MODS[*]} ${IO_MODS[*]}"
         for b in "$BUSYBOX" "${BASE_BINS[@]}"; do
             ls -lL "$b"
             ldd "$b" 2>/dev/null | grep -o '/[^ )]*' | xargs -r ls -lL
         done; } | sha256sum | cut -c1-16)
BASE=$CACHE/base-$KVER-$key.cpio.gz
if [ ! -s "$BASE" ] || [ ! -s "$BASE.list" ] || [ ! -s "$BASE.moddep" ]; then
    log "building base initramfs $BASE"
    B=$W/base
    mkdir -p "$B"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,var,mnt/host,test,root,etc} \
             "$B/lib/modules/$KVER"
    cp "$BUSYBOX" "$B/bin/busybox"
    for b in "${BASE_BINS[@]}"; do copy_bin "$B" "$b"; done
    ln -s bash "$B/bin/sh"
    ln -s /run "$B/var/run"
    # busybox applets for everything that is not there already (never shadow ip/ipvsadm/sh)
    for a in $("$BUSYBOX" --list-full); do
        n=$(basename "$a")
        [ "$n" = ip ] || [ "$n" = sh ] || [ "$n" = bash ] || [ "$n" = linuxrc ] && continue
        [ -e "$B/$a" ] || [ -e "$B/usr/sbin/$n" ] || [ -e "$B/bin/$n" ] && continue
        mkdir -p "$B/$(dirname "$a")"
        ln -s /bin/busybox "$B/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$B/etc/passwd"
    printf 'root:x:0:\n' >"$B/etc/group"
    printf '127.0.0.1 localhost pulse-vm\n::1 localhost ip6-localhost ip6-loopback\n' >"$B/etc/hosts"
    printf 'passwd: files\ngroup: files\nhosts: files\nservices: files\nprotocols: files\n' \
        >"$B/etc/nsswitch.conf"
    for f in /etc/protocols /etc/services; do [ -f "$f" ] && cp "$f" "$B$f"; done
    [ -d /etc/iproute2 ] && cp -a /etc/iproute2 "$B/etc/"
    [ -d /usr/share/iproute2 ] && mkdir -p "$B/usr/share" && cp -a /usr/share/iproute2 "$B/usr/share/"
    # modules: the closure (modules.dep lists transitive deps) of what we may load
    declare -A seen=()
    for m in "${MODS[@]}" "${SHARE_MODS[@]}" "${IO_MODS[@]}"; do
        line=$(modline "$m") ||
            { [ "$m" = virtio_pci ] && continue; die "module $m not in $MODDIR/modules.dep"; }
        for f in $(echo "$line" | tr -d ':'); do
            [ -n "${seen[$f]:-}" ] && continue
            seen[$f]=1
            install_module "$B" "$f"
        done
    done
    [ -f "$MODDIR/modules.builtin" ] && cp "$MODDIR/modules.builtin" "$B/lib/modules/$KVER/"
    "$BUSYBOX" depmod -b "$B" "$KVER"
    cp "$B/lib/modules/$KVER/modules.dep" "$BASE.moddep"   # -m MODULE extends it per run
    (cd "$B" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) >"$BASE.tmp"
    # pad with NULs to a multiple of 4: the kernel then reads an appended cpio aligned
    sz=$(stat -c %s "$BASE.tmp")
    head -c $(( (4 - sz % 4) % 4 )) /dev/zero >>"$BASE.tmp"
    (cd "$B" && find . -mindepth 1 | sed 's|^\.||') >"$BASE.list.tmp"
    mv "$BASE.list.tmp" "$BASE.list"
    mv "$BASE.tmp" "$BASE"
    rm -rf "$B"
fi
touch "$BASE" "$BASE.list" "$BASE.moddep"   # in use: other base images unused for a day are dropped
find "$CACHE" -maxdepth 1 -name 'base-*.cpio.gz*' -mtime +0 ! -name "${BASE##*/}*" -delete
flock -u 9
exec 9>&-
while IFS= read -r l; do BASE_HAS[$l]=1; done <"$BASE.list"

# ------------------------------------------------------------------ per-run initramfs part
R=$W/run
mkdir -p "$R/test"

# shares: guest mount points
unsafe_path() { # a host path we must not mount over in the guest
    case $1/ in
        /|//|/tmp/|/var/|/root/|/bin/*|/sbin/*|/lib/*|/lib64/*|/usr/*|/etc/*|/proc/*|/sys/*|/dev/*|/run/*|/var/run/*|/mnt/*|/test/*|/init/*) return 0 ;;
    esac
    return 1
}
GUEST_PROG=""
SHARE_LINES=""
for i in "${!SHARES[@]}"; do
    h=${SHARES[$i]}
    m=/mnt/host; [ "$i" = 0 ] || m=/mnt/host$i
    same=""; unsafe_path "$h" || same=$h
    SHARE_LINES+="share$i $m $same"$'\n'
    if [ -z "$GUEST_PROG" ] && [ "${VM_COPY:-0}" != 1 ] && [ "${PROG#"$h"/}" != "$PROG" ]; then
        if [ -n "$same" ]; then GUEST_PROG=$PROG; else GUEST_PROG=$m/${PROG#"$h"/}; fi
    fi
done
if [ -z "$GUEST_PROG" ] && [ -n "${BASE_HAS[$PROG_ARG]:-}" ]; then
    GUEST_PROG=$PROG_ARG   # one of the base tools (/bin/bash, /usr/sbin/ipvsadm, ...): there already
elif [ -n "$GUEST_PROG" ]; then
    # runs from the share; only its libraries go into the initramfs
    if ldd "$PROG" >/dev/null 2>&1; then
        for l in $(ldd "$PROG" | grep -o '/[^ )]*'); do
            [ -n "${BASE_HAS[$l]:-}" ] || [ -e "$R$l" ] && continue
            mkdir -p "$R$(dirname "$l")"
            cp -L "$l" "$R$l"
        done
    fi
else
    GUEST_PROG=/test/$(basename "$PROG")
    copy_bin "$R" "$PROG" "$GUEST_PROG"
    chmod +x "$R$GUEST_PROG"
fi
# -m MODULE: its modules.dep closure, and a modules.dep that knows it, in the per-run part
if [ ${#EXTRA_MODS[@]} -gt 0 ]; then
    dep=$R/lib/modules/$KVER/modules.dep
    mkdir -p "$(dirname "$dep")"
    cp "$BASE.moddep" "$dep"
    for m in "${EXTRA_MODS[@]}"; do
        line=$(modline "$m") || die "-m $m: no such module in $MODDIR/modules.dep"
        for f in $(echo "$line" | tr -d ':'); do
            g=${f%.ko*}.ko
            grep -q "^$g:" "$dep" && continue
            install_module "$R" "$f"
            grep -E "^$f:" "$MODDIR/modules.dep" | sed -E 's/\.ko\.(xz|zst|gz)/.ko/g' >>"$dep"
        done
    done
fi
for b in "${EXTRA_BINS[@]}"; do
    bp=$(command -v "$b" || true)
    [ -n "$bp" ] || die "no such binary: $b"
    copy_bin "$R" "$bp"
done
for fd in "${EXTRA_FILES[@]}"; do
    src=${fd%%:*} dst=${fd#*:}
    [ "$dst" != "$fd" ] || dst=$src
    [ -e "$src" ] || die "no such file: $src"
    mkdir -p "$R$(dirname "$dst")"
    cp -a "$src" "$R$dst"
done

# /init — PROGRAM's argv and env single-quoted for the shell
sq() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }
ARGV=$(sq "$GUEST_PROG")
for a in "$@"; do ARGV+=" $(sq "$a")"; done
ENVLINE=""
for e in "${ENVS[@]}"; do
    case $e in *=*) ;; *) die "-e wants VAR=VAL, got: $e" ;; esac
    ENVLINE+=" $(sq "$e")"
done
IO=${VM_IO:-virtio}
LOADMODS="${MODS[*]} ${EXTRA_MODS[*]}"
[ "$IO" = virtio ] || [ ${#SHARES[@]} -gt 0 ] && LOADMODS="$LOADMODS virtio_pci"
[ "$IO" = virtio ] && LOADMODS="$LOADMODS virtio_console"
[ ${#SHARES[@]} -gt 0 ] && LOADMODS="$LOADMODS ${SHARE_MODS[*]}"
# shellcheck disable=SC2016  # (IOSETUP is guest shell code, expanded there)
if [ "$IO" = virtio ]; then
    # virtio-serial ports named out/err/status; they appear shortly after the module loads
    IOSETUP='n=0
while [ "$(ls /sys/class/virtio-ports 2>/dev/null | wc -l)" -lt 3 ] && [ $n -lt 1000 ]; do
    usleep 10000; n=$((n + 1))
done
for p in /sys/class/virtio-ports/*; do ln -s "/dev/${p##*/}" "/dev/pulse-$(cat "$p/name")"; done
for p in out err status; do [ -e /dev/pulse-$p ] || echo "init: virtio port $p missing"; done'
    OUT=/dev/pulse-out ERR=/dev/pulse-err STATUS=/dev/pulse-status
else
    IOSETUP='for t in 1 2 3; do stty -F /dev/ttyS$t raw -echo; done'
    OUT=/dev/ttyS1 ERR=/dev/ttyS2 STATUS=/dev/ttyS3
fi
cat >"$R/init" <<EOF
#!/bin/busybox sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/netns /run/lock
chmod 1777 /tmp   # the RAM root itself; host files copied to /tmp stay visible
hostname pulse-vm
ulimit -n 65536
echo "@@PULSE-VM: init uptime \$(cut -d' ' -f1 /proc/uptime)"
modprobe -a $LOADMODS || for m in $LOADMODS; do modprobe \$m || echo "init: modprobe \$m failed"; done
echo "@@PULSE-VM: modules uptime \$(cut -d' ' -f1 /proc/uptime)"
/usr/sbin/ip link set lo up
while read -r tag mnt same; do
    [ -n "\$tag" ] || continue
    mkdir -p "\$mnt"
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=$P9CACHE "\$tag" "\$mnt" ||
        echo "init: 9p mount of \$tag failed"
    if [ -n "\$same" ]; then mkdir -p "\$same" && mount --bind "\$mnt" "\$same"; fi
done <<'SHARES'
$SHARE_LINES
SHARES
$IOSETUP
mkdir -p $(sq "$GCWD")
cd $(sq "$GCWD")
echo "@@PULSE-VM: start uptime \$(cut -d' ' -f1 /proc/uptime)"
env$ENVLINE $ARGV >$OUT 2>$ERR </dev/null
rc=\$?
echo "@@PULSE-VM: exit \$rc uptime \$(cut -d' ' -f1 /proc/uptime)"
echo \$rc >$STATUS
sync
poweroff -f
EOF
chmod +x "$R/init"
# the per-run part (init, copied programs) stays uncompressed: small unless VM_COPY=1 copies
# a big binary, and 9p is the faster way for those anyway (tests/vm/README.md)
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$W/run.cpio"
cat "$BASE" "$W/run.cpio" >"$W/initrd"
rm -f "$W/run.cpio"

# ------------------------------------------------------------------ boot
VIRTFS=()
for i in "${!SHARES[@]}"; do
    VIRTFS+=(-virtfs "local,path=${SHARES[$i]},mount_tag=share$i,security_model=none,multidevs=remap,id=share$i")
done
: >"$W/out"; : >"$W/err"; : >"$W/status"; : >"$W/console"
if [ "$IO" = virtio ]; then
    IODEV=(-device "virtio-serial-pci,id=vser")
    for i in 1 2 3; do
        n=$(echo x out err status | cut -d' ' -f$((i + 1)))
        IODEV+=(-chardev "file,id=c$n,path=$W/$n"
                -device "virtserialport,bus=vser.0,nr=$i,chardev=c$n,name=$n")
    done
else
    IODEV=(-serial "file:$W/out" -serial "file:$W/err" -serial "file:$W/status")
fi
t0=$(now)
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m "$MEM" -smp "$SMP" \
    -nodefaults -no-user-config -display none -no-reboot -nic none \
    -kernel "$BOOTIMG" -initrd "$W/initrd" \
    -append "console=ttyS0 ${VM_APPEND:-quiet loglevel=4} panic=-1 oops=panic" \
    -serial "file:$W/console" "${IODEV[@]}" -pidfile "$W/qemu.pid" \
    "${VIRTFS[@]}" </dev/null >"$W/qemu.log" 2>&1 &
QPID=$!
# stream PROGRAM's output while it runs (tail ends when qemu has)
tail -n +1 -s 0.1 -f --pid="$QPID" "$W/out" &
T1=$!
tail -n +1 -s 0.1 -f --pid="$QPID" "$W/err" >&2 &
T2=$!
qrc=0
wait "$QPID" || qrc=$?
QPID=""
wait "$T1" "$T2" 2>/dev/null || true
T1="" T2=""
t1=$(now)
cp "$W/console" "$CACHE/last-console.log" 2>/dev/null || true
if [ "$VERBOSE" = 1 ] || [ ! -s "$W/status" ]; then
    { echo "---- VM console ($CACHE/last-console.log)"; cat "$W/console"
      cat "$W/qemu.log"; echo "----"; } >&2
fi
start=$(sed -n 's/^@@PULSE-VM: start uptime \([0-9.]*\).*/\1/p' "$W/console" | head -1)
end=$(sed -n 's/^@@PULSE-VM: exit [0-9]* uptime \([0-9.]*\).*/\1/p' "$W/console" | head -1)
ran="?"
[ -n "$start" ] && [ -n "$end" ] && ran=$(secs "$start" "$end")
log "kernel $KVER, initramfs $(secs "$tb0" "$t0") s ($(stat -c %s "$W/initrd") bytes)," \
    "guest booted in ${start:-?} s, program ran $ran s, VM wall $(secs "$t0" "$t1") s, qemu rc $qrc"
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    log "timed out after ${TIMEOUT}s (VM_TIMEOUT); console: $CACHE/last-console.log"
    exit 124
fi
st=$(tr -dc '0-9' <"$W/status")
[ -n "$st" ] || { log "no exit status came back from the VM"; exit 125; }
exit "$st"
