//! Where the table lives: the kernel's IPVS (over `pulse_sys::ipvs`), or, in test mode (`-t`),
//! a table in memory that accepts every change.

use pulse_control::LvsdMode;
use pulse_ipvs::{DestCounters, DestKey, IpvsOp, ServiceKey, ServiceStats, Timeouts};
use pulse_lvs::{ObservedService, Plan, Table};
use pulse_sys::ipvs::{Ipvs, IpvsError};
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Debug)]
pub(crate) enum Kernel {
    Ipvs(Ipvs),
    Test(Table),
}

impl Kernel {
    pub(crate) fn mode(&self) -> LvsdMode {
        match self {
            Self::Ipvs(_) => LvsdMode::Kernel,
            Self::Test(_) => LvsdMode::Test,
        }
    }

    /// The whole table: every service, then every service's destinations.
    pub(crate) fn read(&mut self) -> Result<Table, IpvsError> {
        match self {
            Self::Test(t) => Ok(t.clone()),
            Self::Ipvs(ipvs) => {
                let mut table = Table::default();
                for service in ipvs.services()? {
                    let dests = ipvs
                        .dests(&service.key)?
                        .into_iter()
                        .map(|(d, _)| (d.key, d))
                        .collect();
                    table
                        .services
                        .insert(service.key, ObservedService { service, dests });
                }
                Ok(table)
            }
        }
    }

    /// Applies `ops` in order; one result per op.
    pub(crate) fn apply(&mut self, ops: &[IpvsOp]) -> Vec<Result<(), IpvsError>> {
        match self {
            Self::Test(t) => ops
                .iter()
                .map(|op| {
                    t.apply(op);
                    Ok(())
                })
                .collect(),
            Self::Ipvs(ipvs) => ipvs.apply(ops),
        }
    }

    /// `ecmp = 1`: turns on `net.ipv4.vs.sloppy_tcp`, so a flow the router moves here
    /// mid-stream gets an IPVS entry instead of the VIP's local stack answering RST
    /// (ip_vs_proto_tcp.c `tcp_conn_schedule`). Left on when the mode is turned off: other
    /// directors of the group may still need it, and it harms no active/backup pair.
    pub(crate) fn set_sloppy_tcp(&mut self) -> std::io::Result<()> {
        match self {
            Self::Test(_) => Ok(()),
            Self::Ipvs(_) => std::fs::write("/proc/sys/net/ipv4/vs/sloppy_tcp", "1\n"),
        }
    }

    pub(crate) fn set_timeouts(&mut self, t: Timeouts) -> Result<(), IpvsError> {
        match self {
            Self::Test(_) => Ok(()),
            Self::Ipvs(ipvs) => ipvs.set_timeouts(t),
        }
    }

    /// Every service's traffic counters (empty in test mode).
    pub(crate) fn service_stats(
        &mut self,
    ) -> Result<BTreeMap<ServiceKey, ServiceStats>, IpvsError> {
        match self {
            Self::Test(_) => Ok(BTreeMap::new()),
            Self::Ipvs(ipvs) => Ok(ipvs
                .services_with_stats()?
                .into_iter()
                .map(|(s, st)| (s.key, st))
                .collect()),
        }
    }

    /// Connection counters of one service's destinations (empty in test mode).
    pub(crate) fn counters(
        &mut self,
        key: &ServiceKey,
    ) -> Result<BTreeMap<DestKey, DestCounters>, IpvsError> {
        match self {
            Self::Test(_) => Ok(BTreeMap::new()),
            Self::Ipvs(ipvs) => Ok(ipvs
                .dests(key)?
                .into_iter()
                .map(|(d, c)| (d.key, c))
                .collect()),
        }
    }

    /// Active connections on every planned destination but `partner`: what a draining release
    /// waits for.
    pub(crate) fn active_conns_except(&mut self, plan: &Plan, partner: Option<IpAddr>) -> u64 {
        self.planned_dest_counters(plan)
            .filter(|(k, _)| Some(k.addr) != partner)
            .map(|(_, c)| u64::from(c.active_conns))
            .sum()
    }

    /// Connections to `addr` in the table now, active and inactive (the `conns` statistic
    /// would lag: the kernel sums it every 2 s).
    pub(crate) fn connections_to(&mut self, plan: &Plan, addr: IpAddr) -> u64 {
        self.planned_dest_counters(plan)
            .filter(|(k, _)| k.addr == addr)
            .map(|(_, c)| u64::from(c.active_conns) + u64::from(c.inactive_conns))
            .sum()
    }

    /// The counters of every destination of the planned services (a service that cannot be
    /// dumped counts as empty).
    fn planned_dest_counters(
        &mut self,
        plan: &Plan,
    ) -> impl Iterator<Item = (DestKey, DestCounters)> + use<> {
        let mut all = Vec::new();
        for s in &plan.services {
            if let Ok(c) = self.counters(&s.service.key) {
                all.extend(c);
            }
        }
        all.into_iter()
    }
}
