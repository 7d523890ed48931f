//! The IPVS connection-sync daemon's role (`syncdaemon = 1`): master while active, backup
//! otherwise (docs/reference/piranha.md §4.8). pulse owns it, not lvsd: the backup role is needed exactly
//! while no lvsd runs. The switch happens on a thread of its own, in order: stopping a sync
//! thread waits for the kernel's RTNL lock, which must never delay a heartbeat.

use pulse_ipvs::{SyncDaemon, SyncRole};
use std::time::Duration;
use tracing::{error, info, warn};

/// The thread and its queue.
#[derive(Debug)]
pub(crate) struct SyncWorker {
    tx: Option<std::sync::mpsc::Sender<SyncDaemon>>,
    thread: Option<std::thread::JoinHandle<()>>,
    interface: String,
    sync_id: u8,
}

impl SyncWorker {
    /// Starts the thread; a failure to start it is logged and the sync daemon is left as it is.
    pub(crate) fn start(interface: String, sync_id: u8) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<SyncDaemon>();
        let spawned = std::thread::Builder::new()
            .name("pulse-syncd".into())
            .spawn(move || {
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
        let (tx, thread) = match spawned {
            Ok(t) => (Some(tx), Some(t)),
            Err(e) => {
                error!(error = %e, "cannot start the sync-daemon thread; sync daemon left as it is");
                (None, None)
            }
        };
        Self {
            tx,
            thread,
            interface,
            sync_id,
        }
    }

    /// Queues a switch.
    pub(crate) fn switch(&self, role: SyncRole) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(SyncDaemon {
                role,
                interface: self.interface.clone(),
                sync_id: self.sync_id,
            });
        }
    }

    /// At exit: the last switch (backup, after the shutdown's deactivation) is applied before
    /// pulse goes, waiting at most `limit`.
    pub(crate) async fn finish(mut self, limit: Duration) {
        drop(self.tx.take());
        let Some(worker) = self.thread.take() else {
            return;
        };
        let wait = tokio::task::spawn_blocking(move || worker.join());
        if tokio::time::timeout(limit, wait).await.is_err() {
            warn!("the ipvs sync daemon switch did not finish within {limit:?}");
        }
    }
}
