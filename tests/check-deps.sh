#!/usr/bin/env bash
# The pure crates stay pure (ARCHITECTURE.md, "Invariants"): no async runtime, no sockets, no
# netlink, no clock reads, no unsafe. Fails with the offending crate or line.
set -euo pipefail
cd "$(dirname "$0")/.."

pure_crates=(pulse-lvscf pulse-proto pulse-ipvs pulse-lvs pulse-metrics pulse-director)
forbidden='^(tokio|socket2|nix|neli|pnet|libc|mio|rtnetlink|netlink-[a-z-]+) '
status=0
for c in "${pure_crates[@]}"; do
    deps=$(cargo tree --locked -e normal -p "$c" --prefix none --format '{p}' | sort -u)
    # prometheus-client's metric families lock with parking_lot, which waits on futexes through
    # libc: a lock, not I/O. libc is let through for pulse-metrics only if that is its sole path.
    if [ "$c" = pulse-metrics ]; then
        via=$(cargo tree --locked -e normal -p "$c" -i libc --prefix none --format '{p}' | sort -u |
            grep -vE '^(libc|parking_lot_core|parking_lot|prometheus-client|pulse-metrics) ' || true)
        [ -z "$via" ] && deps=$(grep -v '^libc ' <<<"$deps")
    fi
    if bad=$(grep -E "$forbidden" <<<"$deps"); then
        echo "error: pure crate $c depends on: $bad"
        status=1
    fi
    dir="crates/$c/src"
    # Comments (and doc examples, which run in the caller's place) may name what the code may not.
    if grep -rnE 'Instant::now|SystemTime::now|std::fs::|std::net::(Udp|Tcp)|unsafe ' "$dir" |
        grep -vE '^[^:]+:[0-9]+:[[:space:]]*//'; then
        echo "error: pure crate $c reads the clock, touches files or sockets, or uses unsafe (above)"
        status=1
    fi
    # pulse-lvs and pulse-director hold every decision of lvsd and pulse: driven with `now`, they run nothing
    # themselves, so they have no async code either (a future would need a runtime to decide).
    if { [ "$c" = pulse-lvs ] || [ "$c" = pulse-director ]; } && grep -rnE '\basync\b|\.await\b' "$dir"; then
        echo "error: pure crate $c has async code (above)"
        status=1
    fi
done
[ "$status" = 0 ] && echo "dependency rules hold for: ${pure_crates[*]}"
exit "$status"
