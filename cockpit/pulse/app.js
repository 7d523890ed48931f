// cockpit-pulse: the director pair at a glance (Pair), its virtual and real servers (Services)
// and lvs.cf (Configuration). Plain ES module, no dependencies but Cockpit's own cockpit.js.
//
// Everything is read and changed through `pulsectl` run by Cockpit's bridge (with the user's
// administrative access): `pulsectl status --format json` for the pair and lvsd's table,
// `pulsectl config show|set|rm` for lvs.cf, `pulsectl server drain|disable|enable` and
// `pulsectl takeover|release`. The console writes no file itself and opens no socket: pulsectl
// is the one writer. pulsectl's sockets and files follow its environment (PULSE_SOCKET,
// PULSE_LVSD_SOCKET, PULSE_REMOTE_FILE, PULSE_REMOTE_SOCKET), which tests set on cockpit-ws.

/* global cockpit */

import { esc, ago, configRows, pairRows, servicesHtml } from "./render.js";

const POLL_MS = { pair: 500, services: 2000 };
const $ = (id) => document.getElementById(id);

const state = {
    page: "pair",
    status: null,
    previous: null, // the services' traffic counters at the last poll, for rates
    ready: {}, // page -> ms after navigation start when it first showed data (tests read it)
    timings: [], // per status read: when pulsectl was started, answered, was parsed (ms)
    config: null, // { file, model, text }
    changes: new Map(), // dotted key -> new value ("" = back to the default)
    reviewed: false,
};
window.pulseConsole = state;

function run(argv, opts = {}) {
    return cockpit.spawn(argv, { superuser: "try", err: "message", ...opts });
}

function showError(text) {
    const e = $("error");
    e.hidden = !text;
    e.textContent = text || "";
}

// ---------------------------------------------------------------- status (Pair, Services)

async function readStatus() {
    // pulsectl prints the JSON even when pulse does not answer (then `pulse` is null) and exits 2.
    const t0 = performance.now();
    const out = await run(["sh", "-c", "pulsectl status --format json-compact 2>/dev/null; exit 0"], { err: "ignore" });
    const t1 = performance.now();
    try {
        const st = JSON.parse(out);
        state.timings.push({ spawn: t0, output: t1, parsed: performance.now(), bytes: out.length });
        return st;
    } catch (e) {
        return { pulse: null, lvs: null, unreadable: out.slice(0, 200) };
    }
}

function markReady(page) {
    if (state.ready[page] === undefined)
        state.ready[page] = performance.now();
}

function renderPair(st) {
    const p = st.pulse;
    $("headline").textContent = p ? `${p.role} director, ${p.state === "active" ? "active" : "standby"}` : "";
    if (!p) {
        $("pair-table").tBodies[0].innerHTML =
            `<tr data-role="local"><td colspan="5" class="state-down">pulse is not running on this host (or does not answer)</td></tr>`;
        $("links-table").tBodies[0].innerHTML = "";
        return;
    }
    const now = Date.now() / 1000;
    $("pair-table").tBodies[0].innerHTML = pairRows(p, now).map(r =>
        `<tr data-role="${esc(r.role)}" data-who="${esc(r.who)}"><td>${esc(r.who)}</td><td>${esc(r.role)}</td>` +
        `<td class="state state-${esc(r.state)}">${esc(r.state)}</td><td>${esc(r.since)}</td><td>${esc(r.config)}</td></tr>`
    ).join("");
    $("links-table").tBodies[0].innerHTML = p.links.map(l =>
        `<tr><td class="mono">${esc(l.local)}</td><td class="mono">${esc(l.peer)}</td>` +
        `<td>${l.last_heard_ms_ago === null ? "never" : esc(ago(l.last_heard_ms_ago))}</td>` +
        `<td>${l.heartbeats_sent}</td><td>${l.heartbeats_received}</td><td>${l.heartbeats_rejected}</td></tr>`
    ).join("");
    $("takeover").disabled = p.state === "active";
    $("release").disabled = p.state !== "active";
}

async function renderTimeline() {
    try {
        const out = await run(["journalctl", "--no-pager", "-o", "short-iso", "-n", "400", "-t", "pulse"], { err: "ignore" });
        const lines = out.split("\n").filter(l =>
            /activ|takeover|taking over|releas|partner|standby|deadtime/i.test(l)).slice(-20);
        $("timeline").textContent = lines.length ? lines.join("\n") : "No transitions in the journal.";
    } catch (e) {
        $("timeline").textContent = `The journal cannot be read here (${e.message || e}).`;
    }
}

