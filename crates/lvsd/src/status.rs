//! `pulsectl status`'s view of lvsd: the supervisor's snapshot, with the kernel's counters and
//! the wall clock added.

use crate::kernel::Kernel;
use crate::load::Loaded;
use pulse_control::{CheckCounters, LvsStatus, ServerStatus, Traffic, VirtualStatus};
use pulse_ipvs::ServiceStats;
use pulse_lvs::{CheckStats, Health, Supervisor};
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

/// Reloads so far, for status.
#[derive(Debug)]
pub(crate) struct Reloads {
    /// When the configuration in force was loaded.
    pub(crate) loaded_at: SystemTime,
    pub(crate) done: u64,
    pub(crate) refused: u64,
    /// The first line of the last refused reload's error, until a reload succeeds.
    pub(crate) last_error: Option<String>,
}

impl Reloads {
    pub(crate) fn new() -> Self {
        Self {
            loaded_at: SystemTime::now(),
            done: 0,
            refused: 0,
            last_error: None,
        }
    }
}

pub(crate) fn lvs_status(
    sup: &Supervisor,
    loaded: &Loaded,
    kernel: &mut Kernel,
    config_path: String,
    reloads: &Reloads,
) -> LvsStatus {
    let wall_now = SystemTime::now();
    let now = Instant::now();
    let unix = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let service_stats = kernel.service_stats().unwrap_or_default();
    let mut services = Vec::new();
    // The supervisor's plan and `loaded.specs` are replaced together at a reload: same order.
    for (s, spec) in sup.status().into_iter().zip(&loaded.specs) {
        let key = s.planned.service.key;
        let counters = kernel.counters(&key).unwrap_or_else(|_| BTreeMap::new());
        let servers = s
            .servers
            .iter()
            .map(|rs| {
                let h = rs.health;
                let c = counters.get(&rs.dest.key).copied().unwrap_or_default();
                ServerStatus {
                    name: rs.name.to_string(),
                    address: rs.dest.key.to_string(),
                    health: match h.health() {
                        Health::Up => pulse_control::Health::Up,
                        Health::Down => pulse_control::Health::Down,
                        Health::Unknown => pulse_control::Health::Unknown,
                    },
                    since_unix: h
                        .since()
                        .map(|t| unix(wall_now - now.saturating_duration_since(t))),
                    weight: rs.dest.weight,
                    kernel_weight: rs.kernel_weight,
                    active_conns: c.active_conns,
                    inactive_conns: c.inactive_conns,
                    last_check_ms_ago: h
                        .last_check()
                        .map(|t| now.saturating_duration_since(t).as_millis() as u64),
                    last_error: h.last_error().map(str::to_string),
                    traffic: traffic(&c.stats),
                    checks: counters_of(rs.checks),
                    admin: match rs.admin {
                        pulse_lvs::Admin::Enabled => pulse_control::Admin::Enabled,
                        pulse_lvs::Admin::Draining => pulse_control::Admin::Draining,
                        pulse_lvs::Admin::Disabled => pulse_control::Admin::Disabled,
                    },
                }
            })
            .collect();
        services.push(VirtualStatus {
            name: s.planned.name.clone(),
            key: key.to_string(),
            scheduler: s.planned.service.scheduler.clone(),
            check: spec.describe(),
            sorry_active: s.sorry_active,
            in_kernel: s.in_kernel,
            servers,
            traffic: service_stats.get(&key).map(traffic).unwrap_or_default(),
        });
    }
    LvsStatus {
        config_path,
        serial_no: loaded.cfg.serial_no,
        loaded_unix: unix(reloads.loaded_at),
        mode: kernel.mode(),
        reloads: reloads.done,
        reloads_refused: reloads.refused,
        last_reload_error: reloads.last_error.clone(),
        services,
    }
}

fn counters_of(c: CheckStats) -> CheckCounters {
    CheckCounters {
        passed: c.passed,
        failed: c.failed,
        seconds_total: c.seconds_total,
        last_seconds: c.last_seconds,
    }
}

/// The kernel's counters as `pulsectl status` and the metrics show them.
fn traffic(s: &ServiceStats) -> Traffic {
    Traffic {
        conns: s.conns,
        in_packets: s.inpkts,
        out_packets: s.outpkts,
        in_bytes: s.inbytes,
        out_bytes: s.outbytes,
    }
}
