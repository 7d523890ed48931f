//! `pulse-metrics`: what pulse's Prometheus/OpenMetrics endpoint says, as a pure function of
//! two status snapshots: pulse's own ([`Status`], the same `pulsectl status` shows) and, while
//! it runs, lvsd's ([`LvsStatus`]).
//!
//! The text comes from `prometheus-client` (the Prometheus project's Rust client); nothing here
//! formats exposition lines by hand. A scrape hands the snapshots to a [`Collector`] that
//! encodes each series straight from them (constant metrics, labels borrowed from the
//! snapshot), so every value is exactly what the daemons report at that moment, a real server
//! removed by a reload disappears from the next scrape instead of lingering with its last value,
//! and a large table costs no per-series hashing or allocation (`benches/render.rs`).
//!
//! Counters are the daemons' own since they started (a takeover may start a new lvsd, whose
//! counters start at zero; Prometheus' `rate()` treats that as a counter reset).

#![warn(missing_docs)]

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use pulse_control::{LvsStatus, ServerStatus, Status, Traffic, VirtualStatus};
use std::fmt;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What pulse knows of its lvsd at scrape time.
#[derive(Clone, Debug)]
pub enum Lvsd {
    /// No lvsd runs (`warm_standby = 0` on an inactive director, or `--test-start`).
    NotRunning,
    /// lvsd runs but did not answer on its control socket.
    Unreachable,
    /// lvsd's answer.
    Status(Box<LvsStatus>),
}

/// The exposition of one scrape, in the OpenMetrics text format (ends with `# EOF`).
pub fn render(pulse: Status, lvsd: Lvsd) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape { pulse, lvsd }));
    let mut out = String::new();
    // Writing into a String cannot fail, and no series here can be refused.
    let _ = encode(&mut out, &registry);
    out
}

