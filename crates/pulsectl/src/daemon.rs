//! `pulsectl status|takeover|release`: ask the running pulse over its control socket.

use crate::exit;
use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use pulse_control::{LvsStatus, NodeState, Request, Response, Status};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How long to wait for pulse to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
    /// JSON on one line (for programs: the web console reads thousands of servers).
    JsonCompact,
}

fn call(socket: &Path, req: &Request) -> Result<Response> {
    pulse_control::call(socket, req, TIMEOUT).with_context(|| {
        format!(
            "cannot reach pulse at {} (is it running? are you root?)",
            socket.display()
        )
    })
}

/// One request to pulse whose answer is its status; pulse's refusal is the error.
fn call_status(socket: &Path, req: &Request) -> Result<Box<Status>> {
    match call(socket, req)? {
        Response::Ok { status } => Ok(status),
        Response::Error { message } => bail!("{message}"),
        Response::Lvs { .. } | Response::Handoff { .. } => {
            bail!("{} answered like lvsd, not pulse", socket.display())
        }
    }
}

/// How long `release` waits for the partner to take over (make-before-break; pulse itself gives
/// up after `deadtime`).
const RELEASE_WAIT: Duration = Duration::from_secs(30);

/// After a release: wait until this director has let go (authenticated heartbeats hand over
/// before letting go, so the answer to `release` still says "active").
fn wait_released(socket: &Path, mut status: Box<Status>) -> Result<Box<Status>> {
    let start = std::time::Instant::now();
    // `ecmp = 1`: every director stays active; a release withdraws the routes at once (the
    // answer shows them withdrawn) and drains in the background.
    if !status.ecmp.is_empty() {
        return Ok(status);
    }
    while status.state == NodeState::Active {
        if !status.releasing {
            bail!("the partner did not take over; this director keeps the service");
        }
        if start.elapsed() > RELEASE_WAIT {
            bail!("still active after {RELEASE_WAIT:?}; see pulse's log");
        }
        std::thread::sleep(Duration::from_millis(20));
        status = call_status(socket, &Request::Status)?;
    }
    Ok(status)
}

pub(crate) fn run(socket: &Path, req: Request, format: Format) -> Result<u8> {
    let mut status = call_status(socket, &req)?;
    if req == Request::Release {
        status = wait_released(socket, status)?;
    }
    match format {
        Format::Json | Format::JsonCompact => outln!("{}", serde_json::to_string_pretty(&status)?),
        Format::Text => {
            match req {
                Request::Takeover => eprintln!("takeover done"),
                Request::Release if !status.ecmp.is_empty() => eprintln!(
                    "released: every VIP withdrawn; lvsd stops once no traffic arrives (at most ecmp_drain)"
                ),
                Request::Release => eprintln!("released; the partner took over"),
                Request::Status
                | Request::Reload
                | Request::Lvs
                | Request::Handoff { .. }
                | Request::Server { .. } => {}
            }
            out!("{}", render(&status));
        }
    }
    Ok(exit::OK)
}

/// `pulsectl status`: pulse's view of the pair, then lvsd's table and checks when lvsd runs here
/// (both directors with `warm_standby`; only the active one without). Exit 2 if pulse cannot be reached.
pub(crate) fn status(
    socket: &Path,
    lvsd_socket: &Path,
    format: Format,
    first: Option<usize>,
) -> Result<u8> {
    if first.is_some() && format != Format::JsonCompact {
        bail!("--first goes with --format json-compact");
    }
    let pulse = call_status(socket, &Request::Status);
    if format == Format::JsonCompact {
        return status_compact(pulse, lvsd_socket, first);
    }
    let lvs = if lvsd_socket.exists() {
        match pulse_control::call(lvsd_socket, &Request::Lvs, TIMEOUT) {
            Ok(Response::Lvs { lvs }) => Ok(Some(lvs)),
            Ok(Response::Error { message }) => Err(message),
            Ok(_) => Err(format!(
                "{} did not answer like lvsd",
                lvsd_socket.display()
            )),
            Err(e) => Err(format!(
                "cannot reach lvsd at {}: {e}",
                lvsd_socket.display()
            )),
        }
    } else {
        Ok(None)
    };
    match format {
        Format::Json | Format::JsonCompact => {
            let doc = serde_json::json!({
                "pulse": pulse.as_ref().ok(),
                "lvs": lvs.as_ref().ok().and_then(|l| l.as_ref()),
            });
            if format == Format::Json {
                outln!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                outln!("{}", serde_json::to_string(&doc)?);
            }
        }
        Format::Text => {
            if let Ok(st) = &pulse {
                out!("{}", render(st));
            }
            match &lvs {
                Ok(Some(l)) => out!("{}", render_lvs(l)),
                Ok(None) => outln!("lvsd:      not running here (no {})", lvsd_socket.display()),
                Err(e) => eprintln!("pulsectl: {e}"),
            }
        }
    }
    pulse.map(|_| exit::OK)
}