function renderServices(st) {
    const l = st.lvs;
    if (!l) {
        $("services-summary").textContent = "lvsd is not running on this director.";
        $("services-table").tBodies[0].innerHTML = "";
        return;
    }
    const now = performance.now();
    const { html, servers, current } = servicesHtml(l, state.previous, now);
    state.previous = current;
    $("services-summary").textContent =
        `${l.services.length} virtual services, ${servers} real servers; lvsd ${l.mode} mode, lvs.cf serial_no ${l.serial_no}, ` +
        `reloads ${l.reloads} (refused ${l.reloads_refused})` + (l.last_reload_error ? `; last reload REFUSED: ${l.last_reload_error}` : "");
    $("services-table").tBodies[0].innerHTML = html;
}

async function poll() {
    const page = state.page;
    if (page === "pair" || page === "services") {
        try {
            const st = await readStatus();
            state.status = st;
            showError(st.unreadable ? `pulsectl said: ${st.unreadable}` : "");
            if (state.page === "pair") {
                renderPair(st);
                markReady("pair");
            } else if (state.page === "services") {
                renderServices(st);
                markReady("services");
            }
        } catch (e) {
            showError(`pulsectl cannot run: ${e.message || e}`);
        }
    }
    setTimeout(poll, POLL_MS[state.page] || 1000);
}

// ---------------------------------------------------------------- actions

let pending = null;

function confirmAction(text, argv, resultEl) {
    pending = { argv, resultEl };
    $("confirm-text").textContent = text;
    $("confirm").hidden = false;
}

async function carryOut(argv, resultEl) {
    resultEl.textContent = `running: ${argv.join(" ")} …`;
    try {
        const out = await run(argv, { err: "out" });
        resultEl.textContent = out.trim() || "done";
    } catch (e) {
        resultEl.textContent = `failed: ${e.message || e}`;
    }
}

function wirePair() {
    $("takeover").addEventListener("click", () => confirmAction(
        "Take over: this director claims the virtual IPs now and serves every virtual service; " +
        "the partner lets go of them. Connections in progress through the partner may be cut.",
        ["pulsectl", "takeover"], $("pair-result")));
    $("release").addEventListener("click", () => confirmAction(
        "Release: this director hands the virtual IPs to its partner, which must be alive; it keeps " +
        "them until the partner serves (make-before-break). New connections then go to the partner.",
        ["pulsectl", "release"], $("pair-result")));
    $("confirm-no").addEventListener("click", () => { $("confirm").hidden = true; pending = null });
    $("confirm-yes").addEventListener("click", () => {
        $("confirm").hidden = true;
        if (pending) carryOut(pending.argv, pending.resultEl);
        pending = null;
    });
}

function wireServices() {
    $("services-table").addEventListener("click", ev => {
        const b = ev.target.closest("button[data-action]");
        if (!b) return;
        const { action, v, s } = b.dataset;
        const what = {
            drain: `Drain ${s} of ${v}: weight 0 now (new connections go to the other servers, open ones finish); ` +
                "when none is left it is written as `active = 0` in lvs.cf, on both directors.",
            disable: `Disable ${s} of ${v}: out of the table now, \`active = 0\` in lvs.cf on both directors.`,
            enable: `Enable ${s} of ${v}: \`active = 1\` in lvs.cf on both directors; back in the table once its checks pass.`,
        }[action];
        // The file lvsd runs (the persistent change is written there and pushed).
        const l = state.status && state.status.lvs;
        const file = l && l.config_path ? ["--file", l.config_path] : [];
        confirmAction(what, ["pulsectl", "server", action, v, s, ...file], $("services-result"));
        // The confirmation lives on the Pair section's markup; show it here too.
        $("services").prepend($("confirm"));
    });
}

// ---------------------------------------------------------------- Configuration

async function loadConfig() {
    const st = state.status || await readStatus();
    state.status = st;
    const file = (st.lvs && st.lvs.config_path) || "/etc/sysconfig/ha/lvs.cf";
    $("config-file").textContent = file;
    try {
        const [json, text, kw] = await Promise.all([
            run(["pulsectl", "config", "show", file]),
            run(["cat", file]),
            run(["pulsectl", "config", "keywords", "--format", "json"]),
        ]);
        const model = JSON.parse(json);
        state.config = { file, model, text, keywords: JSON.parse(kw) };
        $("config-serial").textContent = `serial_no ${model.serial_no}`;
        $("config-text").textContent = text;
        renderForms(model);
        markReady("config");
    } catch (e) {
        $("config-result").textContent = `cannot read ${file}: ${e.message || e}`;
    }
}

