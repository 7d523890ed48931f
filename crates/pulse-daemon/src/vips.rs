//! The VIP worker: a thread that adds and removes addresses over rtnetlink and sends
//! gratuitous ARPs (IPv4) and unsolicited neighbour advertisements (IPv6), in the order asked,
//! off the heartbeat path. Each claim's outcome goes back
//! to the loop (`Ev::Claimed`), where the director retries a failure.
//!
//! Interface lookups happen here, per request: an interface that is being recreated (a bond,
//! a VLAN) or missing at start is found once it exists, and an ARP sender is opened on first
//! use and reopened after a failure.

use crate::driver::Ev;
use crate::worker::Worker;
use pulse_director::VipClaim;
use pulse_sys::{ArpSender, Rtnl};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

/// A request to the worker.
#[derive(Debug)]
pub(crate) enum VipsIn {
    /// Add the address.
    Claim(VipClaim),
    /// Remove it if present (`true`: left from a previous run).
    Release(VipClaim, bool),
    /// One gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6) per address.
    Announce(Vec<VipClaim>),
    /// Send this event back once every request queued before it is done (the worker takes
    /// them in order): what must not happen before the VIPs are gone waits for it.
    Then(Ev),
}

/// The worker's queue and counters.
#[derive(Debug)]
pub(crate) struct VipWorker {
    worker: Worker<VipsIn>,
    arps_sent: Arc<AtomicU64>,
}

impl VipWorker {
    /// Starts the thread (with its own rtnetlink socket).
    pub(crate) fn start(events: mpsc::UnboundedSender<Ev>) -> anyhow::Result<Self> {
        let rtnl = Rtnl::connect()?;
        let arps_sent = Arc::new(AtomicU64::new(0));
        let sent = arps_sent.clone();
        let worker = Worker::spawn("pulse-vips", move |rx| {
            let mut arp: HashMap<String, ArpSender> = HashMap::new();
            for job in rx {
                match job {
                    VipsIn::Claim(v) => {
                        let result = claim(&rtnl, &v);
                        if events.send(Ev::Claimed(v, result)).is_err() {
                            return;
                        }
                    }
                    VipsIn::Release(v, stale) => release(&rtnl, &v, stale),
                    VipsIn::Announce(vips) => {
                        for v in &vips {
                            announce(&mut arp, v, &sent);
                        }
                    }
                    VipsIn::Then(ev) => {
                        if events.send(ev).is_err() {
                            return;
                        }
                    }
                }
            }
        })?;
        Ok(Self { worker, arps_sent })
    }

    /// Queues a request (never blocks).
    pub(crate) fn send(&self, job: VipsIn) {
        self.worker.send(job);
    }

    /// Gratuitous ARPs and neighbour advertisements sent so far.
    pub(crate) fn arps_sent(&self) -> u64 {
        self.arps_sent.load(Ordering::Relaxed)
    }

    /// At exit: the queued releases are carried out before pulse goes, waiting at most
    /// `limit`.
    pub(crate) async fn finish(&mut self, limit: Duration) {
        self.worker.finish(limit).await;
    }
}

fn claim(rtnl: &Rtnl, v: &VipClaim) -> Result<(), String> {
    let iface =
        pulse_sys::interface(&v.base).map_err(|e| format!("no such interface {}: {e}", v.base))?;
    match rtnl.add_address(iface.index, &v.base, &v.device, v.addr, v.prefix) {
        Ok(true) => {
            info!(vip = %v.addr, prefix = v.prefix, device = %v.device, "claimed VIP");
            Ok(())
        }
        Ok(false) => {
            debug!(vip = %v.addr, "VIP already present");
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

fn release(rtnl: &Rtnl, v: &VipClaim, stale: bool) {
    // No interface: no address to remove.
    let Ok(iface) = pulse_sys::interface(&v.base) else {
        return;
    };
    match rtnl.delete_address(iface.index, &v.base, v.addr, v.prefix) {
        Ok(true) if stale => {
            warn!(vip = %v.addr, device = %v.device, "removing VIP left from a previous run")
        }
        Ok(true) => info!(vip = %v.addr, device = %v.device, "released VIP"),
        Ok(false) => {}
        Err(e) => error!(vip = %v.addr, device = %v.device, error = %e, "cannot release VIP"),
    }
}

fn announce(arp: &mut HashMap<String, ArpSender>, v: &VipClaim, sent: &AtomicU64) {
    if !arp.contains_key(&v.base) {
        match ArpSender::open(&v.base) {
            Ok(s) => {
                arp.insert(v.base.clone(), s);
            }
            Err(e) => {
                error!(vip = %v.addr, ifname = %v.base, error = %e, "cannot announce VIP");
                return;
            }
        }
    }
    let Some(s) = arp.get_mut(&v.base) else {
        return;
    };
    match s.announce(v.addr) {
        Ok(()) => {
            sent.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            // The interface may have been recreated: open it afresh next time.
            error!(vip = %v.addr, ifname = %v.base, error = %e, "cannot announce VIP");
            arp.remove(&v.base);
        }
    }
}
