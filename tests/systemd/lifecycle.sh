#!/bin/bash
# tests/systemd/lifecycle.sh: the operator's life cycle of the pulse deb, run INSIDE a Debian
# whose PID 1 is systemd (tests/systemd/run.sh boots one with systemd-nspawn, or in a QEMU VM).
#
#   lifecycle.sh DIR     DIR holds pulse_V_amd64.deb and pulse_V+lifecycle1_amd64.deb (newer);
#                        results (the metrics scrape, the security report) are written to DIR/out
#
# Steps, each asserted: install (registered, not enabled, not started) -> enable --now (active,
# VIP held, SCHED_FIFO + mlockall, lvsd running, a stray lvsd for the same socket reaped,
# security exposure <= 3.0) -> valid reload (new weight in lvsd, and in IPVS where the kernel
# has it) -> broken reload refused (service, pid, VIP and weight unchanged) -> upgrade while
# running (restarted, still enabled, config kept) -> /etc/init.d/pulse status|stop|start|stop
# through systemd -> without IPVS the service fails (where the kernel has no IPVS) ->
# service = fos with start_cmd/stop_cmd = systemctl start|stop of a unit of its own ->
# disable --now -> enable --now again, then dpkg -r (no pulse or lvsd left, no VIP, IPVS table
# empty) -> dpkg --purge (no file left that was not there before).
#
# Where the kernel has no IPVS (nspawn on this machine kind), pulse runs lvsd in its test mode
# (`lvsd -t`: checks real, table in memory) through OPTIONS="--lvsd WRAPPER" in
# /etc/sysconfig/pulse; everything else is the packaged service as shipped. Exit 0 when all pass.
set -uo pipefail
dir=$1
out=$dir/out
mkdir -p "$out"
export LC_ALL=C.UTF-8 SYSTEMD_PAGER='' SYSTEMD_COLORS=0

