//! A director's death under traffic, measured: who noticed, who claimed, when the client recovered.

use super::*;
use std::time::{Duration, Instant, SystemTime};
/// What [`PairBed::crash`] saw: the timeline of a failover.
#[derive(Clone, Debug)]
pub struct Failover {
    /// The director killed.
    pub killed: Director,
    /// The other one.
    pub survivor: Director,
    /// When it was killed.
    pub killed_at: SystemTime,
    /// The events.
    pub timeline: Timeline,
}

impl PairBed {
    /// What a director's log says when it takes over: the first line after a given time
    /// containing each of these is a timeline event ([`log_events`](Self::log_events)).
    pub fn takeover_log_needles(&self) -> Vec<String> {
        let mut n: Vec<String> = [
            "partner silent for deadtime",
            "activating lvs",
            "claimed VIP",
            "started lvsd",
            "starting virtual service",
            "ipvs table updated",
        ]
        .map(String::from)
        .to_vec();
        if self.config.routing == Routing::Nat {
            n.push(format!("claimed VIP vip={NAT_ROUTER}"));
        }
        for a in self.config.server_addrs() {
            n.push(format!("making {} available", self.config.server_port(a)));
        }
        n
    }

    /// Kills the active director `d` ([`kill_director`](Self::kill_director)) and watches the
    /// other take over for `watch`: polls the client's neighbour entry for the VIP (the
    /// gratuitous ARP arrived; the one thing no log says) and adds the survivor's log lines
    /// ([`takeover_log_needles`](Self::takeover_log_needles)). Polling starts processes, which
    /// is slow under TCG, so it is kept to that one.
    pub fn crash(&mut self, d: Director, watch: Duration) -> Failover {
        let survivor = d.other();
        let mut timeline = Timeline::new();
        let killed_at = timeline.add(format!(
            "{d} dies: its cable pulled (ip -batch), then SIGKILL of its pulse and lvsd"
        ));
        self.kill_director(d);
        timeline.add(format!(
            "{d}'s ports are down and its processes killed (polled)"
        ));
        let deadline = Instant::now() + watch;
        let mut arp = false;
        while Instant::now() < deadline {
            if !arp && self.client_vip_mac().as_deref() == Some(survivor.mac()) {
                arp = true;
                timeline.add(format!(
                    "client's ARP entry for the VIP -> {survivor}'s MAC (gratuitous ARP; polled)"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let needles = self.takeover_log_needles();
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        self.log_events(&mut timeline, survivor, killed_at, &needles);
        Failover {
            killed: d,
            survivor,
            killed_at,
            timeline,
        }
    }
}

impl Failover {
    /// Adds the client's view: the first failed request, the first good response after the
    /// kill, and the outage (the longest stretch of failures after the kill). Returns the
    /// outage, if there was one.
    pub fn add_traffic(&mut self, records: &[Record]) -> Option<Outage> {
        let after: Vec<Record> = records
            .iter()
            .filter(|r| r.sent >= self.killed_at)
            .cloned()
            .collect();
        // A request sent just before the kill may fail too: include the one before.
        let from = records
            .iter()
            .rposition(|r| r.sent < self.killed_at)
            .unwrap_or(0);
        let window = &records[from..];
        let end = records.last().map_or(self.killed_at, |r| r.sent);
        let outage = longest_outage(window);
        if let Some(o) = &outage {
            self.timeline
                .add_at(o.first_failure, "client: first failed request");
            if let Some(ok) = o.next_ok {
                let server = records
                    .iter()
                    .find(|r| r.sent == ok)
                    .and_then(|r| r.result.clone().ok())
                    .unwrap_or_default();
                self.timeline.add_at(
                    ok,
                    format!(
                        "client: first good response (via {server}) after {} failed; outage {} ms (first failure to first success; {} ms from the last success before)",
                        o.failures,
                        o.duration(end).as_millis(),
                        o.upper_bound(end).as_millis()
                    ),
                );
            } else {
                self.timeline.add_at(end, "client: no good response since");
            }
        } else if let Some(r) = first_ok_after(&after, self.killed_at) {
            self.timeline.add_at(
                r.sent,
                format!(
                    "client: first response after the kill (via {}); no request failed",
                    r.result.clone().unwrap_or_default()
                ),
            );
        }
        outage
    }
}
