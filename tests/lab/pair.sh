#!/usr/bin/env bash
# The director pair in network namespaces: two real `pulse` processes and a client on a bridge
# (TEST-NET-1 addresses; nothing leaves the namespaces). Needs root. Called by demo.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
P=demo$$
lab=$(mktemp -d)
cleanup() {
    for pidf in "$lab"/*.pid; do [ -f "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null || true; done
    for h in cl d2 d1 br; do ip netns del "$P$h" 2>/dev/null || true; done
    rm -rf "$lab"
}
trap cleanup EXIT
say() { printf '\n\033[1m## %s\033[0m\n' "$*"; }

cargo build --quiet --locked -p pulse-daemon -p pulsectl
pulse=./target/debug/pulse pulsectl=./target/debug/pulsectl

ip netns add ${P}br; ip -n ${P}br link set lo up
ip -n ${P}br link add br0 type bridge; ip -n ${P}br link set br0 up
i=0
for h in d1 d2 cl; do
    i=$((i + 1)); ip netns add $P$h; ip -n $P$h link set lo up
    ip link add eth0 netns $P$h type veth peer name $h netns ${P}br
    ip -n ${P}br link set $h master br0 up
    ip -n $P$h link set eth0 address 02:00:00:00:00:0$i up
done
ip -n ${P}d1 addr add 192.0.2.11/24 dev eth0
ip -n ${P}d2 addr add 192.0.2.12/24 dev eth0
ip -n ${P}cl addr add 192.0.2.50/24 dev eth0
ip netns exec ${P}cl sh -c 'echo 1 > /proc/sys/net/ipv4/conf/eth0/arp_accept'

"$pulsectl" key generate "$lab/heartbeat.key" 2>/dev/null
cat >"$lab/lvs.cf" <<CF
serial_no = 1
primary = 192.0.2.11
backup = 192.0.2.12
backup_active = 1
keepalive = 0.2
deadtime = 0.6
network = direct
heartbeat_key = $lab/heartbeat.key
virtual web {
     active = 1
     address = 192.0.2.100 eth0:1
     port = 80
}
CF
say "lvs.cf for both directors (authenticated heartbeats, 200 ms keepalive)"
cat "$lab/lvs.cf"
for h in d1 d2; do
    ip netns exec $P$h "$pulse" -c "$lab/lvs.cf" --nodaemon --test-start --control "$lab/$h.sock" --state-dir "$lab/$h.state" \
        >"$lab/$h.log" 2>&1 &
    echo $! >"$lab/$h.pid"
done
sleep 2
active=d1; [ -n "$(ip -n ${P}d2 -o addr show to 192.0.2.100)" ] && active=d2
other=d2; [ $active = d2 ] && other=d1
say "pulsectl status on the active director ($active)"
"$pulsectl" status --socket "$lab/$active.sock"
say "the client's neighbour entry for the VIP"
ip -n ${P}cl neigh show 192.0.2.100

say "crash: SIGKILL $active's pulse and pull its cable"
kill -9 "$(cat "$lab/$active.pid")"; ip -n ${P}br link set $active down
sleep 1
say "pulsectl status on the survivor ($other)"
"$pulsectl" status --socket "$lab/$other.sock"
ip -n ${P}cl neigh show 192.0.2.100
say "the survivor's log"
sed 's/^/  /' "$lab/$other.log"