function renderForms(model) {
    const group = (title, rows, open) =>
        `<details${open ? " open" : ""}><summary>${esc(title)}</summary><div class="kv">` +
        rows.map(r =>
            `<label for="k-${esc(r.key)}" class="mono">${esc(r.label)}</label>` +
            `<input id="k-${esc(r.key)}" data-key="${esc(r.key)}" value="${esc(r.value)}" data-old="${esc(r.value)}" placeholder="${esc(r.placeholder)}">` +
            `<span class="muted">${esc(r.help)}</span>`).join("") +
        `</div></details>`;
    const { global, virtuals } = configRows(model, state.config.keywords);
    let html = group("Global settings", global, true);
    for (const v of virtuals) {
        html += `<fieldset><legend>virtual ${esc(v.name)}</legend>` + group("settings", v.rows, false);
        for (const s of v.servers)
            html += group(`server ${s.name}`, s.rows, true);
        html += `</fieldset>`;
    }
    $("config-forms").innerHTML = html;
    state.changes.clear();
    resetReview();
}

function resetReview() {
    state.reviewed = false;
    $("apply").disabled = true;
    $("preview").hidden = true;
    $("preview").innerHTML = "";
}

function editArgs(file, key, value, extra) {
    return value === "" ?
        ["pulsectl", "config", "rm", file, key, ...extra] :
        ["pulsectl", "config", "set", file, key, value, ...extra];
}

async function review() {
    resetReview();
    const file = state.config.file;
    if (state.changes.size === 0) {
        $("config-result").textContent = "Nothing changed.";
        return;
    }
    let ok = true;
    let html = "";
    for (const [key, value] of state.changes) {
        // stdout (the patch) and stderr (what a reload would change, or the diagnostics) together,
        // with the exit status on the last line.
        const out = await run(["sh", "-c", 'pulsectl "$@" 2>&1; echo "exit=$?"', "sh",
            ...editArgs(file, key, value, ["--dry-run"]).slice(1)], { err: "out" });
        const lines = out.trimEnd().split("\n");
        const status = lines.pop();
        const said = lines.join("\n");
        if (status === "exit=0") {
            html += `<div data-key="${esc(key)}" class="ok"><b class="mono">${esc(key)} = ${esc(value || "(default)")}</b><pre>${esc(said)}</pre></div>`;
        } else {
            ok = false;
            html += `<div data-key="${esc(key)}" class="diag"><b class="mono">${esc(key)} = ${esc(value)}</b>: refused, nothing would be written<pre>${esc(said)}</pre></div>`;
        }
    }
    $("preview").innerHTML = html;
    $("preview").hidden = false;
    state.reviewed = ok;
    $("apply").disabled = !ok;
    $("config-result").textContent = ok ? "Review the changes, then apply them." : "Fix the values marked above; nothing was written.";
}

async function apply() {
    if (!state.reviewed) return;
    $("apply").disabled = true;
    const file = state.config.file;
    const p = state.status && state.status.pulse;
    const push = p && p.partner && p.partner.configured ? ["--push"] : [];
    const said = [];
    for (const [key, value] of state.changes) {
        try {
            said.push(await run(editArgs(file, key, value, push), { err: "out" }));
        } catch (e) {
            said.push(`FAILED: ${e.message || e}`);
            break;
        }
    }
    $("config-result").textContent = said.join("\n").trim();
    state.status = await readStatus();
    await loadConfig();
    $("config-result").textContent = said.join("\n").trim();
}

function wireConfig() {
    $("config-forms").addEventListener("input", ev => {
        const i = ev.target;
        if (!i.dataset || !i.dataset.key) return;
        if (i.value === i.dataset.old) state.changes.delete(i.dataset.key);
        else state.changes.set(i.dataset.key, i.value.trim());
        i.classList.toggle("changed", i.value !== i.dataset.old);
        resetReview();
    });
    $("review").addEventListener("click", review);
    $("apply").addEventListener("click", apply);
    $("discard").addEventListener("click", () => state.config && renderForms(state.config.model));
}

// ---------------------------------------------------------------- navigation

function show() {
    const page = (location.hash || "#pair").slice(1);
    state.page = ["pair", "services", "config"].includes(page) ? page : "pair";
    for (const id of ["pair", "services", "config"])
        $(id).hidden = id !== state.page;
    for (const a of document.querySelectorAll("nav a"))
        a.classList.toggle("current", a.dataset.page === state.page);
    if (state.page === "config") loadConfig();
    if (state.page === "pair") renderTimeline();
}

window.addEventListener("hashchange", show);
wirePair();
wireServices();
wireConfig();
show();
poll();