#[derive(Debug)]
struct Scrape {
    pulse: Status,
    lvsd: Lvsd,
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        self.pulse_metrics(&mut e)?;
        if let Lvsd::Status(l) = &self.lvsd {
            lvs_metrics(&mut e, l)?;
        }
        Ok(())
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// One gauge without labels.
fn gauge(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: f64) -> fmt::Result {
    ConstGauge::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// One counter without labels (the encoder appends `_total` to `name`).
fn counter(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> fmt::Result {
    ConstCounter::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

/// A family of gauges: one series per item of `items` that `value` gives a value for.
fn gauges<'a, T: 'a, L: EncodeLabelSet>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    items: impl IntoIterator<Item = T>,
    labels: impl Fn(&T) -> L,
    value: impl Fn(&T) -> Option<f64>,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for item in items {
        if let Some(v) = value(&item) {
            let l = labels(&item);
            ConstGauge::new(v).encode(m.encode_family(&l)?)?;
        }
    }
    Ok(())
}

/// A family of counters, one series per item.
fn counters<'a, T: 'a, L: EncodeLabelSet, V: prometheus_client::encoding::EncodeCounterValue>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    items: impl IntoIterator<Item = T>,
    labels: impl Fn(&T) -> L,
    value: impl Fn(&T) -> V,
) -> fmt::Result
where
    ConstCounter<V>: EncodeMetric,
{
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for item in items {
        let l = labels(&item);
        ConstCounter::new(value(&item)).encode(m.encode_family(&l)?)?;
    }
    Ok(())
}

/// Every reason a heartbeat is dropped for, from the state machine that drops it: each is a
/// series even at 0, so a new reason cannot be missing here.
const REJECTION_REASONS: &[&str] = pulse_proto::Rejection::REASONS;

impl Scrape {
    fn pulse_metrics(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let st = &self.pulse;
        Info::new([
            ("role", st.role.as_str()),
            ("heartbeat_mode", st.heartbeat_mode.as_str()),
            ("version", env!("CARGO_PKG_VERSION")),
        ])
        .encode(e.encode_descriptor(
            "pulse",
            "This director's role and heartbeat mode",
            None,
            MetricType::Info,
        )?)?;
        gauge(
            e,
            "pulse_active",
            "1 while this director holds the VIPs",
            flag(st.state == pulse_control::NodeState::Active),
        )?;
        gauge(
            e,
            "pulse_state_since_timestamp_seconds",
            "When this director last became active or inactive (Unix time)",
            st.since_unix,
        )?;
        counters(
            e,
            "pulse_transitions",
            "Times this director became active (to=active) or inactive (to=inactive)",
            [
                ("active", st.counters.takeovers),
                ("inactive", st.counters.releases),
            ],
            |(to, _)| [("to", *to)],
            |(_, n)| *n,
        )?;
        gauge(
            e,
            "pulse_partner_alive",
            "1 while the partner is heard within deadtime",
            flag(st.partner.alive),
        )?;
        gauge(
            e,
            "pulse_partner_active",
            "1 if the partner last said it is active",
            flag(st.partner.state == Some(pulse_control::NodeState::Active)),
        )?;
        gauge(
            e,
            "pulse_config_mismatch",
            "1 if the partner's lvs.cf differs from ours (authenticated heartbeats only)",
            flag(st.partner.config_mismatch),
        )?;
        gauge(
            e,
            "pulse_config_serial_no",
            "serial_no of the lvs.cf pulse runs",
            st.config.serial_no as f64,
        )?;
        gauge(
            e,
            "pulse_link_failed",
            "1 while a monitored link is down (monitor_links)",
            flag(st.link_failed),
        )?;
        gauge(
            e,
            "pulse_lvsd_failed",
            "1 after this director's lvsd died",
            flag(st.lvsd_failed),
        )?;
        gauge(
            e,
            "pulse_lvsd_running",
            "1 while an lvsd started by this pulse runs",
            flag(st.lvsd_running),
        )?;
        gauge(
            e,
            "pulse_lvsd_up",
            "1 if lvsd answered this scrape (its lvs_* metrics follow)",
            flag(matches!(self.lvsd, Lvsd::Status(_))),
        )?;
        // `service = fos`: one series per failover service and state, 1 for its state now.
        let states = pulse_control::FailoverStatus::STATES;
        gauges(
            e,
            "pulse_failover_state",
            "service = fos: 1 for each failover service's current state",
            st.failover
                .iter()
                .flat_map(|f| states.iter().map(move |s| (f, *s))),
            |(f, s)| [("service", f.name.clone()), ("state", (*s).to_string())],
            |(f, s)| Some(flag(f.state == *s)),
        )?;
        counters(
            e,
            "pulse_failover_restarts",
            "service = fos: restarts of each failover service on this director",
            &st.failover,
            |f| [("service", f.name.clone())],
            |f| f.restarts_total,
        )?;
        gauge(
            e,
            "pulse_vips_held",
            "Virtual addresses this director holds now",
            st.vips_held.len() as f64,
        )?;
        gauge(
            e,
            "pulse_vips_unclaimed",
            "Virtual addresses this director should hold but could not claim yet (retried)",
            st.vips_unclaimed.len() as f64,
        )?;
        counter(
            e,
            "pulse_vip_claim_failures",
            "VIP claims that failed",
            st.vip_claim_failures,
        )?;
        counters(
            e,
            "pulse_heartbeats_sent",
            "Heartbeats sent, per link",
            &st.links,
            link_labels,
            |l| l.heartbeats_sent,
        )?;
        counters(
            e,
            "pulse_heartbeats_received",
            "Heartbeats accepted, per link",
            &st.links,
            link_labels,
            |l| l.heartbeats_received,
        )?;
        gauges(
            e,
            "pulse_heartbeat_last_heard_seconds",
            "Seconds since a valid heartbeat arrived on the link (absent: never)",
            &st.links,
            link_labels,
            |l| l.last_heard_ms_ago.map(|ms| ms as f64 / 1e3),
        )?;
        counters(
            e,
            "pulse_heartbeats_rejected",
            &format!(
                "Heartbeat datagrams dropped, by reason ({})",
                REJECTION_REASONS.join(", ")
            ),
            REJECTION_REASONS.iter().copied(),
            |r| [("reason", *r)],
            |r| st.rejected_by_reason.get(*r).copied().unwrap_or(0),
        )?;
        counter(
            e,
            "pulse_gratuitous_arps_sent",
            "Gratuitous ARP frames sent",
            st.counters.arps_sent,
        )?;
        match &st.ecmp_group {
            Some(g) => ecmp_group_metrics(e, g),
            None => Ok(()),
        }
    }
}

/// `ecmp = 1`'s group view (informational): each director as this one hears it.
fn ecmp_group_metrics(
    e: &mut DescriptorEncoder<'_>,
    g: &pulse_control::EcmpGroupStatus,
) -> fmt::Result {
    let director = |d: &&pulse_control::EcmpDirectorStatus| [("director", d.address.clone())];
    gauges(
        e,
        "pulse_ecmp_director_heard",
        "ecmp = 1: 1 while the director is heard within 3 keepalives (this director: 1)",
        &g.directors,
        director,
        |d| Some(flag(!d.stale)),
    )?;
    gauges(
        e,
        "pulse_ecmp_director_last_heard_seconds",
        "ecmp = 1: seconds since the director's last group datagram (absent: never)",
        g.directors.iter().filter(|d| !d.this),
        director,
        |d| d.last_heard_ms_ago.map(|ms| ms as f64 / 1e3),
    )?;
    gauges(
        e,
        "pulse_ecmp_director_announced_vips",
        "ecmp = 1: VIPs the director announces, as last heard (absent: never heard)",
        &g.directors,
        director,
        |d| d.announced_count.map(f64::from),
    )?;
    gauges(
        e,
        "pulse_ecmp_director_config_mismatch",
        "ecmp = 1: 1 if the director's serial_no or group digest differs from ours",
        &g.directors,
        director,
        |d| Some(flag(d.config_mismatch)),
    )?;
    let reasons = pulse_director::GroupRejection::REASONS;
    counters(
        e,
        "pulse_ecmp_group_datagrams_rejected",
        &format!(
            "ecmp = 1: group datagrams dropped, by reason ({})",
            reasons.join(", ")
        ),
        reasons.iter().copied(),
        |r| [("reason", *r)],
        |r| g.rejected_by_reason.get(*r).copied().unwrap_or(0),
    )
}

/// Every (virtual service, real server) pair of a snapshot.
fn servers(l: &LvsStatus) -> impl Iterator<Item = (&VirtualStatus, &ServerStatus)> + Clone {
    l.services
        .iter()
        .flat_map(|v| v.servers.iter().map(move |s| (v, s)))
}

/// A heartbeat link's labels.
fn link_labels<'a>(l: &&'a pulse_control::LinkStatus) -> [(&'static str, &'a str); 2] {
    [("local", l.local.as_str()), ("peer", l.peer.as_str())]
}

/// A virtual service's labels: its name in lvs.cf and its IPVS key.
fn service_labels<'a>(v: &&'a VirtualStatus) -> [(&'static str, &'a str); 2] {
    [("virtual", v.name.as_str()), ("service", v.key.as_str())]
}