/// `status --format json-compact`, for programs (the web console polls it): lvsd's answer goes
/// out as lvsd wrote it, checked to be JSON but not rebuilt. With thousands of real servers,
/// parsing it into [`LvsStatus`] and writing it again was most of the command's time (a debug
/// pulsectl spent ~350 of ~450 ms on 1,000 virtual services × 4 servers).
fn status_compact(
    pulse: Result<Box<Status>>,
    lvsd_socket: &Path,
    first: Option<usize>,
) -> Result<u8> {
    use serde_json::value::RawValue;
    /// lvsd's answer: `{"result":"lvs","lvs":{...}}` or `{"result":"error","message":...}`.
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        lvs: Option<&'a RawValue>,
        message: Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        pulse: Option<&'a Status>,
        lvs: Option<&'a RawValue>,
    }
    let raw = if lvsd_socket.exists() {
        pulse_control::call_raw(lvsd_socket, &Request::Lvs, TIMEOUT)
            .map_err(|e| format!("cannot reach lvsd at {}: {e}", lvsd_socket.display()))
    } else {
        Ok(Vec::new())
    };
    let answer = match &raw {
        Ok(bytes) if bytes.is_empty() => Ok(None),
        Ok(bytes) => match serde_json::from_slice::<Answer<'_>>(bytes) {
            Ok(Answer { lvs: Some(l), .. }) => Ok(Some(l)),
            Ok(Answer {
                message: Some(m), ..
            }) => Err(m),
            Ok(_) => Err(format!(
                "{} did not answer like lvsd",
                lvsd_socket.display()
            )),
            Err(e) => Err(format!("bad answer from {}: {e}", lvsd_socket.display())),
        },
        Err(e) => Err(e.clone()),
    };
    if let Err(e) = &answer {
        eprintln!("pulsectl: {e}");
    }
    let lvs = answer.ok().flatten();
    let head = match (first, lvs) {
        (Some(n), Some(l)) => Some(first_services(l, n)?),
        _ => None,
    };
    let doc = Doc {
        pulse: pulse.as_deref().ok(),
        lvs: head.as_deref().or(lvs),
    };
    outln!("{}", serde_json::to_string(&doc)?);
    pulse.map(|_| exit::OK)
}

/// lvsd's status `lvs` with its first `n` virtual services only and their total in
/// `services_total`; the services themselves are copied, not parsed.
fn first_services(
    lvs: &serde_json::value::RawValue,
    n: usize,
) -> Result<Box<serde_json::value::RawValue>> {
    use serde_json::value::RawValue;
    let mut fields: std::collections::BTreeMap<String, &RawValue> =
        serde_json::from_str(lvs.get()).context("lvsd's status is not an object")?;
    let services: Vec<&RawValue> = match fields.get("services") {
        Some(s) => serde_json::from_str(s.get()).context("lvsd's services are not a list")?,
        None => Vec::new(),
    };
    let total = RawValue::from_string(services.len().to_string())?;
    let head = RawValue::from_string(serde_json::to_string(&services[..n.min(services.len())])?)?;
    fields.insert("services".into(), &head);
    fields.insert("services_total".into(), &total);
    Ok(RawValue::from_string(serde_json::to_string(&fields)?)?)
}

