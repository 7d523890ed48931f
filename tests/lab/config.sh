#!/usr/bin/env bash
# `pulsectl config` on a scratch copy of the example lvs.cf: check, get, set (with its
# serial_no bump), add, a refused edit, diff, and piranha-compatibility checks. No root needed.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --quiet --locked -p pulsectl
pulsectl() { ./target/debug/pulsectl "$@"; }
lab=$(mktemp -d)
trap 'rm -rf "$lab"' EXIT
cp etc/sysconfig/ha/lvs.cf "$lab/lvs.cf"
f="$lab/lvs.cf"
show() { printf '\n\033[1m$ pulsectl %s\033[0m\n' "$*"; pulsectl "$@" || echo "(exit $?)"; }

show config check "$f"
show config get "$f" virtual.web.server.web02.weight
show config set --dry-run "$f" virtual.web.server.web02.weight 3
show config set "$f" virtual.web.server.web02.weight 3
show config add "$f" virtual.web.server web03 address=192.0.2.23 active=1 weight=2
show config set "$f" virtual.web.scheduler wlcx
show config set "$f" keepalive 9
show config diff etc/sysconfig/ha/lvs.cf "$f"
echo 'keepalive=0.5' >"$lab/extension.cf"
sed -e '/^serial_no/d' -e 's/^keepalive = 2$//' "$f" >>"$lab/extension.cf"
show config check "$lab/extension.cf"
show config check --piranha "$lab/extension.cf"
printf '\n\033[1m$ pulsectl config check keepalived_syntax_NOT_piranha.cf | head -5\033[0m\n'
pulsectl config check ../shared/corpus/lvs.cf/vincentmli__proxyos__keepalived_syntax_NOT_piranha.cf 2>&1 | head -5 || true
printf '\nThe scratch file now reads:\n\n'
cat "$f"

