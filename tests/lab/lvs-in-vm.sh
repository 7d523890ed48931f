#!/bin/bash
# The lvsd part of the lab demo, run inside the VM by tests/lab/lvs.sh (a real kernel with
# IPVS): a director, two real web servers (busybox httpd) and a client, each in a network
# namespace; lvsd programs the table, takes a failing server out and back, reloads hitlessly,
# and cleans up on SIGTERM.
set -euo pipefail
LVSD=${PULSE_LVSD:?} PULSECTL=${PULSE_PULSECTL:?}
IP=/usr/sbin/ip
lab=$(mktemp -d)
say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
run() { printf '\033[1m$ %s\033[0m\n' "$*"; "$@"; }
in_ns() { local ns=$1; shift; $IP netns exec "$ns" "$@"; }

for ns in dir rs cl; do $IP netns add $ns; $IP -n $ns link set lo up; done
$IP -n dir link add br0 type bridge
$IP -n dir link set br0 up
$IP -n dir addr add 10.0.0.1/24 dev br0
$IP -n dir addr add 10.0.0.100/32 dev br0
for ns in rs cl; do
    $IP link add eth0 netns $ns type veth peer name $ns netns dir
    $IP -n dir link set $ns master br0 up
    $IP -n $ns link set eth0 up
done
$IP -n rs addr add 10.0.0.2/24 dev eth0
$IP -n rs addr add 10.0.0.3/32 dev eth0
$IP -n rs addr add 10.0.0.100/32 dev lo   # direct routing: the servers accept the VIP's packets
in_ns rs sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce'
$IP -n cl addr add 10.0.0.50/24 dev eth0
mkdir -p "$lab/www2" "$lab/www3" "$lab/wwwv"
echo "hello from real server 10.0.0.2" >"$lab/www2/index.html"
echo "hello from real server 10.0.0.3" >"$lab/www3/index.html"
echo "hello through the VIP (ipvsadm's InActConn column shows which real server took it)" >"$lab/wwwv/index.html"
# `ip netns exec` execs httpd in place: $! is httpd itself.
web() { $IP netns exec rs busybox httpd -f -p "$1:80" -h "$2" >/dev/null 2>&1 & echo $!; }
# Health checks go to each real server's address; direct-routed requests arrive for the VIP,
# which both share on one host here, so one httpd on the VIP answers them.
w2=$(web 10.0.0.2 "$lab/www2"); w3=$(web 10.0.0.3 "$lab/www3"); wv=$(web 10.0.0.100 "$lab/wwwv")

cat >"$lab/lvs.cf" <<'CF'
serial_no = 1
primary = 10.0.0.1
service = lvs
network = direct
virtual web {
    active = 1
    address = 10.0.0.100 br0:1
    port = 80
    scheduler = wlc
    timeout = 1
    reentry = 2
    server web2 {
        address = 10.0.0.2
        active = 1
        weight = 1
    }
    server web3 {
        address = 10.0.0.3
        active = 1
        weight = 1
    }
}
CF
say "lvsd starts on the director (its log: $lab/lvsd.log)"
$IP netns exec dir "$LVSD" --nodaemon -c "$lab/lvs.cf" --control "$lab/lvsd.sock" --pidfile "$lab/lvs.pid" >"$lab/lvsd.log" 2>&1 &
lvsd=$!
sleep 3
run in_ns dir ipvsadm -Ln
# No pulse runs in this demo (pulsectl says so on stderr); lvsd's part is what matters here.
status() { run "$PULSECTL" status --socket "$lab/no-pulse-here.sock" --lvsd-socket "$lab/lvsd.sock" 2>/dev/null || true; }
status
say "the client fetches through the VIP"
for _ in 1 2 3 4; do in_ns cl busybox wget -q -O - http://10.0.0.100/; done
run in_ns dir ipvsadm -Ln

say "web3 stops answering: out within its 1 s check"
kill "$w3"; wait "$w3" 2>/dev/null || true
sleep 2
run in_ns dir ipvsadm -Ln
grep -h 'shutting down 10.0.0.3' "$lab/lvsd.log" | sed 's/^/    log: /' || true
say "web3 is back: in again after reentry (2 consecutive good checks)"
w3=$(web 10.0.0.3 "$lab/www3")
sleep 3.5
run in_ns dir ipvsadm -Ln
grep -h 'making 10.0.0.3' "$lab/lvsd.log" | tail -1 | sed 's/^/    log: /' || true
status

say "pulsectl edits a weight; lvsd reloads: one in-place change, nothing else touched"
run "$PULSECTL" config set "$lab/lvs.cf" virtual.web.server.web2.weight 3
kill -HUP "$lvsd"
sleep 1
run in_ns dir ipvsadm -Ln
grep -h 'configuration reloaded\|ipvs table updated' "$lab/lvsd.log" | tail -2 | sed 's/^/    log: /' || true
say "a broken edit is refused and changes nothing"
echo "keepalive = often" >>"$lab/lvs.cf"
kill -HUP "$lvsd"
sleep 1
grep -h 'error parsing\|reload refused' "$lab/lvsd.log" | sed 's/^/    log: /' || true
run in_ns dir ipvsadm -Ln

say "SIGTERM: lvsd removes its services and exits"
kill -TERM "$lvsd"; wait "$lvsd" || true
run in_ns dir ipvsadm -Ln
kill "$w2" "$w3" "$wv" 2>/dev/null || true