/// lvsd's virtual services and real servers.
fn render_lvs(l: &LvsStatus) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut out = format!(
        "lvsd:      {} mode, lvs.cf serial_no {} loaded {} ago; reloads {} (refused {})\n",
        l.mode,
        l.serial_no,
        duration(now - l.loaded_unix),
        l.reloads,
        l.reloads_refused
    );
    if let Some(e) = &l.last_reload_error {
        out.push_str(&format!("           last reload REFUSED: {e}\n"));
    }
    for v in &l.services {
        let mut line = format!("virtual {}: {} {}", v.name, v.key, v.scheduler);
        if !v.in_kernel {
            line.push_str(" (NOT in the kernel table)");
        }
        if v.sorry_active {
            line.push_str(" (sorry server active)");
        }
        out.push_str(&format!("{line}\n  check: {}\n", v.check));
        for s in &v.servers {
            let since = s
                .since_unix
                .map(|t| format!(" for {}", duration(now - t)))
                .unwrap_or_default();
            let kernel = match s.kernel_weight {
                Some(w) => format!("weight {} (kernel {w})", s.weight),
                None => format!("weight {} (not in kernel)", s.weight),
            };
            let checked = s
                .last_check_ms_ago
                .map_or("never checked".to_string(), |ms| {
                    format!("checked {}", ago(ms))
                });
            let admin = if s.admin == pulse_control::Admin::Enabled {
                String::new()
            } else {
                format!("  OPERATOR: {}", s.admin)
            };
            out.push_str(&format!(
                "  {:<12} {:<22} {:<7}{since}  {kernel}  conns {}/{}  {checked}{admin}\n",
                s.name, s.address, s.health, s.active_conns, s.inactive_conns
            ));
            if let Some(e) = &s.last_error {
                out.push_str(&format!("  {:<12} last error: {e}\n", ""));
            }
        }
    }
    out
}

fn ago(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms ago")
    } else {
        format!("{:.1} s ago", ms as f64 / 1000.0)
    }
}

/// A silence: `600 ms`, `4.2 s`, then as [`duration`].
fn since(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => duration(ms as f64 / 1000.0),
    }
}

fn duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Which director's lvs.cf is newer, and what to do about it (`pulsectl config push` from it).
fn newer(partner: i64, ours: i64) -> &'static str {
    match partner.cmp(&ours) {
        std::cmp::Ordering::Greater => "the partner's is newer: push from the partner",
        std::cmp::Ordering::Less => "ours is newer: `pulsectl config push`",
        std::cmp::Ordering::Equal => {
            "same serial_no, different content: bump the right one and push it"
        }
    }
}

/// The human table.
fn render(st: &Status) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut out = String::new();
    let mut row = |k: &str, v: String| out.push_str(&format!("{k:<11}{v}\n"));
    row("role:", st.role.to_string());
    let mut state = format!("{} for {}", st.state, duration(now - st.since_unix));
    if st.link_failed {
        state.push_str(" (local link down)");
    }
    if st.releasing {
        state.push_str(" (releasing: waiting for the partner to take over)");
    }
    if st.lvsd_failed {
        state.push_str(" (lvsd failed)");
    }
    row("state:", state);
    let p = &st.partner;
    let partner = if !p.configured {
        "none configured".to_string()
    } else {
        let mut s = match (p.alive, p.state) {
            (_, None) => "never heard".to_string(),
            (true, Some(state)) => format!("alive, {state}"),
            (false, Some(state)) => format!("silent (last said {state})"),
        };
        match (&p.config, p.config_mismatch) {
            (Some(c), true) => s.push_str(&format!(
                "; lvs.cf DIFFERS: partner serial_no {} digest {}, ours {} digest {} ({})",
                c.serial_no,
                c.digest,
                st.config.serial_no,
                st.config.digest,
                newer(c.serial_no, st.config.serial_no)
            )),
            (Some(c), false) => s.push_str(&format!(
                "; same lvs.cf (serial_no {} digest {})",
                c.serial_no, c.digest
            )),
            (None, _) => {}
        }
        s
    };
    row("partner:", partner);
    row("heartbeat:", format!("{} mode", st.heartbeat_mode));
    for (i, l) in st.links.iter().enumerate() {
        let heard = l.last_heard_ms_ago.map_or("never heard".to_string(), ago);
        row(
            if i == 0 { "links:" } else { "" },
            format!("{} -> {}  {heard}", l.local, l.peer),
        );
    }
    row(
        "VIPs held:",
        if st.vips_held.is_empty() {
            "none".into()
        } else {
            st.vips_held.join(", ")
        },
    );
    for (i, v) in st.vips_unclaimed.iter().enumerate() {
        row(if i == 0 { "VIPs NOT held:" } else { "" }, v.clone());
    }
    let c = &st.counters;
    row(
        "counters:",
        format!(
            "heartbeats sent {} received {} rejected {}; takeovers {} releases {}; ARPs sent {}",
            c.heartbeats_sent,
            c.heartbeats_received,
            c.heartbeats_rejected,
            c.takeovers,
            c.releases,
            c.arps_sent
        ),
    );
    row(
        "config:",
        format!(
            "serial_no {} digest {}",
            st.config.serial_no, st.config.digest
        ),
    );
    for (i, f) in st.failover.iter().enumerate() {
        let mut line = format!(
            "{} {}  {}  restarts {} ({} since start)",
            f.name, f.address, f.state, f.restarts, f.restarts_total
        );
        if let Some(e) = &f.last_error {
            line.push_str(&format!("; last error: {e}"));
        }
        row(if i == 0 { "failover:" } else { "" }, line);
    }
    for (i, e) in st.ecmp.iter().enumerate() {
        let line = format!(
            "{}  {}  ({})",
            e.vip,
            if e.announced {
                "announced"
            } else {
                "withdrawn"
            },
            e.reason
        );
        row(if i == 0 { "ecmp:" } else { "" }, line);
    }
    if let Some(g) = &st.ecmp_group {
        for (i, line) in group_table(g).into_iter().enumerate() {
            row(if i == 0 { "group:" } else { "" }, line);
        }
    }
    out
}