t_start=$EPOCHREALTIME
fails=0
elapsed() { awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}'; }
step() { printf '\n--- [%5s s] %s\n' "$(elapsed)" "$*"; }
ok() { echo "ok: $*"; }
bad() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}
check() { # DESCRIPTION COMMAND...: asserts the command succeeds
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
check_not() {
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then bad "$what"; else ok "$what"; fi
}
# wait_for SECONDS COMMAND...: polls every 0.2 s
wait_for() {
    local n=$(($1 * 5))
    shift
    while [ "$n" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
        n=$((n - 1))
    done
    return 1
}
fatal() {
    bad "$*"
    echo "--- journal of pulse.service"
    journalctl -u pulse.service -u stray-lvsd.service --no-pager -n 80 -o short-monotonic
    echo "=== $fails failure(s); stopped at a step the rest depends on"
    exit 1
}

new_deb=$(find "$dir" -maxdepth 1 -name 'pulse_*+lifecycle1_amd64.deb' | head -1)
old_deb=$(find "$dir" -maxdepth 1 -name 'pulse_*_amd64.deb' ! -name '*+lifecycle1_*' | head -1)
[ -n "$old_deb" ] && [ -n "$new_deb" ] || fatal "need pulse_V_amd64.deb and pulse_V+lifecycle1_amd64.deb in $dir"

ipvs=0
if modprobe ip_vs 2>/dev/null && [ -e /proc/net/ip_vs ]; then ipvs=1; fi
echo "bed: $(uname -r), systemd $(systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p'), IPVS: $([ $ipvs = 1 ] && echo yes || echo 'no (lvsd -t)')"

VIP=192.0.2.100
vip_held() { ip -4 -o addr show dev lan0 | grep -q " $VIP/"; }
mainpid() { systemctl show -p MainPID --value pulse.service; }
procs() { pgrep -x "$1" | wc -l; }
scrape() { # the metrics endpoint, body only (bash's /dev/tcp: no curl in the root)
    local body
    exec 7<>/dev/tcp/127.0.0.1/9469 || return 1
    printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&7
    body=$(timeout 5 cat <&7)
    exec 7<&-
    printf '%s\n' "$body" | sed '1,/^\r\{0,1\}$/d'
}
metric() { scrape | awk -v k="$1" '$1 == k {print $2}'; }
RS='lvs_real_server_weight{virtual="web",server="rs1",address="192.0.2.50:80"}'
metric_is() { awk -v a="$(metric "$1")" -v b="$2" 'BEGIN {exit !(a != "" && a + 0 == b + 0)}'; }
weight_is() { metric_is "$RS" "$1"; }
ipvs_weight_is() { ipvsadm -Ln -t "$VIP:80" | awk '$2 == "192.0.2.50:80" {print $4}' | grep -qx "$1"; }

# lvs.cf with rs1's WEIGHT and SERIAL.
write_cf() {
    cat >/etc/sysconfig/ha/lvs.cf <<CF
# pulse life-cycle test (tests/systemd/lifecycle.sh)
serial_no = $2
primary = 192.0.2.1
backup = 192.0.2.2
backup_active = 1
service = lvs
keepalive = 1
deadtime = 3
network = direct
metrics_port = 9469
metrics_address = 127.0.0.1
virtual web {
     active = 1
     address = $VIP lan0:1
     port = 80
     scheduler = wlc
     protocol = tcp
     timeout = 3
     reentry = 3
     server rs1 {
         address = 192.0.2.50
         active = 1
         weight = $1
     }
}
CF
}

# ------------------------------------------------------------------ the LAN and a real server
step "network: lan0 (this director, 192.0.2.1) <-> netns backup: lan0 (192.0.2.2, real server 192.0.2.50:80)"
ip link set lo up
ip netns add backup || fatal "cannot create a network namespace"
ip link add lan0 type veth peer name lanb || fatal "cannot create the veth pair"
ip link set lanb netns backup
ip -n backup link set lanb name lan0
ip -n backup addr add 192.0.2.2/24 dev lan0
ip -n backup addr add 192.0.2.50/24 dev lan0
ip -n backup link set lo up
ip -n backup link set lan0 up
ip addr add 192.0.2.1/24 dev lan0
ip link set lan0 up
cat >/usr/local/bin/real-server <<'PL'
#!/usr/bin/perl
# A web server for the health checks: answers every connection on 192.0.2.50:80.
use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalAddr => "192.0.2.50:80", Listen => 16, ReuseAddr => 1) or die "$!";
while (my $c = $s->accept) { print $c "HTTP/1.0 200 OK\r\n\r\nok\n"; close $c }
PL
chmod 0755 /usr/local/bin/real-server
systemd-run --quiet --unit=rs1 ip netns exec backup /usr/local/bin/real-server || fatal "cannot start the real server"
wait_for 5 bash -c 'exec 3<>/dev/tcp/192.0.2.50/80' || fatal "real server not listening"
ok "real server listening"

# What the system holds before the package: compared with what is left after the purge.
# Pruned: state the system writes on its own. /var/backups is dpkg's database backup, written
# by Debian's dpkg-db-backup.timer (daily, at midnight): a run crossing midnight saw
# /var/backups/dpkg.status.0 and its siblings appear, like /var/lib/dpkg not the package's.
snapshot() {
    find /etc /usr /var /run /opt /srv -xdev \
        \( -path /var/log -o -path /var/cache -o -path /var/lib/dpkg -o -path /var/lib/apt \
        -o -path /var/backups \
        -o -path /var/lib/systemd -o -path /run/systemd -o -path /run/user -o -path /run/udev \
        -o -path /var/tmp -o -path /run/log -o -path /run/dbus -o -path /run/credentials \
        -o -path /run/lock -o -path /run/netns -o -path /var/lib/private -o -path /usr/lib/debug \) -prune -o -print 2>/dev/null |
        grep -v -e '^/run/systemd' | sort
}
snapshot >"$out/files-before.txt"

# ------------------------------------------------------------------ install
step "dpkg -i $(basename "$old_deb")"
dpkg -i "$old_deb" || fatal "dpkg -i failed"
check "installed: pulse.service known to systemd" systemctl cat pulse.service
[ "$(systemctl is-enabled pulse.service 2>&1)" = disabled ] && ok "registered, not enabled" ||
    bad "is-enabled after install: $(systemctl is-enabled pulse.service 2>&1)"
check_not "not started by the install" systemctl is-active pulse.service
if [ $ipvs = 0 ]; then
    install -m 0755 /dev/stdin /usr/local/sbin/lvsd-t <<'W'
#!/bin/sh
# lvsd in its test mode (no IPVS in this kernel): the checks are real, the table in memory.
exec /usr/sbin/lvsd -t "$@"
W
    sed -i 's|^OPTIONS=.*|OPTIONS="--lvsd /usr/local/sbin/lvsd-t"|' /etc/sysconfig/pulse
fi
write_cf 1 1
pulsectl config check /etc/sysconfig/ha/lvs.cf || fatal "the test's lvs.cf is refused"

# A stray lvsd for pulse's lvsd socket, left over from before (run as a transient unit): pulse
# must find it through /proc (ProtectProc=invisible) and kill it before starting its own.
systemd-run --quiet --unit=stray-lvsd /usr/sbin/lvsd -t -n --control /var/run/lvsd.sock \
    -c /etc/sysconfig/ha/lvs.cf
wait_for 5 systemctl is-active stray-lvsd.service || fatal "the stray lvsd did not start"
stray=$(systemctl show -p MainPID --value stray-lvsd.service)

# ------------------------------------------------------------------ enable --now
step "systemctl enable --now pulse"
if systemctl enable --now pulse.service; then ok "enable --now exits 0"; else bad "enable --now failed"; fi
[ "$(systemctl is-enabled pulse.service)" = enabled ] && ok "enabled" || bad "not enabled"
check "SysV links follow (update-rc.d through systemctl): S links in rc2.d" compgen -G '/etc/rc2.d/S*pulse'
wait_for 10 systemctl is-active pulse.service || fatal "pulse.service not active"
ok "pulse.service active ($(systemctl show -p ActiveState,SubState --value pulse.service | xargs))"
wait_for 15 vip_held || fatal "VIP $VIP not held"
ok "VIP $VIP held on lan0"
pid=$(mainpid)
[ "$(procs pulse)" = 1 ] && ok "one pulse (pid $pid)" || bad "$(procs pulse) pulse processes"
if grep -q '^0::/system.slice/pulse.service$' "/proc/$pid/cgroup"; then ok "pulse in pulse.service's cgroup"; else bad "cgroup: $(cat /proc/$pid/cgroup)"; fi
if chrt -p "$pid" | grep -q SCHED_FIFO; then ok "SCHED_FIFO ($(chrt -p "$pid" | tail -1 | sed 's/.*: //'))"; else bad "not SCHED_FIFO: $(chrt -p "$pid")"; fi
lck=$(awk '/^VmLck:/ {print $2}' "/proc/$pid/status")
[ "${lck:-0}" -gt 0 ] && ok "mlockall: VmLck $lck kB" || bad "memory not locked (VmLck ${lck:-?})"
if journalctl -u pulse.service --no-pager | grep -q -e 'cannot run with real-time' -e 'memory cannot be locked'; then
    bad "a real-time warning was logged: $(journalctl -u pulse.service --no-pager | grep -e real-time -e 'cannot be locked')"
else ok "no real-time warning logged (issue 4)"; fi
if wait_for 15 bash -c "! kill -0 $stray"; then
    how=$(systemctl show -p ExecMainCode,ExecMainStatus --value stray-lvsd.service | xargs)
    # ExecMainCode 2 = killed by a signal, status 9 = SIGKILL: pulse's reaping, through /proc.
    [ "$how" = "2 9" ] && ok "the stray lvsd (pid $stray) was reaped with SIGKILL" ||
        bad "the stray lvsd ended otherwise (code/status $how)"
else bad "the stray lvsd $stray still runs"; fi
wait_for 10 bash -c "pgrep -x lvsd -P $pid" && ok "pulse runs its own lvsd (pid $(pgrep -x lvsd -P "$pid"))" ||
    bad "no lvsd child of pulse: $(pgrep -a -x lvsd)"
if journalctl -u pulse.service --no-pager -o cat | grep -q -i 'stray'; then ok "the reaping is logged: $(journalctl -u pulse.service --no-pager -o cat | grep -i -m1 stray)"; fi
wait_for 15 weight_is 1 || bad "rs1 not in the metrics with weight 1"
if [ $ipvs = 1 ]; then
    wait_for 15 ipvs_weight_is 1 && ok "IPVS: $VIP:80 -> 192.0.2.50:80 weight 1" || bad "IPVS table: $(ipvsadm -Ln)"
fi
# lvsd's log lines carry its own identifier (syslog through /dev/log under PrivateDevices=).
if journalctl -t lvsd --no-pager -o cat | grep -q .; then ok "lvsd logs as 'lvsd' (/dev/log works under PrivateDevices=)"; else bad "no journal lines from lvsd"; fi
# The partner, for a while: the backup director's pulse in netns backup (--test-start), so the
# scrape has every per-link series (last heard, received); stopped again before the next step.
systemd-run --quiet --unit=pulse-backup ip netns exec backup /usr/sbin/pulse -n --test-start \
    --no-realtime --control /run/pulse-backup.sock --lvsd-socket /run/lvsd-backup.sock \
    --state-dir /run/pulse-backup-state
heard() { [ -n "$(scrape | grep '^pulse_heartbeat_last_heard_seconds')" ]; }
wait_for 15 heard && ok "the partner is heard" || bad "the backup director is never heard"
wait_for 5 metric_is pulse_partner_alive 1 && ok "the partner is alive in the metrics" ||
    bad "pulse_partner_alive: $(metric pulse_partner_alive)"
scrape >"$out/metrics.txt"
systemctl stop pulse-backup.service
check_not "the backup's pulse stopped" systemctl is-active pulse-backup.service
check "still active with the partner gone" systemctl is-active pulse.service
[ -s "$out/metrics.txt" ] && ok "metrics scraped ($(grep -c -v '^#' "$out/metrics.txt") samples)" || bad "no metrics"
systemd-analyze security pulse.service --no-pager >"$out/security.txt" 2>&1
score=$(sed -n 's/.*Overall exposure level for pulse.service: \([0-9.]*\).*/\1/p' "$out/security.txt")
if [ -n "$score" ] && awk -v s="$score" 'BEGIN {exit !(s <= 3.0)}'; then ok "systemd-analyze security: exposure $score (<= 3.0)"; else bad "exposure ${score:-?} > 3.0"; fi

# ------------------------------------------------------------------ reloads
step "valid reload: rs1 weight 1 -> 3, serial_no 2"
write_cf 3 2
if systemctl reload pulse.service; then ok "systemctl reload exits 0"; else bad "reload failed"; fi
[ "$(mainpid)" = "$pid" ] && ok "same pulse (pid $pid)" || bad "pulse restarted on reload"
wait_for 15 weight_is 3 && ok "lvsd has weight 3" || bad "weight not 3 after reload: $(metric "$RS")"
if [ $ipvs = 1 ]; then
    wait_for 15 ipvs_weight_is 3 && ok "IPVS: weight 3" || bad "IPVS weight not 3: $(ipvsadm -Ln)"
fi

step "broken reload: refused, nothing changes"
cp /etc/sysconfig/ha/lvs.cf "$out/lvs.cf.good"
printf 'virtual broken {\n    port = notaport\n' >>/etc/sysconfig/ha/lvs.cf
if systemctl reload pulse.service 2>"$out/reload-refused.txt"; then bad "a broken lvs.cf was accepted by reload"; else ok "systemctl reload refused ($(head -1 "$out/reload-refused.txt"))"; fi
check "still active" systemctl is-active pulse.service
[ "$(mainpid)" = "$pid" ] && ok "same pulse" || bad "pulse changed"
check "VIP still held" vip_held
weight_is 3 && ok "weight still 3" || bad "weight changed: $(metric "$RS")"
cp "$out/lvs.cf.good" /etc/sysconfig/ha/lvs.cf

# ------------------------------------------------------------------ upgrade
step "upgrade while running: dpkg -i $(basename "$new_deb")"
cp /etc/sysconfig/ha/lvs.cf "$out/lvs.cf.before-upgrade"
dpkg -i "$new_deb" || bad "dpkg -i (upgrade) failed"
wait_for 10 systemctl is-active pulse.service && ok "active after the upgrade" || bad "not active after the upgrade"
newpid=$(mainpid)
[ "$newpid" != "$pid" ] && [ "$newpid" != 0 ] && ok "restarted (pid $pid -> $newpid)" || bad "not restarted by the upgrade"
[ "$(systemctl is-enabled pulse.service)" = enabled ] && ok "still enabled" || bad "enablement lost"
cmp -s /etc/sysconfig/ha/lvs.cf "$out/lvs.cf.before-upgrade" && ok "lvs.cf kept" || bad "lvs.cf changed by the upgrade"
grep -q lvsd-t /etc/sysconfig/pulse || [ $ipvs = 1 ] && ok "/etc/sysconfig/pulse kept" || bad "/etc/sysconfig/pulse replaced"
wait_for 15 vip_held && ok "VIP held again" || bad "VIP not held after the upgrade"
wait_for 15 weight_is 3 && ok "lvsd back with weight 3" || bad "weight after upgrade: $(metric "$RS")"
dpkg-query -W -f='${Version}\n' pulse

# ------------------------------------------------------------------ the SysV script on systemd
step "/etc/init.d/pulse on a systemd host: handed to systemctl"
/etc/init.d/pulse status >"$out/initd-status.txt" 2>&1
rc=$?
[ $rc = 0 ] && ok "status: 0 while running" || bad "status rc $rc"
grep -q 'Redirecting to: systemctl status pulse.service' "$out/initd-status.txt" && ok "status redirected" || bad "status not redirected: $(head -3 "$out/initd-status.txt")"
/etc/init.d/pulse stop && ok "stop exits 0" || bad "stop failed"
check_not "inactive after init.d stop" systemctl is-active pulse.service
[ "$(procs pulse)" = 0 ] && [ "$(procs lvsd)" = 0 ] && ok "no pulse, no lvsd" || bad "left: $(pgrep -a -x 'pulse|lvsd')"
check_not "VIP released" vip_held
/etc/init.d/pulse status >/dev/null 2>&1
rc=$?
[ $rc = 3 ] && ok "status: 3 when stopped" || bad "status rc $rc when stopped"
/etc/init.d/pulse start && ok "start exits 0" || bad "start failed"
wait_for 10 systemctl is-active pulse.service && ok "active: started inside the unit" || bad "init.d start: unit not active"
pid=$(mainpid)
grep -q '^0::/system.slice/pulse.service$' "/proc/$pid/cgroup" 2>/dev/null && ok "in the unit's cgroup" || bad "not in the unit's cgroup"
[ "$(procs pulse)" = 1 ] && ok "one pulse" || bad "$(procs pulse) pulses"
wait_for 15 vip_held && ok "VIP held" || bad "VIP not held after init.d start"
/etc/init.d/pulse start && [ "$(procs pulse)" = 1 ] && ok "a second start changes nothing" || bad "second start"
/etc/init.d/pulse reload && [ "$(mainpid)" = "$pid" ] && ok "reload through systemctl" || bad "init.d reload"
/etc/init.d/pulse stop >/dev/null && ! systemctl is-active -q pulse.service && ok "stopped again" || bad "init.d stop (2)"

# ------------------------------------------------------------------ no IPVS: the unit fails
if [ $ipvs = 0 ]; then
    step "without IPVS, pulse with the real lvsd refuses to start: the unit fails (issue item 5)"
    cp /etc/sysconfig/pulse "$out/sysconfig.saved"
    sed -i 's|^OPTIONS=.*|OPTIONS=""|' /etc/sysconfig/pulse
    if systemctl start pulse.service 2>/dev/null; then bad "started without IPVS"; else ok "systemctl start fails"; fi
    if wait_for 40 bash -c '[ "$(systemctl is-failed pulse.service)" = failed ]'; then
        ok "unit failed after $(systemctl show -p NRestarts --value pulse.service) restarts (StartLimitBurst)"
    else bad "unit not failed: $(systemctl show -p ActiveState,SubState --value pulse.service | xargs)"; fi
    journalctl -u pulse.service --no-pager -o cat | grep -m1 'IPVS is not available' >"$out/no-ipvs.txt" &&
        ok "journal: $(cat "$out/no-ipvs.txt")" || bad "no IPVS message in the journal"
    check_not "no VIP" vip_held
    [ "$(procs pulse)" = 0 ] && ok "no pulse left" || bad "pulse left running"
    systemctl reset-failed pulse.service
    cp "$out/sysconfig.saved" /etc/sysconfig/pulse
fi

# ------------------------------------------------------------------ service = fos under the unit
# Issue 15: `systemctl start haproxy`-style start_cmd/stop_cmd work under the hardened unit.
# pulse-test-svc: a tiny HTTP service in a unit of its own (perl: the root has no python3 or
# busybox); pulse, alone (no partner), becomes active after deadtime and starts it through
# systemctl, and `systemctl stop pulse` stops it through its stop_cmd.
step "service = fos: start_cmd/stop_cmd = /usr/bin/systemctl start|stop pulse-test-svc"
cp /etc/sysconfig/ha/lvs.cf "$out/lvs.cf.before-fos"
install -m 0755 /dev/stdin /usr/local/bin/pulse-test-svc <<'PL'
#!/usr/bin/perl
# pulse-test-svc: answers every request on port 8080 (read first: closing on unread data
# would reset the connection before the client reads the answer).
use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalAddr => "0.0.0.0:8080", Listen => 16, ReuseAddr => 1) or die "$!";
while (my $c = $s->accept) {
    $c->timeout(2);
    while (my $l = <$c>) { last if $l =~ /^\r?\n$/ }
    print $c "HTTP/1.0 200 OK\r\n\r\nfos\n";
    close $c;
}
PL
cat >/etc/systemd/system/pulse-test-svc.service <<'U'
[Unit]
Description=pulse life-cycle test: a service pulse's fos mode starts and stops
[Service]
ExecStart=/usr/local/bin/pulse-test-svc
# Started = listening (as HAProxy's Type=notify unit): pulse checks it right after start_cmd.
ExecStartPost=/bin/bash -c 'for _ in $$(seq 100); do (: </dev/tcp/127.0.0.1/8080) 2>/dev/null && exit 0; sleep 0.1; done; exit 1'
U
systemctl daemon-reload
cat >/etc/sysconfig/ha/lvs.cf <<CF
# pulse life-cycle test (tests/systemd/lifecycle.sh): service = fos
serial_no = 10
primary = 192.0.2.1
backup = 192.0.2.2
backup_active = 1
service = fos
keepalive = 1
deadtime = 2
failover web {
     active = 1
     address = $VIP lan0:1
     port = 8080
     send = "GET / HTTP/1.0\r\n\r\n"
     expect = "HTTP"
     timeout = 1
     start_cmd = "/usr/bin/systemctl start pulse-test-svc"
     stop_cmd = "/usr/bin/systemctl stop pulse-test-svc"
}
CF
pulsectl config check /etc/sysconfig/ha/lvs.cf >/dev/null || bad "the fos lvs.cf is refused"
check_not "pulse-test-svc inactive before pulse starts" systemctl is-active pulse-test-svc.service
fos_t0=$EPOCHREALTIME
systemctl start pulse.service || bad "systemctl start pulse (fos) failed"
svc_served() { # the service answers at the VIP
    local body
    exec 6<>/dev/tcp/$VIP/8080 || return 1
    printf 'GET / HTTP/1.0\r\n\r\n' >&6
    body=$(timeout 2 cat <&6)
    exec 6<&-
    [[ $body == *fos* ]]
}
if wait_for 15 systemctl is-active pulse-test-svc.service; then
    ok "pulse-test-svc active $(awk -v a="$fos_t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}') s after systemctl start pulse (deadtime 2 s)"
