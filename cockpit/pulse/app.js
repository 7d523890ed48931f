// cockpit-pulse: the director pair at a glance (Pair), its virtual and real servers (Services)
// and lvs.cf (Configuration). Plain ES module, no dependencies but Cockpit's own cockpit.js.
//
// Everything is read and changed through `pulsectl` run by Cockpit's bridge (with the user's
// administrative access): `pulsectl status --format json` for the pair and lvsd's table,
// `pulsectl config show|set|add|rm` for lvs.cf, `pulsectl server drain|disable|enable` and
// `pulsectl takeover|release`. The console writes no file itself and opens no socket: pulsectl
// is the one writer. pulsectl's sockets and files follow its environment (PULSE_SOCKET,
// PULSE_LVSD_SOCKET, PULSE_REMOTE_FILE, PULSE_REMOTE_SOCKET), which tests set on cockpit-ws.

/* global cockpit */

import { esc, ago, changeArgs, changeLabel, configRows, pairRows, servicesHtml, timelineHtml } from "./render.js";

const POLL_MS = { pair: 300, services: 2000 };
const $ = (id) => document.getElementById(id);

const state = {
    page: "pair",
    status: null,
    previous: null, // the services' traffic counters at the last poll, for rates
    ready: {}, // page -> ms after navigation start when it first showed data (tests read it)
    complete: {}, // page -> ms after navigation start when all of its rows were in (Services)
    // The Services table: every row's HTML and search text, the indexes of those that match
    // the search, the range of them in the DOM now and the rows' height (see drawServices).
    servicesView: { rows: [], texts: [], owners: [], shown: [], first: -1, last: -1, rowHeight: 0 },
    servicesRows: 0, // rows of the Services table (in view or not; tests read it)
    timings: [], // per status read: when pulsectl was started, answered, was parsed (ms)
    config: null, // { file, model, text }
    changes: new Map(), // id -> staged change ({op: "set"|"rm"|"add", ...}, see render.js changeArgs)
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

/// Runs `f` once the browser has painted what is in the DOM now (a task queued by the next
/// animation frame runs after that frame is drawn).
function afterPaint(f) {
    requestAnimationFrame(() => setTimeout(f, 0));
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
    // A backup does not take over from a live active primary (pulse refuses: no preemption);
    // the primary releases instead, from its own console (Cockpit's host switcher).
    const primaryServes = p.role === "backup" && p.partner.alive && p.partner.state === "active";
    $("takeover").disabled = p.state === "active" || primaryServes;
    $("release").disabled = p.state !== "active";
    $("pair-hint").textContent = primaryServes ?
        "The primary serves: to switch over, release it from the primary's console." : "";
}

/// The last transitions, newest first: pulse's own record of them (`transitions` in its
/// status, the same events it logs), so the timeline needs no journal access and shows in
/// containers and test beds too.
function renderTimeline(p) {
    $("timeline").innerHTML = timelineHtml(p);
}

function renderServices(st) {
    const l = st.lvs;
    const view = state.servicesView;
    if (!l) {
        $("services-summary").textContent = "lvsd is not running on this director.";
        Object.assign(view, { rows: [], texts: [], owners: [], shown: [] });
        $("services-table").tBodies[0].innerHTML = "";
        return;
    }
    const now = performance.now();
    const { rows, texts, owners, servers, current } = servicesHtml(l, state.previous, now);
    state.previous = current;
    $("services-summary").textContent =
        `${l.services.length} virtual services, ${servers} real servers; lvsd ${l.mode} mode, lvs.cf serial_no ${l.serial_no}, ` +
        `reloads ${l.reloads} (refused ${l.reloads_refused})` + (l.last_reload_error ? `; last reload REFUSED: ${l.last_reload_error}` : "");
    Object.assign(view, { rows, texts, owners });
    state.servicesRows = rows.length;
    filterServices();
    // Ready = painted: measured once the browser has drawn the rows (after the next frame).
    afterPaint(() => {
        markReady("services");
        state.complete.services ??= performance.now();
    });
}

/// The rows that match the search (all without one): a server row matches on its own text or
/// its virtual service's, a virtual service's row when it or one of its servers matches.
function filterServices() {
    const view = state.servicesView;
    const q = $("services-search").value.trim().toLowerCase();
    if (!q) {
        view.shown = view.rows.map((_, i) => i);
    } else {
        const keep = new Uint8Array(view.rows.length);
        view.texts.forEach((t, i) => {
            if (!t.includes(q)) return;
            keep[i] = 1;
            keep[view.owners[i]] = 1;
        });
        // Every server of a matching virtual service.
        view.owners.forEach((o, i) => { if (keep[o] && view.texts[o].includes(q)) keep[i] = 1 });
        view.shown = [];
        keep.forEach((k, i) => { if (k) view.shown.push(i) });
    }
    view.first = -1; // redraw
    drawServices();
}

/// Puts in the table body only the rows in view (and a screenful either side), between two
/// spacer rows as tall as the rows left out: 5,000 rows cost the layout of about a hundred, and
/// scrolling draws the next ones. Every row has the same height (pulse.css), measured once.
function drawServices() {
    const view = state.servicesView;
    const body = $("services-table").tBodies[0];
    const n = view.shown.length;
    const h = view.rowHeight || 30;
    // The body's top relative to the viewport, whatever is drawn now (the top spacer is part
    // of the body).
    const top = body.getBoundingClientRect().top;
    const viewport = window.innerHeight || 800;
    const from = Math.max(0, Math.floor(-top / h));
    const screen = Math.ceil(viewport / h) + 1;
    const first = Math.max(0, Math.min(from - screen, n - 3 * screen));
    const last = Math.min(n, Math.max(first, from - screen) + 3 * screen);
    if (first === view.first && last === view.last) return;
    view.first = first;
    view.last = last;
    // (A row without a cell gets no height: each spacer holds one. Their heights are set
    // through the DOM: Cockpit's Content-Security-Policy drops inline `style` attributes.)
    const spacer = `<tr class="spacer"><td colspan="9"></td></tr>`;
    let html = spacer;
    for (let i = first; i < last; i++) html += view.rows[view.shown[i]];
    html += spacer;
    body.innerHTML = html;
    body.rows[0].cells[0].style.height = `${first * h}px`;
    body.rows[body.rows.length - 1].cells[0].style.height = `${(n - last) * h}px`;
    if (!view.rowHeight && last > first + 1) {
        const a = body.rows[1], b = body.rows[last - first];
        const measured = (b.getBoundingClientRect().bottom - a.getBoundingClientRect().top) / (last - first);
        if (measured > 0) {
            view.rowHeight = measured;
            if (Math.abs(measured - h) > 0.5) { view.first = -1; drawServices(); }
        }
    }
}

async function poll() {
    const page = state.page;
    let delay = POLL_MS[page] || 1000;
    if (page === "pair" || page === "services") {
        try {
            const st = await readStatus();
            state.status = st;
            showError(st.unreadable ? `pulsectl said: ${st.unreadable}` : "");
            if (state.page === "pair") {
                renderPair(st);
                renderTimeline(st.pulse);
                markReady("pair");
            } else if (state.page === "services") {
                renderServices(st);
            }
        } catch (e) {
            showError(`pulsectl cannot run: ${e.message || e}`);
        }
    }
    setTimeout(poll, state.page === page ? delay : 0);
}

// ---------------------------------------------------------------- actions

let pending = null;

function confirmAction(text, argv, resultEl) {
    pending = { argv, resultEl };
    $("confirm-text").textContent = text;
    // One confirmation box, shown next to the result of the page that asks.
    resultEl.before($("confirm"));
    $("confirm").hidden = false;
}

async function carryOut(argv, resultEl) {
    resultEl.textContent = `running: ${argv.join(" ")} …`;
    try {
        // What pulsectl says (stdout and stderr), failed or not.
        const [good, out] = await pulsectl(argv.slice(1));
        resultEl.textContent = (good ? "" : "FAILED: ") + (out.trim() || "done");
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
    let queued = false;
    const redraw = () => {
        if (queued) return;
        queued = true;
        requestAnimationFrame(() => { queued = false; if (state.page === "services") drawServices() });
    };
    window.addEventListener("scroll", redraw, { passive: true });
    window.addEventListener("resize", redraw);
    $("services-search").addEventListener("input", () => filterServices());
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
    const field = r =>
        `<label for="k-${esc(r.key)}" class="mono" title="${esc(r.detail)}">${esc(r.label)}</label>` +
        `<input id="k-${esc(r.key)}" data-key="${esc(r.key)}" value="${esc(r.value)}" data-old="${esc(r.value)}" placeholder="${esc(r.placeholder)}">` +
        `<span class="help">${esc(r.help)} <span class="muted">(${esc(r.detail)})</span></span>`;
    const group = (title, rows, open, extra = "") =>
        `<details${open ? " open" : ""}><summary>${esc(title)}</summary>${extra}<div class="kv">` +
        rows.map(field).join("") + `</div></details>`;
    // A form adding a block through `pulsectl config add KIND NAME KEY=VALUE...`.
    const adder = (kind, title, fields) =>
        `<div class="add" data-kind="${esc(kind)}"><span>${esc(title)}:</span> ` +
        `<input data-field="name" placeholder="name" size="10">` +
        fields.map(([f, ph, v]) => `<input data-field="${f}" placeholder="${esc(ph)}" value="${esc(v ?? "")}" size="14" title="${esc(ph)}">`).join("") +
        `<button class="small" data-op="add">${esc(title)}</button></div>`;
    const remover = (path, title) =>
        `<button class="small danger-outline" data-op="rm" data-path="${esc(path)}">${esc(title)}</button>`;
    const { global, virtuals, failovers } = configRows(model, state.config.keywords);
    let html = group("Global settings", global, true);
    for (const v of [...virtuals, ...failovers]) {
        html += `<fieldset data-block="${esc(v.path)}"><legend>${esc(v.kind)} ${esc(v.name)} ` +
            remover(v.path, `Remove ${v.kind} ${v.name}`) + `</legend>` + group("settings", v.rows, false);
        for (const s of v.servers)
            html += `<div data-block="${esc(s.path)}">` +
                group(`server ${s.name}`, s.rows, v.kind === "virtual", remover(s.path, `Remove server ${s.name}`)) + `</div>`;
        // `active` defaults to 0 in lvs.cf (piranha's): a new block is offered active.
        html += adder(`${v.path}.server`, "Add real server", [["address", "address"], ["weight", "weight (1)"], ["port", "port"], ["active", "active (0 or 1)", "1"]]);
        html += `</fieldset>`;
    }
    html += adder("virtual", "Add virtual service", [["address", "VIP device (e.g. 192.0.2.10 eth0:1)"], ["port", "port"], ["protocol", "tcp or udp"], ["active", "active (0 or 1)", "1"]]);
    html += adder("failover", "Add failover service", [["address", "VIP device"], ["port", "port"], ["start_cmd", "start command"], ["stop_cmd", "stop command"], ["active", "active (0 or 1)", "1"]]);
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

/// Runs `pulsectl ARGS` and returns [exit status, stdout and stderr together].
async function pulsectl(args) {
    const out = await run(["sh", "-c", 'pulsectl "$@" 2>&1; echo "exit=$?"', "sh", ...args], { err: "out" });
    const lines = out.trimEnd().split("\n");
    const status = lines.pop();
    return [status === "exit=0", lines.join("\n")];
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
    for (const [id, c] of state.changes) {
        // The patch (stdout) and what a reload would change, or the diagnostics (stderr).
        const [good, said] = await pulsectl([...changeArgs(file, c), "--dry-run"]);
        const label = changeLabel(c);
        if (good) {
            html += `<div data-change="${esc(id)}" data-key="${esc(c.path || "")}" class="ok"><b class="mono">${esc(label)}</b><pre>${esc(said)}</pre></div>`;
        } else {
            ok = false;
            html += `<div data-change="${esc(id)}" data-key="${esc(c.path || "")}" class="diag"><b class="mono">${esc(label)}</b>: refused, nothing would be written<pre>${esc(said)}</pre></div>`;
        }
    }
    $("preview").innerHTML = html;
    $("preview").hidden = false;
    state.reviewed = ok;
    $("apply").disabled = !ok;
    $("config-result").textContent = ok ? "Review the changes, then apply them." : "Fix the values marked above; nothing was written.";
}

/// Apply: each reviewed change is one `pulsectl config` edit with its serial bump; with a
/// partner, `--push` installs it there first and reloads both (the file here is written only
/// if the partner took it); without one, pulsectl reloads pulse here.
async function apply() {
    if (!state.reviewed) return;
    $("apply").disabled = true;
    const file = state.config.file;
    const p = state.status && state.status.pulse;
    const push = p && p.partner && p.partner.configured ? ["--push"] : [];
    const said = [];
    for (const c of state.changes.values()) {
        const [good, out] = await pulsectl([...changeArgs(file, c), ...push]);
        said.push(out);
        if (!good) {
            said.push(`FAILED: ${changeLabel(c)}; the changes after it were not applied`);
            break;
        }
    }
    state.status = await readStatus();
    await loadConfig();
    $("config-result").textContent = said.join("\n").trim();
}

function wireConfig() {
    $("config-forms").addEventListener("input", ev => {
        const i = ev.target;
        if (!i.dataset || !i.dataset.key) return;
        const id = `set:${i.dataset.key}`;
        if (i.value === i.dataset.old) state.changes.delete(id);
        else state.changes.set(id, { op: "set", path: i.dataset.key, value: i.value.trim() });
        i.classList.toggle("changed", i.value !== i.dataset.old);
        resetReview();
    });
    $("config-forms").addEventListener("click", ev => {
        const b = ev.target.closest("button[data-op]");
        if (!b) return;
        ev.preventDefault();
        if (b.dataset.op === "rm") {
            const id = `rm:${b.dataset.path}`;
            const block = b.closest("[data-block]");
            if (state.changes.has(id)) state.changes.delete(id);
            else state.changes.set(id, { op: "rm", path: b.dataset.path });
            if (block) block.classList.toggle("removed", state.changes.has(id));
        } else if (b.dataset.op === "add") {
            const form = b.closest(".add");
            const settings = {};
            let name = "";
            for (const i of form.querySelectorAll("input[data-field]")) {
                if (i.dataset.field === "name") name = i.value.trim();
                else settings[i.dataset.field] = i.value.trim();
            }
            state.changes.set(`add:${form.dataset.kind}.${name}`, { op: "add", kind: form.dataset.kind, name, settings });
            form.classList.add("staged");
        }
        resetReview();
        $("config-result").textContent = `${state.changes.size} change(s) staged: review them.`;
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
    if (state.page === "services") { state.servicesView.first = -1; drawServices(); }
}

window.addEventListener("hashchange", show);
wirePair();
wireServices();
wireConfig();
show();
poll();
