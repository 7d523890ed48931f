//! `pulsectl status|takeover|release`: ask the running pulse over its control socket.

use crate::exit;
use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use pulse_control::{Request, Response, Status};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How long to wait for pulse to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

fn call(socket: &Path, req: &Request) -> Result<Response> {
    pulse_control::call(socket, req, TIMEOUT).with_context(|| {
        format!(
            "cannot reach pulse at {} (is it running? are you root?)",
            socket.display()
        )
    })
}

pub(crate) fn run(socket: &Path, req: Request, format: Format) -> Result<u8> {
    let what = req.clone();
    match call(socket, &req)? {
        Response::Error { message } => bail!("{message}"),
        Response::Ok { status } => {
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&status)?),
                Format::Text => {
                    match what {
                        Request::Takeover => eprintln!("takeover done"),
                        Request::Release => eprintln!("released; the partner takes over"),
                        Request::Status => {}
                    }
                    out!("{}", render(&status));
                }
            }
            Ok(exit::OK)
        }
    }
}

fn ago(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms ago")
    } else {
        format!("{:.1} s ago", ms as f64 / 1000.0)
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

/// The human table.
fn render(st: &Status) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut out = String::new();
    let mut row = |k: &str, v: String| out.push_str(&format!("{k:<11}{v}\n"));
    row("role:", st.role.clone());
    let mut state = format!("{} for {}", st.state, duration(now - st.since_unix));
    if st.link_failed {
        state.push_str(" (local link down)");
    }
    if st.lvsd_failed {
        state.push_str(" (lvsd failed)");
    }
    row("state:", state);
    let p = &st.partner;
    let partner = if !p.configured {
        "none configured".to_string()
    } else {
        let mut s = match (p.alive, p.state.as_deref()) {
            (_, None) => "never heard".to_string(),
            (true, Some(state)) => format!("alive, {state}"),
            (false, Some(state)) => format!("silent (last said {state})"),
        };
        match (&p.config, p.config_mismatch) {
            (Some(c), true) => s.push_str(&format!(
                "; lvs.cf DIFFERS: partner serial_no {} digest {}, ours {} digest {}",
                c.serial_no, c.digest, st.config.serial_no, st.config.digest
            )),
            (Some(c), false) => s.push_str(&format!("; same lvs.cf (serial_no {})", c.serial_no)),
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulse_control::{ConfigIdentity, Counters, LinkStatus, Partner};

    #[test]
    fn status_table() {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let st = Status {
            role: "primary".into(),
            state: "active".into(),
            since_unix: now - 192.0,
            link_failed: false,
            lvsd_failed: false,
            heartbeat_mode: "authenticated".into(),
            partner: Partner {
                configured: true,
                alive: true,
                state: Some("inactive".into()),
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
                },
                LinkStatus {
                    local: "198.51.100.11:539".into(),
                    peer: "198.51.100.12:539".into(),
                    last_heard_ms_ago: None,
                },
            ],
            vips_held: vec!["192.0.2.100/32 eth0:1".into()],
            counters: Counters {
                heartbeats_sent: 3,
                heartbeats_received: 2,
                heartbeats_rejected: 1,
                takeovers: 1,
                releases: 0,
                arps_sent: 5,
            },
            config: ConfigIdentity {
                serial_no: 31,
                digest: "bb".into(),
            },
        };
        let text = render(&st);
        let expected = "\
role:      primary
state:     active for 3m12s
partner:   alive, inactive; lvs.cf DIFFERS: partner serial_no 30 digest aa, ours 31 digest bb
heartbeat: authenticated mode
links:     192.0.2.11:539 -> 192.0.2.12:539  420 ms ago
           198.51.100.11:539 -> 198.51.100.12:539  never heard
VIPs held: 192.0.2.100/32 eth0:1
counters:  heartbeats sent 3 received 2 rejected 1; takeovers 1 releases 0; ARPs sent 5
config:    serial_no 31 digest bb
";
        assert_eq!(text, expected);
    }
}
