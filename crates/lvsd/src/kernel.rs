//! Where the table lives: the kernel's IPVS (over `pulse_sys::ipvs`), or, in test mode (`-t`),
//! a table in memory that accepts every change.

use pulse_ipvs::{DestCounters, DestKey, IpvsOp, ServiceKey, ServiceStats, Timeouts};
use pulse_lvs::{ObservedService, Table};
use pulse_sys::ipvs::{Ipvs, IpvsError};
use std::collections::BTreeMap;

#[derive(Debug)]
pub(crate) enum Kernel {
    Ipvs(Ipvs),
    Test(Table),
}

impl Kernel {
    pub(crate) fn mode(&self) -> &'static str {
        match self {
            Self::Ipvs(_) => "kernel",
            Self::Test(_) => "test",
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
}
