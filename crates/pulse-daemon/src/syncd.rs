//! The IPVS connection-sync daemon's role (`syncdaemon = 1`): master while active, backup
//! otherwise (docs/reference/piranha.md §4.8). pulse owns it, not lvsd: the backup role is needed exactly
//! while no lvsd runs. The switch happens on a thread of its own, in order: stopping a sync
//! thread waits for the kernel's RTNL lock, which must never delay a heartbeat.

use crate::worker::Worker;
use pulse_director::SyncRole;
use pulse_ipvs::SyncDaemon;
use std::time::Duration;
use tracing::{error, info};

/// The thread and its queue.
#[derive(Debug)]
pub(crate) struct SyncWorker {
    worker: Option<Worker<SyncDaemon>>,
}

impl SyncWorker {
    /// Starts the thread; a failure to start it is logged and the sync daemon is left as it is.
    pub(crate) fn start() -> Self {
        let spawned = Worker::spawn("pulse-syncd", |rx| {
            for d in rx {
                match pulse_sys::ipvs::Ipvs::connect().and_then(|mut i| i.sync_as(&d)) {
                    Ok(()) => info!(
                        role = ?d.role,
                        interface = %d.interface,
                        syncid = d.sync_id,
                        "ipvs sync daemon running"
                    ),
                    Err(e) => error!(
                        role = ?d.role,
                        interface = %d.interface,
                        syncid = d.sync_id,
                        error = %e,
                        "cannot start the ipvs sync daemon"
                    ),
                }
            }
        });
        let worker = spawned
            .inspect_err(|e| {
                error!(error = %e, "cannot start the sync-daemon thread; sync daemon left as it is");
            })
            .ok();
        Self { worker }
    }

    /// Queues a switch.
    pub(crate) fn switch(&self, role: SyncRole, interface: String, sync_id: u8) {
        let role = match role {
            SyncRole::Master => pulse_ipvs::SyncRole::Master,
            SyncRole::Backup => pulse_ipvs::SyncRole::Backup,
        };
        if let Some(w) = &self.worker {
            w.send(SyncDaemon {
                role,
                interface,
                sync_id,
            });
        }
    }

    /// At exit: the last switch (backup, after the shutdown's deactivation) is applied before
    /// pulse goes, waiting at most `limit`.
    pub(crate) async fn finish(mut self, limit: Duration) {
        if let Some(w) = &mut self.worker {
            w.finish(limit).await;
        }
    }
}
