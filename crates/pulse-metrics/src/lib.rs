//! `pulse-metrics`: what pulse's Prometheus/OpenMetrics endpoint says, as a pure function of
//! two status snapshots: pulse's own ([`Status`], the same `pulsectl status` shows) and, while
//! it runs, lvsd's ([`LvsStatus`]).
//!
//! The text comes from `prometheus-client` (the Prometheus project's Rust client); nothing here
//! formats exposition lines by hand. A scrape builds a fresh registry from the snapshots, so
//! every value is exactly what the daemons report at that moment, and a real server removed by
//! a reload disappears from the next scrape instead of lingering with its last value.
//!
//! Counters are the daemons' own since they started (a takeover starts a new lvsd, whose
//! counters start at zero; Prometheus' `rate()` treats that as a counter reset).

#![warn(missing_docs)]

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use pulse_control::{LvsStatus, Status, Traffic};
use std::sync::atomic::AtomicU64;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What pulse knows of its lvsd at scrape time.
#[derive(Clone, Copy, Debug)]
pub enum Lvsd<'a> {
    /// No lvsd runs (this director is inactive, or in `--test-start` mode).
    NotRunning,
    /// lvsd runs but did not answer on its control socket.
    Unreachable,
    /// lvsd's answer.
    Status(&'a LvsStatus),
}

