#!/usr/bin/env bash
# tests/systemd/dashboard.sh DASHBOARD.json SCRAPE.txt: the Grafana dashboard parses as a
# dashboard (panels with targets) and every metric name its queries use (pulse_* and lvs_*)
# exists in SCRAPE, a real scrape of a running pulse and lvsd (tests/systemd/run.sh takes it
# in the systemd bed). Exit 1 naming each missing metric.
set -euo pipefail
dash=$1
scrape=$2
py=$(command -v python3 || true)
[ -n "$py" ] || { echo "dashboard: python3 needed to read the JSON" >&2; exit 1; }
exprs=$("$py" - "$dash" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d.get("panels"), list) and d["panels"], "no panels"
assert d.get("uid") and d.get("title"), "no uid or title"
n = 0
def walk(panels):
    global n
    for p in panels:
        if p.get("type") == "row":
            walk(p.get("panels", []))
            continue
        assert p.get("targets"), f"panel {p.get('title')!r} has no query"
        assert "gridPos" in p, f"panel {p.get('title')!r} has no position"
        for t in p["targets"]:
            n += 1
            print(t["expr"])
walk(d["panels"])
for v in d.get("templating", {}).get("list", []):
    q = v.get("query")
    if isinstance(q, dict):
        print(q.get("query", ""))
print(f"# {n} queries", file=sys.stderr)
PY
)
names=$(grep -oE '\b(pulse|lvs)_[a-z0-9_]+' <<<"$exprs" | sort -u)
have=$(grep -v '^#' "$scrape" | sed -E 's/[{ ].*//' | sort -u)
missing=$(comm -23 <(echo "$names") <(echo "$have"))
if [ -n "$missing" ]; then
    echo "dashboard: $dash queries metrics the scrape does not have:" >&2
    sed 's/^/  /' <<<"$missing" >&2
    exit 1
fi
echo "dashboard: $(wc -l <<<"$names") metric names in $(grep -c . <<<"$exprs") queries, all in the scrape ($(wc -l <<<"$have") names)"