else
    bad "pulse-test-svc not started by pulse's start_cmd: $(systemctl show -p ActiveState,Result --value pulse-test-svc.service | xargs)"
fi
svcpid=$(systemctl show -p MainPID --value pulse-test-svc.service)
# Started by PID 1 in its own unit, not a child of pulse in pulse's cgroup and sandbox.
grep -q '^0::/system.slice/pulse-test-svc.service$' "/proc/$svcpid/cgroup" 2>/dev/null &&
    ok "in its own unit's cgroup (pid $svcpid)" || bad "pulse-test-svc cgroup: $(cat "/proc/$svcpid/cgroup" 2>&1)"
wait_for 10 vip_held && ok "VIP $VIP held" || bad "VIP not held in fos mode"
wait_for 10 svc_served && ok "the service answers at $VIP:8080" || bad "no answer at $VIP:8080"
wait_for 5 bash -c "journalctl -u pulse.service --no-pager -o cat | grep -q 'failover service started'" &&
    ok "journal: $(journalctl -u pulse.service --no-pager -o cat | grep -m1 'failover service started')" ||
    bad "no 'failover service started' in the journal"
sleep 2 # two checks of the service through the VIP: still one start, no restart
[ "$(systemctl show -p MainPID --value pulse-test-svc.service)" = "$svcpid" ] && ok "not restarted by pulse's checks" ||
    bad "pulse-test-svc restarted (pid $svcpid -> $(systemctl show -p MainPID --value pulse-test-svc.service))"
