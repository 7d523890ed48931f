// Pure rendering helpers of cockpit-pulse: data in, rows and HTML text out (no DOM, no I/O),
// so they can be read and checked on their own.

export function esc(v) {
    return String(v ?? "").replace(/[&<>"']/g, c =>
        ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function ago(ms) {
    return ms < 1000 ? `${ms} ms ago` : `${(ms / 1000).toFixed(1)} s ago`;
}

export function duration(secs) {
    const s = Math.max(0, Math.floor(secs));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/// "active"/"standby" as operators say it (pulse's states are active/inactive).
function word(nodeState) {
    return nodeState === "active" ? "active" : "standby";
}

/// The two directors as rows: this one from pulse's own status, the partner from its heartbeats.
export function pairRows(p, nowUnix) {
    const ours = `serial_no ${p.config.serial_no}, digest ${p.config.digest}`;
    const rows = [{
        who: "this director",
        role: p.role,
        state: word(p.state) + (p.releasing ? " (releasing)" : "") + (p.lvsd_failed ? " (lvsd failed)" : ""),
        since: `${duration(nowUnix - p.since_unix)} (since ${new Date(p.since_unix * 1000).toLocaleTimeString()})`,
        config: ours,
    }];
    const q = p.partner;
    if (q.configured) {
        let state = "never heard";
        if (q.state) state = q.alive ? word(q.state) : "silent";
        let config = "not reported (piranha heartbeats)";
        if (q.config) {
            config = `serial_no ${q.config.serial_no}, digest ${q.config.digest}`;
            if (!q.config_mismatch) config += ": same as ours";
            else if (q.config.serial_no > p.config.serial_no) config += ": DIFFERS, the partner's is newer";
            else if (q.config.serial_no < p.config.serial_no) config += ": DIFFERS, ours is newer";
            else config += ": DIFFERS with the same serial_no";
        }
        rows.push({
            who: "partner",
            role: p.role === "primary" ? "backup" : "primary",
            state,
            since: "",
            config,
        });
    }
    return rows;
}

/// The Pair page's timeline: pulse's last transitions (its status' `transitions`, oldest
/// first), newest first, as list items.
export function timelineHtml(p) {
    if (!p) return `<li class="muted">pulse does not answer.</li>`;
    const list = (p.transitions || []).slice().reverse();
    if (list.length === 0)
        return `<li class="muted">No transition since pulse started (${esc(word(p.state))} since ${esc(new Date(p.since_unix * 1000).toLocaleString())}).</li>`;
    return list.map(t => {
        const d = new Date(t.at_unix * 1000);
        const when = `${d.toLocaleDateString()} ${d.toLocaleTimeString()}.${String(d.getMilliseconds()).padStart(3, "0")}`;
        return `<li data-state="${esc(word(t.state))}"><span class="mono">${esc(when)}</span> ` +
            `<b class="state-${esc(word(t.state))}">${esc(word(t.state))}</b>: ${esc(t.reason)}</li>`;
    }).join("");
}

/// The Services table body for lvsd's status `l`, one HTML text per row (the page puts in the
/// DOM only the rows in view, see app.js), with each row's search text (lower case) and the
/// index of its virtual service's row; `previous` holds the counters of the last poll (for
/// connection rates), `now` is in milliseconds.
export function servicesHtml(l, previous, now) {
    const current = new Map();
    const parts = [];
    const texts = [];
    const owners = [];
    let servers = 0;
    for (const v of l.services) {
        const owner = parts.length;
        const flags = (v.in_kernel ? "" : " NOT in the kernel table") + (v.sorry_active ? " (sorry server active)" : "");
        parts.push(`<tr class="virtual" data-virtual="${esc(v.name)}"><td>${esc(v.name)}</td><td class="mono">${esc(v.key)}</td>` +
            `<td colspan="7">${esc(v.scheduler)}; check: ${esc(v.check)}${esc(flags)}</td></tr>`);
        texts.push(`${v.name} ${v.key}`.toLowerCase());
        owners.push(owner);
        for (const s of v.servers) {
            servers++;
            const id = `${v.name}\u0000${s.name}`;
            const conns = (s.traffic && s.traffic.conns) || 0;
            current.set(id, { conns, t: now });
            const before = previous && previous.get(id);
            const rate = before && now > before.t ? ((conns - before.conns) * 1000 / (now - before.t)).toFixed(1) : "";
            const kernel = s.kernel_weight === null || s.kernel_weight === undefined ? "not in table" : s.kernel_weight;
            const checked = s.last_check_ms_ago === null || s.last_check_ms_ago === undefined ? "never" : ago(s.last_check_ms_ago);
            const latency = s.checks && s.checks.last_seconds != null ? `, ${(s.checks.last_seconds * 1000).toFixed(1)} ms` : "";
            const admin = s.admin || "enabled";
            const buttons = ["drain", "disable", "enable"].map(a =>
                `<button class="small" data-action="${a}" data-v="${esc(v.name)}" data-s="${esc(s.name)}">${a}</button>`).join("");
            parts.push(`<tr data-server="${esc(v.name)}/${esc(s.name)}"><td>&nbsp;&nbsp;${esc(s.name)}</td>` +
                `<td class="mono">${esc(s.address)}</td><td class="health-${esc(s.health)}">${esc(s.health)}</td>` +
                `<td class="weight">${esc(s.weight)} (${esc(kernel)})</td><td>${s.active_conns} / ${s.inactive_conns}</td>` +
                `<td>${rate}</td><td title="${esc(s.last_error || "")}">${esc(checked + latency)}${s.last_error ? `: ${esc(s.last_error)}` : ""}</td>` +
                `<td>${esc(admin)}</td><td>${buttons}</td></tr>`);
            texts.push(`${v.name}/${s.name} ${s.address} ${s.health} ${admin}`.toLowerCase());
            owners.push(owner);
        }
    }
    return { rows: parts, texts, owners, servers, current };
}

/// lvs.cf's model (`pulsectl config show`) as form rows keyed by `pulsectl config` paths: one
/// row per keyword of lvs.cf(5) for each scope (`pulsectl config keywords`, the keyword table of
/// pulse-lvscf), with its value in this file, its default and its one line of help. Virtual
/// services (`virtual.NAME.`) and failover services (`failover.NAME.`) share the block keywords.
export function configRows(model, keywords) {
    const value = v => {
        if (v === null || v === undefined) return "";
        if (typeof v === "boolean") return v ? "1" : "0";
        if (typeof v === "object" && "addr" in v) return v.device ? `${v.addr} ${v.device}` : v.addr;
        if (typeof v === "object") return JSON.stringify(v);
        return String(v);
    };
    const rows = (obj, prefix, scope) => keywords
        .filter(k => k.scope === scope)
        .map(k => ({
            key: prefix + k.name,
            label: k.name,
            value: value(obj[k.name]),
            placeholder: k.default === "" ? "(not set)" : k.default,
            help: k.help,
            detail: `default ${k.default === "" ? "none" : k.default}; ${k.value}; ${k.origin}` +
                (k.ignored ? "; read by nobody" : "") + (k.name === "serial_no" ? "; bumped by every change" : ""),
        }));
    const blocks = (list, kind) => (list || []).map(v => ({
        kind,
        name: v.name,
        path: `${kind}.${v.name}`,
        rows: rows(v, `${kind}.${v.name}.`, "virtual"),
        servers: (v.servers || []).map(s => ({
            name: s.name,
            path: `${kind}.${v.name}.server.${s.name}`,
            rows: rows(s, `${kind}.${v.name}.server.${s.name}.`, "server"),
        })),
    }));
    return {
        global: rows(model, "", "global"),
        virtuals: blocks(model.virtuals, "virtual"),
        failovers: blocks(model.failovers, "failover"),
    };
}

/// The `pulsectl config` arguments (after `pulsectl`) of one staged change: `set` of a value,
/// `rm` of a key (its default applies again) or of a whole block, `add` of a block with its
/// first settings (`KEY=VALUE`, empty values left out).
export function changeArgs(file, change) {
    switch (change.op) {
    case "set":
        return change.value === "" ?
            ["config", "rm", file, change.path] :
            ["config", "set", file, change.path, change.value];
    case "rm":
        return ["config", "rm", file, change.path];
    case "add":
        return ["config", "add", file, change.kind, change.name,
            ...Object.entries(change.settings).filter(([, v]) => v !== "").map(([k, v]) => `${k}=${v}`)];
    default:
        throw new Error(`unknown change ${change.op}`);
    }
}

/// How a staged change is named in the review.
export function changeLabel(change) {
    switch (change.op) {
    case "set": return `${change.path} = ${change.value || "(default)"}`;
    case "rm": return `remove ${change.path}`;
    case "add": return `add ${change.kind} ${change.name}`;
    default: return change.op;
    }
}
