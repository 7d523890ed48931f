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
// Services rows inserted before the first paint (more than a screen holds), then per slice
// (one: each slice costs a layout of the whole table).
const FIRST_ROWS = 120;
// Virtual services of the first, partial read (each with its real servers: a screenful).
const FIRST_SERVICES = 20;
const ROWS_PER_SLICE = 5000;
const $ = (id) => document.getElementById(id);

const state = {
    page: "pair",
    status: null,
    previous: null, // the services' traffic counters at the last poll, for rates
    ready: {}, // page -> ms after navigation start when it first showed data (tests read it)
    complete: {}, // page -> ms after navigation start when all of its rows were in (Services)
    servicesGeneration: 0,
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

async function readStatus(first) {
    // pulsectl prints the JSON even when pulse does not answer (then `pulse` is null) and exits 2.
    const t0 = performance.now();
    const only = first ? ` --first ${first}` : "";
    const out = await run(["sh", "-c", `pulsectl status --format json-compact${only} 2>/dev/null; exit 0`], { err: "ignore" });
    const t1 = performance.now();
    try {
        const st = JSON.parse(out);
        state.timings.push({ spawn: t0, output: t1, parsed: performance.now(), bytes: out.length, first: first || null });
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
    if (!l) {
        $("services-summary").textContent = "lvsd is not running on this director.";
        $("services-table").tBodies[0].innerHTML = "";
        return;
    }
    const now = performance.now();
    const { rows, servers, current } = servicesHtml(l, state.previous, now);
    state.previous = current;
    $("services-summary").textContent =
        (l.services_total > l.services.length ? `the first ${l.services.length} of ${l.services_total} virtual services (the rest is on its way)` : `${l.services.length} virtual services, ${servers} real servers`) + `; lvsd ${l.mode} mode, lvs.cf serial_no ${l.serial_no}, ` +
        `reloads ${l.reloads} (refused ${l.reloads_refused})` + (l.last_reload_error ? `; last reload REFUSED: ${l.last_reload_error}` : "");
    const body = $("services-table").tBodies[0];
    const generation = ++state.servicesGeneration;
    // Ready = painted: measured once the browser has drawn the rows (after the next frame).
    if (body.rows.length === rows.length || rows.length <= FIRST_ROWS) {
        // A refresh of a table already shown: one replacement, the scroll position stays.
        body.innerHTML = rows.join("");
        const whole = !(l.services_total > l.services.length);
        afterPaint(() => {
            markReady("services");
            if (whole) state.complete.services ??= performance.now();
        });
        return;
    }
    // The first time (or the table changed size): what fits on a screen now, the rest after
    // the browser has painted it, in slices, so 5,000 rows do not hold the first paint back.
    body.innerHTML = rows.slice(0, FIRST_ROWS).join("");
    afterPaint(() => markReady("services"));
    let next = FIRST_ROWS;
    const more = () => {
        if (generation !== state.servicesGeneration) return; // a newer poll took over
        body.insertAdjacentHTML("beforeend", rows.slice(next, next + ROWS_PER_SLICE).join(""));
        next += ROWS_PER_SLICE;
        if (next < rows.length) setTimeout(more, 0);
        else afterPaint(() => { state.complete.services ??= performance.now() });
    };
    afterPaint(more);
}

async function poll() {
    const page = state.page;
    let delay = POLL_MS[page] || 1000;
    if (page === "pair" || page === "services") {
        try {
            // The Services page's first read asks for a screenful of services only (small and
            // quick to show), the next one, right after, for the whole table.
            const partial = page === "services" && !state.servicesHeadShown;
            const st = await readStatus(partial ? FIRST_SERVICES : null);
            if (partial && st.lvs) {
                state.servicesHeadShown = true;
                delay = 0;
            }
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
}

window.addEventListener("hashchange", show);
wirePair();
wireServices();
wireConfig();
show();
poll();