systemctl stop pulse.service || bad "systemctl stop pulse (fos) failed"
# stop_cmd ran before pulse exited, so the service is down when `systemctl stop pulse` returns.
state=$(systemctl is-active pulse-test-svc.service)
[ "$state" = inactive ] && ok "pulse-test-svc inactive once systemctl stop pulse returned" ||
    bad "pulse-test-svc $state after systemctl stop pulse"
check_not "VIP released" vip_held
if journalctl -u pulse.service --no-pager -o cat | grep -q -e 'failover service command failed' -e 'still running: killed'; then
    bad "a fos command failed: $(journalctl -u pulse.service --no-pager -o cat | grep -m1 -e 'command failed' -e 'killed')"
fi
journalctl -u pulse.service -u pulse-test-svc.service --no-pager -o short-monotonic --since "@${fos_t0%.*}" >"$out/fos-journal.txt"
cp "$out/lvs.cf.before-fos" /etc/sysconfig/ha/lvs.cf
rm -f /etc/systemd/system/pulse-test-svc.service /usr/local/bin/pulse-test-svc
systemctl daemon-reload

# ------------------------------------------------------------------ disable, remove, purge
step "systemctl disable --now pulse"
systemctl start pulse.service
wait_for 15 vip_held || bad "VIP not held before disable"
if systemctl disable --now pulse.service; then ok "disable --now exits 0"; else bad "disable --now failed"; fi
[ "$(systemctl is-enabled pulse.service)" = disabled ] && ok "disabled" || bad "still $(systemctl is-enabled pulse.service)"
check_not "inactive" systemctl is-active pulse.service
[ "$(procs pulse)" = 0 ] && [ "$(procs lvsd)" = 0 ] && ok "no pulse, no lvsd" || bad "left: $(pgrep -a -x 'pulse|lvsd')"
check_not "VIP released" vip_held

