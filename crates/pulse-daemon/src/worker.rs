//! A thread that carries out queued jobs in order, off the heartbeat path (the VIP worker, the
//! sync-daemon switch). Queuing never blocks; at exit the queue is closed and what is queued is
//! carried out, waiting a bounded time.

use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;
use tracing::warn;

/// The thread and its queue.
#[derive(Debug)]
pub(crate) struct Worker<T> {
    name: &'static str,
    tx: Option<Sender<T>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts thread `name`, which runs `work` over the queue's jobs until it is closed.
    pub(crate) fn spawn(
        name: &'static str,
        work: impl FnOnce(Receiver<T>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<T>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || work(rx))?;
        Ok(Self {
            name,
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a job (never blocks; dropped if the thread is gone).
    pub(crate) fn send(&self, job: T) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(job);
        }
    }

    /// Closes the queue and waits, at most `limit`, for the jobs queued to be carried out.
    pub(crate) async fn finish(&mut self, limit: Duration) {
        drop(self.tx.take());
        let Some(thread) = self.thread.take() else {
            return;
        };
        let wait = tokio::task::spawn_blocking(move || thread.join());
        if tokio::time::timeout(limit, wait).await.is_err() {
            warn!(
                thread = self.name,
                "queued work did not finish within {limit:?}"
            );
        }
    }
}