/// `ecmp = 1`: director × VIP, announced or withdrawn, and each director's state, as this
/// director last heard from the others (informational).
fn group_table(g: &pulse_control::EcmpGroupStatus) -> Vec<String> {
    // The group digest (lvs.cf without `primary`) is compared, not `config:`'s.
    let ours = g
        .directors
        .iter()
        .find(|d| d.this)
        .and_then(|d| d.config.as_ref());
    let mut vips: Vec<String> = g
        .directors
        .iter()
        .filter(|d| d.this)
        .flat_map(|d| {
            d.announced
                .iter()
                .flatten()
                .chain(d.withdrawn.iter().flatten())
                .cloned()
        })
        .collect();
    vips.sort_by_key(|v| v.parse::<std::net::IpAddr>().ok());
    let name_w = g
        .directors
        .iter()
        .map(|d| d.address.len())
        .max()
        .unwrap_or(0)
        .max(8)
        + 2;
    let col_w = |v: &str| v.len().max("withdrawn".len()) + 2;
    let mut head = format!("{:<name_w$}", "director");
    for v in &vips {
        head.push_str(&format!("{v:<w$}", w = col_w(v)));
    }
    head.push_str("state");
    let mut lines = vec![head];
    for d in &g.directors {
        let mut line = format!("{:<name_w$}", d.address);
        for v in &vips {
            let cell = match (&d.announced, d.stale && !d.this) {
                (Some(a), false) if a.contains(v) => "announced",
                (Some(_), false) => "withdrawn",
                _ => "?",
            };
            line.push_str(&format!("{cell:<w$}", w = col_w(v)));
        }
        let mut state = match (d.this, d.last_heard_ms_ago, d.stale) {
            (true, _, _) => "this director".to_string(),
            (false, None, _) => "never heard".to_string(),
            (false, Some(ms), true) => format!("not heard for {}", since(ms)),
            (false, Some(ms), false) => format!("heard {}", ago(ms)),
        };
        if d.released {
            state.push_str("; released");
        }
        if let (Some(c), Some(o)) = (d.config.as_ref().filter(|_| d.config_mismatch), ours) {
            state.push_str(&format!(
                "; different lvs.cf: serial_no {} digest {} (ours {} digest {})",
                c.serial_no, c.digest, o.serial_no, o.digest
            ));
        }
        if d.announced.is_none()
            && !d.stale
            && let Some(n) = d.announced_count
        {
            state.push_str(&format!("; other VIPs, announces {n}"));
        }
        line.push_str(&state);
        lines.push(line);
    }
    let rejected: u64 = g.rejected_by_reason.values().sum();
    if rejected > 0 {
        let by: Vec<String> = g
            .rejected_by_reason
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        lines.push(format!("datagrams rejected: {}", by.join(", ")));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_services_keeps_the_head_and_the_total() {
        let lvs = serde_json::value::RawValue::from_string(
            r#"{"serial_no":3,"services":[{"name":"a"},{"name":"b"},{"name":"c"}]}"#.into(),
        )
        .expect("raw");
        let head = first_services(&lvs, 2).expect("head");
        assert_eq!(
            head.get(),
            r#"{"serial_no":3,"services":[{"name":"a"},{"name":"b"}],"services_total":3}"#
        );
        let all = first_services(&lvs, 10).expect("all");
        assert!(all.get().contains(r#""services_total":3"#), "{}", all.get());
        assert!(
            first_services(
                &serde_json::value::RawValue::from_string("[1]".into()).expect("raw"),
                1
            )
            .is_err()
        );
    }
    use pulse_control::{
        ConfigIdentity, Counters, Health, HeartbeatMode, LinkStatus, LvsdMode, Partner, Role,
        ServerStatus, VirtualStatus,
    };

    #[test]
    fn status_table() {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let st = Status {
            role: Role::Primary,
            state: NodeState::Active,
            since_unix: now - 192.0,
            link_failed: false,
            lvsd_failed: false,
            heartbeat_mode: HeartbeatMode::Authenticated,
            partner: Partner {
                configured: true,
                alive: true,
                state: Some(NodeState::Inactive),
                config: Some(ConfigIdentity {
                    serial_no: 30,
                    digest: "aa".into(),
                }),
                config_mismatch: true,
            },
            links: vec![
                LinkStatus {
                    local: "192.0.2.11:539".into(),
                    peer: "192.0.2.12:539".into(),
                    last_heard_ms_ago: Some(420),
                    heartbeats_sent: 2,
                    heartbeats_received: 2,
                    heartbeats_rejected: 1,
                },
                LinkStatus {
                    local: "198.51.100.11:539".into(),
                    peer: "198.51.100.12:539".into(),
                    last_heard_ms_ago: None,
                    heartbeats_sent: 1,
                    heartbeats_received: 0,
                    heartbeats_rejected: 0,
                },
            ],
            vips_held: vec!["192.0.2.100/32 eth0:1".into()],
            vips_unclaimed: Vec::new(),
            vip_claim_failures: 0,
            counters: Counters {
                heartbeats_sent: 3,
                heartbeats_received: 2,
                heartbeats_rejected: 1,
                takeovers: 1,
                releases: 0,
                arps_sent: 5,
            },
            rejected_by_reason: [("bad_mac".to_string(), 1)].into(),
            lvsd_running: true,
            releasing: false,
            failover: vec![pulse_control::FailoverStatus {
                name: "web".into(),
                address: "192.0.2.100:80".into(),
                state: "running".into(),
                restarts: 1,
                restarts_total: 3,
                last_error: Some("CONNECT to 192.0.2.100:80 refused".into()),
            }],
            ecmp: vec![pulse_control::EcmpVipStatus {
                vip: "10.0.0.100".into(),
                announced: false,
                reason: "released".into(),
            }],
            ecmp_group: None,
            config: ConfigIdentity {
                serial_no: 31,
                digest: "bb".into(),
            },
            transitions: Vec::new(),
        };
        let text = render(&st);
        let expected = "\
role:      primary
state:     active for 3m12s
partner:   alive, inactive; lvs.cf DIFFERS: partner serial_no 30 digest aa, ours 31 digest bb (ours is newer: `pulsectl config push`)
heartbeat: authenticated mode
links:     192.0.2.11:539 -> 192.0.2.12:539  420 ms ago
           198.51.100.11:539 -> 198.51.100.12:539  never heard
VIPs held: 192.0.2.100/32 eth0:1
counters:  heartbeats sent 3 received 2 rejected 1; takeovers 1 releases 0; ARPs sent 5
config:    serial_no 31 digest bb
failover:  web 192.0.2.100:80  running  restarts 1 (3 since start); last error: CONNECT to 192.0.2.100:80 refused
ecmp:      10.0.0.100  withdrawn  (released)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn group_table_shows_each_director_and_vip() {
        use pulse_control::{EcmpDirectorStatus, EcmpGroupStatus};
        let id = |serial_no, digest: &str| {
            Some(ConfigIdentity {
                serial_no,
                digest: digest.into(),
            })
        };
        let strs = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let d = |address: &str| EcmpDirectorStatus {
            address: address.into(),
            this: false,
            last_heard_ms_ago: Some(120),
            stale: false,
            config: id(7, "aa"),
            config_mismatch: false,
            released: false,
            announced: strs(&["10.0.0.100", "10.0.0.101"]),
            withdrawn: strs(&[]),
            announced_count: Some(2),
        };
        let g = EcmpGroupStatus {
            directors: vec![
                EcmpDirectorStatus {
                    this: true,
                    last_heard_ms_ago: Some(0),
                    announced: strs(&["10.0.0.101"]),
                    withdrawn: strs(&["10.0.0.100"]),
                    announced_count: Some(1),
                    ..d("10.1.0.11")
                },
                d("10.1.0.12"),
                EcmpDirectorStatus {
                    last_heard_ms_ago: Some(4200),
                    stale: true,
                    ..d("10.1.0.13")
                },
                EcmpDirectorStatus {
                    config: id(8, "bb"),
                    config_mismatch: true,
                    announced: None,
                    withdrawn: None,
                    announced_count: Some(3),
                    ..d("10.1.0.14")
                },
                EcmpDirectorStatus {
                    last_heard_ms_ago: None,
                    stale: true,
                    config: None,
                    announced: None,
                    withdrawn: None,
                    announced_count: None,
                    ..d("10.1.0.15")
                },
                EcmpDirectorStatus {
                    released: true,
                    announced: strs(&[]),
                    withdrawn: strs(&["10.0.0.100", "10.0.0.101"]),
                    ..d("10.1.0.16")
                },
            ],
            stale_after_ms: 300,
            sent: 10,
            received: 9,
            rejected_by_reason: [("replay".to_string(), 3)].into(),
        };
        let expected = "\
director   10.0.0.100  10.0.0.101  state
10.1.0.11  withdrawn   announced   this director
10.1.0.12  announced   announced   heard 120 ms ago
10.1.0.13  ?           ?           not heard for 4.2 s
10.1.0.14  ?           ?           heard 120 ms ago; different lvs.cf: serial_no 8 digest bb (ours 7 digest aa); other VIPs, announces 3
10.1.0.15  ?           ?           never heard
10.1.0.16  withdrawn   withdrawn   heard 120 ms ago; released
datagrams rejected: replay 3";
        assert_eq!(group_table(&g).join("\n"), expected);
    }

    #[test]
    fn lvs_table() {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let server =
            |name: &str, address: &str, health: Health, kernel: Option<i32>| ServerStatus {
                name: name.into(),
                address: address.into(),
                health,
                since_unix: Some(now - 75.0),
                weight: 3,
                kernel_weight: kernel,
                active_conns: 12,
                inactive_conns: 40,
                last_check_ms_ago: Some(250),
                last_error: (health == Health::Down)
                    .then(|| "CONNECT to 10.0.0.3:80 timed out".into()),
                traffic: Default::default(),
                checks: Default::default(),
                admin: if name == "a" {
                    pulse_control::Admin::Draining
                } else {
                    pulse_control::Admin::Enabled
                },
            };
        let l = LvsStatus {
            config_path: "/etc/sysconfig/ha/lvs.cf".into(),
            serial_no: 7,
            loaded_unix: now - 600.0,
            mode: LvsdMode::Kernel,
            reloads: 2,
            reloads_refused: 1,
            last_reload_error: Some("error parsing lvs.cf on line 9.".into()),
            services: vec![VirtualStatus {
                name: "web".into(),
                key: "TCP 192.0.2.10:80".into(),
                scheduler: "wlc".into(),
                check: "tcp connect".into(),
                sorry_active: false,
                in_kernel: true,
                servers: vec![
                    server("a", "10.0.0.2:80", Health::Up, Some(3)),
                    server("b", "10.0.0.3:80", Health::Down, None),
                ],
                traffic: Default::default(),
            }],
        };
        let expected = "\
lvsd:      kernel mode, lvs.cf serial_no 7 loaded 10m00s ago; reloads 2 (refused 1)
           last reload REFUSED: error parsing lvs.cf on line 9.
virtual web: TCP 192.0.2.10:80 wlc
  check: tcp connect
  a            10.0.0.2:80            up      for 1m15s  weight 3 (kernel 3)  conns 12/40  checked 250 ms ago  OPERATOR: draining
  b            10.0.0.3:80            down    for 1m15s  weight 3 (not in kernel)  conns 12/40  checked 250 ms ago
               last error: CONNECT to 10.0.0.3:80 timed out
";
        assert_eq!(render_lvs(&l), expected);
    }
}