type ServerLabels<'a> = [(&'static str, &'a str); 3];

/// A real server's labels: its virtual service's name (unique in lvs.cf), its own name and
/// address.
fn server_labels<'a>((v, s): &(&'a VirtualStatus, &'a ServerStatus)) -> ServerLabels<'a> {
    [
        ("virtual", v.name.as_str()),
        ("server", s.name.as_str()),
        ("address", s.address.as_str()),
    ]
}

/// The five kernel counters of a service or real server, as `{prefix}_{what}_total`.
fn traffic<'t, T: Copy + 't, L: EncodeLabelSet>(
    e: &mut DescriptorEncoder<'_>,
    prefix: &str,
    what: &str,
    items: impl Iterator<Item = T> + Clone,
    labels: impl Fn(&T) -> L + Copy,
    traffic: impl Fn(&T) -> &'t Traffic + Copy,
) -> fmt::Result {
    type Field = (&'static str, &'static str, fn(&Traffic) -> u64);
    let fields: [Field; 5] = [
        ("connections", "Connections scheduled", |t| t.conns),
        ("in_packets", "Packets in", |t| t.in_packets),
        ("out_packets", "Packets out", |t| t.out_packets),
        ("in_bytes", "Bytes in", |t| t.in_bytes),
        ("out_bytes", "Bytes out", |t| t.out_bytes),
    ];
    for (name, help, field) in fields {
        counters(
            e,
            &format!("{prefix}_{name}"),
            &format!("{help} ({what}; kernel IPVS)"),
            items.clone(),
            labels,
            |x| field(traffic(x)),
        )?;
    }
    Ok(())
}

