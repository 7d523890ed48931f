//! `--supervised`: lvsd as pulse's child exits when pulse is gone, leaving the IPVS table as it
//! is for the next lvsd to adopt. Without it, a SIGKILLed pulse would leave its lvsd running,
//! unsupervised, forever; and the restarted pulse's lvsd would share the table with it.
//!
//! Linux tells a process nothing when its parent dies (short of `PR_SET_PDEATHSIG`, which
//! fires on the death of the parent *thread* and would kill lvsd without a word), but the
//! parent's death changes `getppid()`: the orphan is reparented to init or a subreaper. So lvsd
//! records its parent at start and looks again every [`PARENT_CHECK`].

use nix::unistd::{Pid, getppid};
use std::time::Duration;
use tokio::time::{Interval, MissedTickBehavior};

/// How often the parent is looked at: an orphan exits within this plus one turn of the daemon
/// loop, well within the promised second.
pub(crate) const PARENT_CHECK: Duration = Duration::from_millis(500);

/// lvsd started under `started_under` and its parent is now `now_under`: a process's parent
/// changes only when the parent dies (the orphan goes to init or the nearest subreaper), so a
/// change means pulse is gone.
pub(crate) fn orphaned(started_under: Pid, now_under: Pid) -> bool {
    started_under != now_under
}

/// Watches the parent lvsd started under.
#[derive(Debug)]
pub(crate) struct ParentWatch {
    parent: Pid,
    tick: Interval,
}

impl ParentWatch {
    /// Watches `parent` (needs the runtime: it holds a timer).
    pub(crate) fn new(parent: Pid) -> Self {
        let mut tick = tokio::time::interval(PARENT_CHECK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { parent, tick }
    }

    /// Resolves with the parent's pid once it is gone; never without a watch.
    pub(crate) async fn gone(watch: &mut Option<Self>) -> Pid {
        let Some(w) = watch else {
            return std::future::pending().await;
        };
        loop {
            w.tick.tick().await;
            if orphaned(w.parent, getppid()) {
                return w.parent;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_parent_means_the_first_one_is_gone() {
        let pulse = Pid::from_raw(4242);
        assert!(!orphaned(pulse, pulse));
        assert!(orphaned(pulse, Pid::from_raw(1)));
        // Reparented to a subreaper (systemd --user, a container's init), not to pid 1.
        assert!(orphaned(pulse, Pid::from_raw(977)));
    }
}