step "dpkg -r while enabled and running"
systemctl enable --now pulse.service || bad "enable --now (again) failed"
wait_for 15 vip_held || bad "VIP not held before dpkg -r"
if [ $ipvs = 1 ]; then wait_for 15 ipvs_weight_is 3 || bad "IPVS not programmed before dpkg -r"; fi
dpkg -r pulse || bad "dpkg -r failed"
sleep 1
[ "$(procs pulse)" = 0 ] && ok "0 pulse processes" || bad "pulse left: $(pgrep -a -x pulse)"
[ "$(procs lvsd)" = 0 ] && ok "0 lvsd processes" || bad "lvsd left: $(pgrep -a -x lvsd)"
check_not "no VIP" vip_held
if [ $ipvs = 1 ]; then
    [ -z "$(ipvsadm -Sn)" ] && ok "IPVS table empty" || bad "IPVS table left: $(ipvsadm -Ln)"
fi
check_not "no enable symlink" compgen -G '/etc/systemd/system/*.wants/pulse.service'
check_not "no SysV start link" compgen -G '/etc/rc[2-5].d/S*pulse'
systemctl daemon-reload
# (/etc/init.d/pulse, a conffile, stays until the purge: systemd may generate a unit from it,
# which no runlevel link starts.)
frag=$(systemctl show -p FragmentPath --value pulse.service)
case $frag in */systemd/system/pulse.service) bad "pulse.service still loaded from $frag" ;; *) ok "the packaged unit is gone" ;; esac
check_not "nothing wants pulse.service" bash -c 'systemctl show -p WantedBy --value pulse.service | grep -q .'
check_not "not active" systemctl is-active pulse.service

step "dpkg --purge"
dpkg --purge pulse || bad "dpkg --purge failed"
systemctl stop rs1.service
rm -f /usr/local/sbin/lvsd-t # the test's own wrapper
ip netns del backup
snapshot >"$out/files-after.txt"
left=$(comm -13 "$out/files-before.txt" "$out/files-after.txt")
[ -z "$left" ] && ok "nothing left behind" || bad "left behind after purge: $(echo $left)"
dpkg-query -W pulse >/dev/null 2>&1 && bad "dpkg still knows pulse" || ok "dpkg knows no pulse"

echo
if [ "$fails" = 0 ]; then
    echo "=== life cycle: all passed ($(elapsed) s)"
    exit 0
fi
echo "--- journal"
journalctl -u pulse.service --no-pager -n 60 -o short-monotonic
echo "=== life cycle: $fails failure(s)"
exit 1
