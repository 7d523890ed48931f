#!/bin/bash
# tests/vm/smoke.sh — proves the VM test bed (run by `tests/vm/run-tests.sh --smoke`, inside
# the VM): a network namespace with a veth pair, IPVS in that namespace (sed scheduler, one
# direct-routing destination), the mh scheduler, and PATH resolving the real tools.
# Prints OK and exits 0, or says what failed and exits 1.
set -euo pipefail

fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
ns=smoke$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT

[ "$(command -v ip)" = /usr/sbin/ip ] || fail "ip resolves to $(command -v ip), not /usr/sbin/ip"
[ "$(command -v ipvsadm)" = /usr/sbin/ipvsadm ] || fail "ipvsadm not on PATH"
[ -d /var/run ] || fail "/var/run missing"
grep -q '^ip_vs ' /proc/modules || fail "ip_vs not loaded"

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add eth0 type veth peer name eth1
ip -n "$ns" link set eth0 up
ip -n "$ns" link set eth1 up
ip -n "$ns" addr add 10.0.0.1/24 dev eth0
ip -n "$ns" link show eth1 | grep -q 'eth1@eth0' || fail "veth peer eth1 not in $ns"

ip netns exec "$ns" ipvsadm -A -t 10.0.0.1:80 -s sed
ip netns exec "$ns" ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.2:80 -g
out=$(ip netns exec "$ns" ipvsadm -Ln)
echo "$out"
grep -Eq '^TCP +10\.0\.0\.1:80 +sed' <<<"$out" || fail "service 10.0.0.1:80 sed not listed"
grep -Eq -- '-> +10\.0\.0\.2:80 +Route +1 ' <<<"$out" || fail "destination 10.0.0.2:80 not listed"
# IPVS tables are per network namespace: the init namespace must not see it
if ipvsadm -Ln | grep -q '10\.0\.0\.1:80'; then fail "service leaked into the init netns"; fi

# the mh (Maglev hashing) scheduler loads and is usable
ip netns exec "$ns" ipvsadm -A -u 10.0.0.1:53 -s mh
grep -q '^ip_vs_mh ' /proc/modules || fail "ip_vs_mh not loaded"
ip netns exec "$ns" ipvsadm -Ln | grep -Eq '^UDP +10\.0\.0\.1:53 +mh' || fail "mh service not listed"

echo OK
