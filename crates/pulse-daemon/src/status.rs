//! The director's snapshot as the control protocol's `Status` (for `pulsectl status` and the
//! metrics endpoint). A pure translation: the VIPs held are what the director tracked from its
//! claims, not an address dump on the heartbeat path.

use pulse_control::{
    ConfigIdentity, Counters, HeartbeatMode, LinkStatus, NodeState, Partner, Role, Status,
};
use pulse_director::{Director, DirectorStatus, VipClaim};
use std::time::{Instant, SystemTime};

/// One line for systemd's `STATUS=` (`systemctl status pulse`).
pub(crate) fn role_line(d: &Director) -> String {
    let role = if d.is_active() { "active" } else { "inactive" };
    let which = if d.is_primary() { "primary" } else { "backup" };
    format!("{role} ({which}), serial_no {}", d.settings().serial_no)
}

fn vip_text(v: &VipClaim) -> String {
    format!("{}/{} {}", v.addr, v.prefix, v.device)
}

/// `Status` from the director's snapshot, now.
pub(crate) fn render(d: &DirectorStatus, arps_sent: u64) -> Status {
    let st = &d.heartbeat;
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let ours = ConfigIdentity {
        serial_no: d.settings.serial_no,
        digest: pulse_control::hex(&d.settings.digest),
    };
    let partner_config = st
        .partner
        .and_then(|p| p.config)
        .map(|(serial_no, digest)| ConfigIdentity {
            serial_no,
            digest: pulse_control::hex(&digest),
        });
    Status {
        role: if st.primary {
            Role::Primary
        } else {
            Role::Backup
        },
        state: NodeState::from_active(st.active),
        since_unix: wall - now.saturating_duration_since(st.since).as_secs_f64(),
        link_failed: st.link_failed,
        lvsd_failed: st.child_failed,
        heartbeat_mode: if d.authenticated {
            HeartbeatMode::Authenticated
        } else {
            HeartbeatMode::Piranha
        },
        partner: Partner {
            configured: !st.links.is_empty(),
            alive: st.partner_alive,
            state: st.partner.map(|p| NodeState::from_active(p.active)),
            config_mismatch: partner_config.as_ref().is_some_and(|c| *c != ours),
            config: partner_config,
        },
        links: st
            .links
            .iter()
            .map(|l| LinkStatus {
                local: l.link.local.to_string(),
                peer: l.link.peer.to_string(),
                last_heard_ms_ago: l.last_heard.map(|t| {
                    u64::try_from(now.saturating_duration_since(t).as_millis()).unwrap_or(u64::MAX)
                }),
                heartbeats_sent: l.counters.sent,
                heartbeats_received: l.counters.received,
                heartbeats_rejected: l.counters.rejected,
            })
            .collect(),
        vips_held: d.vips_held.iter().map(vip_text).collect(),
        vips_unclaimed: d
            .vips_unclaimed
            .iter()
            .map(|(v, error, attempts)| format!("{}: {error} ({attempts} attempts)", vip_text(v)))
            .collect(),
        vip_claim_failures: d.claim_failures,
        counters: Counters {
            heartbeats_sent: st.counters.sent,
            heartbeats_received: st.counters.received,
            heartbeats_rejected: st.counters.rejected,
            takeovers: st.counters.takeovers,
            releases: st.counters.releases,
            arps_sent,
        },
        rejected_by_reason: d
            .rejected_by_reason
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect(),
        lvsd_running: d.lvsd_running,
        releasing: st.releasing,
        config: ours,
        failover: d
            .failover
            .iter()
            .map(|f| pulse_control::FailoverStatus {
                name: f.name.clone(),
                address: format!("{}:{}", f.vip, f.port),
                state: f.state.name().to_string(),
                restarts: f.restarts,
                restarts_total: f.restarts_total,
                last_error: f.last_error.clone(),
            })
            .collect(),
        transitions: st
            .transitions
            .iter()
            .map(|t| pulse_control::Transition {
                at_unix: wall - now.saturating_duration_since(t.at).as_secs_f64(),
                state: NodeState::from_active(t.active),
                reason: t.reason.to_string(),
            })
            .collect(),
        // Filled in by the driver from the group core (`ecmp = 1`).
        ecmp: Vec::new(),
        ecmp_group: None,
    }
}

#[cfg(test)]
mod tests {
    /// The control protocol's list of failover states is the director's.
    #[test]
    fn failover_states_match_the_director() {
        let names = pulse_director::FosState::ALL.map(pulse_director::FosState::name);
        assert_eq!(names, pulse_control::FailoverStatus::STATES);
    }
}
