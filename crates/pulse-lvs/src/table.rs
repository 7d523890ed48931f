//! Desired and observed IPVS tables, and the reconcile that turns one into the other.
//!
//! The rules (issue 4, and keepalived's reload bugs in docs/reference/peers.md §2.4 as the counter-examples):
//! - an object whose kernel state already matches is never touched, so its connections and
//!   counters survive;
//! - a changed scheduler, persistence, netmask or flag is `EditService`, a changed weight,
//!   threshold or forwarding method is `EditDest` — never delete and re-add;
//! - only objects that are no longer wanted are deleted;
//! - applying the ops to the observed table and reconciling again yields nothing.

use pulse_ipvs::{Dest, DestKey, Family, Forward, IpvsOp, Service, ServiceKey};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One service of the kernel's table and its destinations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedService {
    /// The service's attributes.
    pub service: Service,
    /// Its destinations, by address and port.
    pub dests: BTreeMap<DestKey, Dest>,
}

/// The kernel's table as last read (a dump) and kept current by [`Table::apply`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// Services by key.
    pub services: BTreeMap<ServiceKey, ObservedService>,
}

impl Table {
    /// Records a change the kernel has acknowledged.
    pub fn apply(&mut self, op: &IpvsOp) {
        match op {
            IpvsOp::AddService(s) => {
                self.services.insert(
                    s.key,
                    ObservedService {
                        service: s.clone(),
                        dests: BTreeMap::new(),
                    },
                );
            }
            IpvsOp::EditService(s) => {
                if let Some(o) = self.services.get_mut(&s.key) {
                    o.service = s.clone();
                }
            }
            IpvsOp::DeleteService(k) => {
                self.services.remove(k);
            }
            IpvsOp::AddDest(k, d) | IpvsOp::EditDest(k, d) => {
                if let Some(o) = self.services.get_mut(k) {
                    o.dests.insert(d.key, *d);
                }
            }
            IpvsOp::DeleteDest(k, d) => {
                if let Some(o) = self.services.get_mut(k) {
                    o.dests.remove(d);
                }
            }
        }
    }

    /// Number of destinations over all services.
    pub fn dest_count(&self) -> usize {
        self.services.values().map(|s| s.dests.len()).sum()
    }
}

/// What one destination should be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DesiredDest {
    /// In the table with exactly these attributes.
    Present(Dest),
    /// Health not known yet (just started, or just added to lvs.cf): leave it as the kernel has
    /// it — present stays present (with its current weight, so a quiesced server stays
    /// quiesced), absent stays absent — until the first check decides. This is what makes a
    /// restart of lvsd adopt the running table instead of dropping traffic.
    KeepIfPresent(Dest),
}

impl DesiredDest {
    /// The configured attributes.
    pub fn dest(&self) -> &Dest {
        match self {
            Self::Present(d) | Self::KeepIfPresent(d) => d,
        }
    }
}

/// One service of the desired table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredService {
    /// The service's attributes.
    pub service: Service,
    /// Destinations to have (or keep); every other destination of the service is removed.
    pub dests: BTreeMap<DestKey, DesiredDest>,
}

impl DesiredService {
    /// A draining release (pulse's `Event::Drain`): new connections go to `partner`, the other
    /// director, which holds the VIP unannounced and schedules them with its own table, while
    /// the connections already here finish. Every real server stays, with weight 0 (IPVS keeps
    /// forwarding their connections but schedules nothing new to them; a server whose health
    /// is not known yet keeps the kernel's weight), and the partner is added by direct routing
    /// with weight 1: the kernel rewrites only the MAC, so the partner sees the VIP. A service
    /// of the other address family is left alone (direct routing cannot cross families).
    pub fn forward_new_to(&mut self, partner: IpAddr) {
        let (family, port) = match self.service.key {
            ServiceKey::Fwmark { family, .. } => (family, 0),
            ServiceKey::Addr { addr, port, .. } => (Family::of(&addr), port),
        };
        if family != Family::of(&partner) {
            return;
        }
        for d in self.dests.values_mut() {
            if let DesiredDest::Present(x) = d {
                x.weight = 0;
            }
        }
        let key = DestKey {
            addr: partner,
            port,
        };
        self.dests.insert(
            key,
            DesiredDest::Present(Dest {
                key,
                forward: Forward::Route,
                weight: 1,
                upper_threshold: 0,
                lower_threshold: 0,
            }),
        );
    }
}

/// The table lvs.cf and the health checks ask for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// Services by key; every other service in the kernel is removed (lvsd owns the table of its
    /// network namespace, as piranha's `ipvsadm -C` at start assumed, docs/reference/piranha.md §5.2).
    pub services: BTreeMap<ServiceKey, DesiredService>,
}

impl Desired {
    /// [`DesiredService::forward_new_to`] for every service.
    pub fn forward_new_to(&mut self, partner: IpAddr) {
        for s in self.services.values_mut() {
            s.forward_new_to(partner);
        }
    }
}

/// The minimal ops that turn `observed` into `desired`, in an order the kernel accepts:
/// removed services first, then per service: add or edit the service, remove its unwanted
/// destinations, add or edit the wanted ones.
pub fn reconcile(desired: &Desired, observed: &Table) -> Vec<IpvsOp> {
    let mut ops = Vec::new();
    for key in observed.services.keys() {
        if !desired.services.contains_key(key) {
            ops.push(IpvsOp::DeleteService(*key));
        }
    }
    for (key, want) in &desired.services {
        reconcile_service(want, observed.services.get(key), &mut ops);
    }
    ops
}

/// The ops for one service (used after a health transition, so a single server's change costs
/// one service's diff, not the whole table's).
pub fn reconcile_service(
    want: &DesiredService,
    have: Option<&ObservedService>,
    ops: &mut Vec<IpvsOp>,
) {
    let key = want.service.key;
    let empty = BTreeMap::new();
    let have_dests = match have {
        None => {
            ops.push(IpvsOp::AddService(want.service.clone()));
            &empty
        }
        Some(h) => {
            if !same_service(&h.service, &want.service) {
                ops.push(IpvsOp::EditService(want.service.clone()));
            }
            &h.dests
        }
    };
    for dkey in have_dests.keys() {
        if !want.dests.contains_key(dkey) {
            ops.push(IpvsOp::DeleteDest(key, *dkey));
        }
    }
    for (dkey, wd) in &want.dests {
        match (wd, have_dests.get(dkey)) {
            (DesiredDest::Present(d), None) => ops.push(IpvsOp::AddDest(key, *d)),
            (DesiredDest::Present(d), Some(h)) if h != d => ops.push(IpvsOp::EditDest(key, *d)),
            (DesiredDest::KeepIfPresent(d), Some(h)) => {
                // Keep the kernel's weight; bring everything else in line with lvs.cf.
                let target = Dest {
                    weight: h.weight,
                    ..*d
                };
                if *h != target {
                    ops.push(IpvsOp::EditDest(key, target));
                }
            }
            _ => {}
        }
    }
}

/// Equal as far as `ipvsadm -E` can tell (the kernel's `HASHED` flag is bookkeeping; a
/// persistence timeout is meaningless without the persistent flag).
fn same_service(have: &Service, want: &Service) -> bool {
    let persistent = |s: &Service| s.flags.0 & pulse_ipvs::ServiceFlags::PERSISTENT != 0;
    have.scheduler == want.scheduler
        && have.flags.configurable() == want.flags.configurable()
        && have.netmask == want.netmask
        && have.pe_name == want.pe_name
        && (!persistent(want) || have.timeout == want.timeout)
}