fn lvs_metrics(e: &mut DescriptorEncoder<'_>, l: &LvsStatus) -> fmt::Result {
    gauge(
        e,
        "lvs_config_serial_no",
        "serial_no of the lvs.cf lvsd runs",
        l.serial_no as f64,
    )?;
    counters(
        e,
        "lvs_reloads",
        "lvs.cf reloads, by result (applied, refused)",
        [
            ("applied", l.reloads.saturating_sub(l.reloads_refused)),
            ("refused", l.reloads_refused),
        ],
        |(r, _)| [("result", *r)],
        |(_, n)| *n,
    )?;
    gauges(
        e,
        "lvs_virtual_service_in_kernel",
        "1 if the virtual service is in the kernel's IPVS table",
        &l.services,
        service_labels,
        |v| Some(flag(v.in_kernel)),
    )?;
    gauges(
        e,
        "lvs_sorry_server_active",
        "1 while the virtual service's sorry server is in the table",
        &l.services,
        service_labels,
        |v| Some(flag(v.sorry_active)),
    )?;
    traffic(
        e,
        "lvs_virtual_service",
        "per virtual service",
        l.services.iter(),
        service_labels,
        |v| &v.traffic,
    )?;
    let mut m = e.encode_descriptor(
        "lvs_real_server_health",
        "1 for the real server's current health state (up, down, unknown: not checked yet)",
        None,
        MetricType::Gauge,
    )?;
    for vs in servers(l) {
        let [v, s, a] = server_labels(&vs);
        for &state in pulse_control::Health::ALL {
            let labels = [v, s, a, ("state", state.as_str())];
            ConstGauge::new(flag(vs.1.health == state)).encode(m.encode_family(&labels)?)?;
        }
    }
    let mut m = e.encode_descriptor(
        "lvs_real_server_admin",
        "1 for the operator's runtime override of the real server (enabled, draining, disabled)",
        None,
        MetricType::Gauge,
    )?;
    for vs in servers(l) {
        let [v, s, a] = server_labels(&vs);
        for &state in pulse_control::Admin::ALL {
            let labels = [v, s, a, ("state", state.as_str())];
            ConstGauge::new(flag(vs.1.admin == state)).encode(m.encode_family(&labels)?)?;
        }
    }
    gauges(
        e,
        "lvs_real_server_weight",
        "Configured weight",
        servers(l),
        server_labels,
        |(_, s)| Some(f64::from(s.weight)),
    )?;
    gauges(
        e,
        "lvs_real_server_kernel_weight",
        "Weight in the kernel's table (absent: not in the table)",
        servers(l),
        server_labels,
        |(_, s)| s.kernel_weight.map(f64::from),
    )?;
    gauges(
        e,
        "lvs_real_server_active_connections",
        "Active connections (kernel)",
        servers(l),
        server_labels,
        |(_, s)| Some(f64::from(s.active_conns)),
    )?;
    gauges(
        e,
        "lvs_real_server_inactive_connections",
        "Inactive connections (kernel)",
        servers(l),
        server_labels,
        |(_, s)| Some(f64::from(s.inactive_conns)),
    )?;
    traffic(
        e,
        "lvs_real_server",
        "per real server",
        servers(l),
        server_labels,
        |(_, s)| &s.traffic,
    )?;
    let mut m = e.encode_descriptor(
        "lvs_checks",
        "Health checks finished, by result (passed, failed)",
        None,
        MetricType::Counter,
    )?;
    for vs in servers(l) {
        let [v, s, a] = server_labels(&vs);
        for (result, n) in [
            ("passed", vs.1.checks.passed),
            ("failed", vs.1.checks.failed),
        ] {
            ConstCounter::new(n).encode(m.encode_family(&[v, s, a, ("result", result)])?)?;
        }
    }
    counters(
        e,
        "lvs_check_seconds",
        "Time health checks took in total (divide by lvs_checks_total for the mean)",
        servers(l),
        server_labels,
        |(_, s)| s.checks.seconds_total,
    )?;
    gauges(
        e,
        "lvs_check_last_duration_seconds",
        "Time the last health check took",
        servers(l),
        server_labels,
        |(_, s)| s.checks.last_seconds,
    )
}