type Labels = Vec<(&'static str, String)>;
type Gauges = Family<Labels, Gauge<f64, AtomicU64>>;
type Counters = Family<Labels, Counter<u64>>;
type SecondsCounters = Family<Labels, Counter<f64, AtomicU64>>;

/// A registry whose families are registered as they are created.
struct Builder(Registry);

impl Builder {
    fn gauge(&mut self, name: &str, help: &str) -> Gauges {
        let f = Gauges::default();
        self.0.register(name, help, f.clone());
        f
    }

    /// Registered without `_total`: the encoder appends it.
    fn counter(&mut self, name: &str, help: &str) -> Counters {
        let f = Counters::default();
        self.0.register(name, help, f.clone());
        f
    }

    /// A gauge without labels, with its value.
    fn gauge_value(&mut self, name: &str, help: &str, v: f64) {
        let g = Gauge::<f64, AtomicU64>::default();
        g.set(v);
        self.0.register(name, help, g);
    }

    /// A counter without labels, with its value.
    fn counter_value(&mut self, name: &str, help: &str, v: u64) {
        let c = Counter::<u64>::default();
        c.inc_by(v);
        self.0.register(name, help, c);
    }

    fn seconds_counter(&mut self, name: &str, help: &str) -> SecondsCounters {
        let f = SecondsCounters::default();
        self.0.register(name, help, f.clone());
        f
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn set(f: &Gauges, labels: Labels, v: f64) {
    f.get_or_create(&labels).set(v);
}

fn add(f: &Counters, labels: Labels, v: u64) {
    f.get_or_create(&labels).inc_by(v);
}

/// The exposition of one scrape, in the OpenMetrics text format (ends with `# EOF`).
pub fn render(pulse: &Status, lvsd: Lvsd<'_>) -> String {
    let mut b = Builder(Registry::default());
    pulse_metrics(&mut b, pulse, lvsd);
    if let Lvsd::Status(l) = lvsd {
        lvs_metrics(&mut b, l);
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &b.0);
    out
}

fn pulse_metrics(b: &mut Builder, st: &Status, lvsd: Lvsd<'_>) {
    b.0.register(
        "pulse",
        "This director's role and heartbeat mode",
        Info::new(vec![
            ("role", st.role.clone()),
            ("heartbeat_mode", st.heartbeat_mode.clone()),
            ("version", env!("CARGO_PKG_VERSION").to_string()),
        ]),
    );
    b.gauge_value(
        "pulse_active",
        "1 while this director holds the VIPs",
        flag(st.state == "active"),
    );
    b.gauge_value(
        "pulse_state_since_timestamp_seconds",
        "When this director last became active or inactive (Unix time)",
        st.since_unix,
    );
    let transitions = b.counter(
        "pulse_transitions",
        "Times this director became active (to=active) or inactive (to=inactive)",
    );
    add(
        &transitions,
        vec![("to", "active".into())],
        st.counters.takeovers,
    );
    add(
        &transitions,
        vec![("to", "inactive".into())],
        st.counters.releases,
    );
    b.gauge_value(
        "pulse_partner_alive",
        "1 while the partner is heard within deadtime",
        flag(st.partner.alive),
    );
    b.gauge_value(
        "pulse_partner_active",
        "1 if the partner last said it is active",
        flag(st.partner.state.as_deref() == Some("active")),
    );
    b.gauge_value(
        "pulse_config_mismatch",
        "1 if the partner's lvs.cf differs from ours (authenticated heartbeats only)",
        flag(st.partner.config_mismatch),
    );
    b.gauge_value(
        "pulse_config_serial_no",
        "serial_no of the lvs.cf pulse runs",
        st.config.serial_no as f64,
    );
    b.gauge_value(
        "pulse_link_failed",
        "1 while a monitored link is down (monitor_links)",
        flag(st.link_failed),
    );
    b.gauge_value(
        "pulse_lvsd_failed",
        "1 after this director's lvsd died",
        flag(st.lvsd_failed),
    );
    b.gauge_value(
        "pulse_lvsd_running",
        "1 while an lvsd started by this pulse runs",
        flag(st.lvsd_running),
    );
    b.gauge_value(
        "pulse_lvsd_up",
        "1 if lvsd answered this scrape (its lvs_* metrics follow)",
        flag(matches!(lvsd, Lvsd::Status(_))),
    );
    b.gauge_value(
        "pulse_vips_held",
        "Virtual addresses this director holds now",
        st.vips_held.len() as f64,
    );
    let sent = b.counter("pulse_heartbeats_sent", "Heartbeats sent, per link");
    let received = b.counter("pulse_heartbeats_received", "Heartbeats accepted, per link");
    let heard = b.gauge(
        "pulse_heartbeat_last_heard_seconds",
        "Seconds since a valid heartbeat arrived on the link (absent: never)",
    );
    for l in &st.links {
        let labels = || vec![("local", l.local.clone()), ("peer", l.peer.clone())];
        add(&sent, labels(), l.heartbeats_sent);
        add(&received, labels(), l.heartbeats_received);
        if let Some(ms) = l.last_heard_ms_ago {
            set(&heard, labels(), ms as f64 / 1e3);
        }
    }
    let rejected = b.counter(
        "pulse_heartbeats_rejected",
        "Heartbeat datagrams dropped, by reason (not_from_partner, bad_mac, malformed, incompatible, replay)",
    );
    for reason in [
        "not_from_partner",
        "bad_mac",
        "malformed",
        "incompatible",
        "replay",
    ] {
        let n = st.rejected_by_reason.get(reason).copied().unwrap_or(0);
        add(&rejected, vec![("reason", reason.into())], n);
    }
    b.counter_value(
        "pulse_gratuitous_arps_sent",
        "Gratuitous ARP frames sent",
        st.counters.arps_sent,
    );
}

/// The kernel's traffic counters of one service or real server.
struct TrafficFamilies {
    conns: Counters,
    in_packets: Counters,
    out_packets: Counters,
    in_bytes: Counters,
    out_bytes: Counters,
}

impl TrafficFamilies {
    fn new(b: &mut Builder, prefix: &str, what: &str) -> Self {
        let mut c = |name: &str, help: &str| {
            b.counter(
                &format!("{prefix}_{name}"),
                &format!("{help} ({what}; kernel IPVS)"),
            )
        };
        Self {
            conns: c("connections", "Connections scheduled"),
            in_packets: c("in_packets", "Packets in"),
            out_packets: c("out_packets", "Packets out"),
            in_bytes: c("in_bytes", "Bytes in"),
            out_bytes: c("out_bytes", "Bytes out"),
        }
    }

    fn add(&self, labels: &Labels, t: &Traffic) {
        add(&self.conns, labels.clone(), t.conns);
        add(&self.in_packets, labels.clone(), t.in_packets);
        add(&self.out_packets, labels.clone(), t.out_packets);
        add(&self.in_bytes, labels.clone(), t.in_bytes);
        add(&self.out_bytes, labels.clone(), t.out_bytes);
    }
}

fn lvs_metrics(b: &mut Builder, l: &LvsStatus) {
    b.gauge_value(
        "lvs_config_serial_no",
        "serial_no of the lvs.cf lvsd runs",
        l.serial_no as f64,
    );
    let reloads = b.counter(
        "lvs_reloads",
        "lvs.cf reloads, by result (applied, refused)",
    );
    let applied = l.reloads.saturating_sub(l.reloads_refused);
    add(&reloads, vec![("result", "applied".into())], applied);
    add(
        &reloads,
        vec![("result", "refused".into())],
        l.reloads_refused,
    );

    let in_kernel = b.gauge(
        "lvs_virtual_service_in_kernel",
        "1 if the virtual service is in the kernel's IPVS table",
    );
    let sorry = b.gauge(
        "lvs_sorry_server_active",
        "1 while the virtual service's sorry server is in the table",
    );
    let service_traffic = TrafficFamilies::new(b, "lvs_virtual_service", "per virtual service");
    let health = b.gauge(
        "lvs_real_server_health",
        "1 for the real server's current health state (up, down, unknown: not checked yet)",
    );
    let weight = b.gauge("lvs_real_server_weight", "Configured weight");
    let kernel_weight = b.gauge(
        "lvs_real_server_kernel_weight",
        "Weight in the kernel's table (absent: not in the table)",
    );
    let active = b.gauge(
        "lvs_real_server_active_connections",
        "Active connections (kernel)",
    );
    let inactive = b.gauge(
        "lvs_real_server_inactive_connections",
        "Inactive connections (kernel)",
    );
    let server_traffic = TrafficFamilies::new(b, "lvs_real_server", "per real server");
    let checks = b.counter(
        "lvs_checks",
        "Health checks finished, by result (passed, failed)",
    );
    let check_seconds = b.seconds_counter(
        "lvs_check_seconds",
        "Time health checks took in total (divide by lvs_checks_total for the mean)",
    );
    let check_last = b.gauge(
        "lvs_check_last_duration_seconds",
        "Time the last health check took",
    );
    for v in &l.services {
        let vl: Labels = vec![("virtual", v.name.clone()), ("service", v.key.clone())];
        set(&in_kernel, vl.clone(), flag(v.in_kernel));
        set(&sorry, vl.clone(), flag(v.sorry_active));
        service_traffic.add(&vl, &v.traffic);
        for s in &v.servers {
            let mut sl = vl.clone();
            sl.push(("server", s.name.clone()));
            sl.push(("address", s.address.clone()));
            for state in ["up", "down", "unknown"] {
                let mut hl = sl.clone();
                hl.push(("state", state.into()));
                set(&health, hl, flag(s.health == state));
            }
            set(&weight, sl.clone(), f64::from(s.weight));
            if let Some(w) = s.kernel_weight {
                set(&kernel_weight, sl.clone(), f64::from(w));
            }
            set(&active, sl.clone(), f64::from(s.active_conns));
            set(&inactive, sl.clone(), f64::from(s.inactive_conns));
            server_traffic.add(&sl, &s.traffic);
            for (result, n) in [("passed", s.checks.passed), ("failed", s.checks.failed)] {
                let mut cl = sl.clone();
                cl.push(("result", result.into()));
                add(&checks, cl, n);
            }
            check_seconds
                .get_or_create(&sl)
                .inc_by(s.checks.seconds_total);
            if let Some(t) = s.checks.last_seconds {
                set(&check_last, sl.clone(), t);
            }
        }
    }
}
