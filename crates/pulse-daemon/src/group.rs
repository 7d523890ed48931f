//! `ecmp = 1`'s I/O around `pulse_director::Group`: lvsd's status polled over its socket
//! (turned into a `LvsdView`), the announcement routes changed over rtnetlink on a thread of
//! their own (a route change never waits on the heartbeat path), results back to the loop as
//! [`Ev`]s. It decides nothing; pulse never talks to the routing daemon.

use crate::driver::Ev;
use pulse_control::{Health, LvsStatus, Request, Response};
use pulse_director::{Group, GroupAction, GroupPlan, LvsdView, ServerCounts, ServiceTraffic};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// How often lvsd's table and health are read.
const POLL: Duration = Duration::from_millis(500);

/// lvsd's status as the group core sees it: programmed when every service is in the kernel;
/// the services' counters tell a drain when the router sends nothing more.
pub(crate) fn view_of(status: &LvsStatus) -> LvsdView {
    LvsdView {
        programmed: status.services.iter().all(|s| s.in_kernel),
        services: status
            .services
            .iter()
            .map(|s| {
                let count = |keep: &dyn Fn(&pulse_control::ServerStatus) -> bool| {
                    u32::try_from(s.servers.iter().filter(|r| keep(r)).count()).unwrap_or(u32::MAX)
                };
                // An unchecked server keeps an adopted route only if the table it inherited
                // sends it connections: a director whose cable was pulled had its lvsd quiesce
                // every server (weight 0) before it died, and a restart over that table must
                // not keep attracting flows it would reset.
                let serving =
                    |r: &pulse_control::ServerStatus| r.kernel_weight.is_some_and(|w| w > 0);
                (
                    s.name.clone(),
                    ServerCounts {
                        up: count(&|r| r.health == Health::Up),
                        unknown: count(&|r| r.health == Health::Unknown && serving(r)),
                    },
                )
            })
            .collect(),
        traffic: status
            .services
            .iter()
            .filter(|s| s.in_kernel)
            .map(|s| {
                let t = ServiceTraffic {
                    conns: s.traffic.conns,
                    in_packets: s.traffic.in_packets,
                };
                (s.name.clone(), t)
            })
            .collect(),
    }
}

/// The group core and its workers.
#[derive(Debug)]
pub(crate) struct GroupShell {
    pub(crate) core: Group,
    routes: std_mpsc::Sender<(IpAddr, bool)>,
    /// The drain is over: the driver has the director stop lvsd (taken by `Driver::flush`).
    pub(crate) stop_lvsd: bool,
}

impl GroupShell {
    /// Starts the route thread (which first reads the table and reports what it holds) and
    /// the lvsd poller.
    pub(crate) fn start(
        plan: GroupPlan,
        lvsd_socket: PathBuf,
        events: mpsc::UnboundedSender<Ev>,
    ) -> anyhow::Result<Self> {
        let table = plan.table;
        let vips: BTreeSet<IpAddr> = plan.vips.iter().map(|v| v.addr).collect();
        let rtnl = pulse_sys::Rtnl::connect()?;
        let lo = pulse_sys::interface("lo")?.index;
        let (tx, rx) = std_mpsc::channel::<(IpAddr, bool)>();
        let ev = events.clone();
        std::thread::Builder::new()
            .name("ecmp-routes".into())
            .spawn(move || {
                let present = match rtnl.host_routes(table) {
                    Ok(r) => r.into_iter().filter(|a| vips.contains(a)).collect(),
                    Err(e) => {
                        warn!(error = %e, "ecmp: cannot read the announcement table; assuming it empty");
                        BTreeSet::new()
                    }
                };
                if ev.send(Ev::GroupRoutes(present)).is_err() {
                    return;
                }
                for (vip, announce) in rx {
                    let result = if announce {
                        rtnl.replace_host_route(table, vip, lo)
                    } else {
                        rtnl.delete_host_route(table, vip).map(|_| ())
                    };
                    let ok = match result {
                        Ok(()) => {
                            info!(%vip, table, "ecmp: {}", if announce { "announced" } else { "withdrawn" });
                            true
                        }
                        Err(e) => {
                            warn!(%vip, error = %e, "ecmp: route change failed; retrying");
                            false
                        }
                    };
                    if ev.send(Ev::GroupRouteDone(vip, announce, ok)).is_err() {
                        return;
                    }
                }
            })?;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                let answer =
                    pulse_control::call_async(&lvsd_socket, &Request::Lvs, Duration::from_secs(2))
                        .await;
                if let Ok(Response::Lvs { lvs }) = answer
                    && events.send(Ev::LvsdView(view_of(&lvs))).is_err()
                {
                    return;
                }
            }
        });
        Ok(Self {
            core: Group::new(Instant::now(), plan),
            routes: tx,
            stop_lvsd: false,
        })
    }

    /// Shutdown (SIGTERM): lvsd is about to remove the services, so every VIP is withdrawn
    /// first, here and now (the route thread may be busy), or the router would keep sending
    /// flows into a director that no longer serves them.
    pub(crate) fn withdraw_all(&self) {
        let table = self.core.plan().table;
        let rtnl = match pulse_sys::Rtnl::connect() {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "ecmp: cannot withdraw the VIPs at shutdown");
                return;
            }
        };
        for v in &self.core.plan().vips {
            match rtnl.delete_host_route(table, v.addr) {
                Ok(true) => info!(vip = %v.addr, table, "ecmp: withdrawn (shutdown)"),
                Ok(false) => {}
                Err(e) => warn!(vip = %v.addr, error = %e, "ecmp: cannot withdraw at shutdown"),
            }
        }
    }

    /// This director's view for `pulsectl status`.
    pub(crate) fn status(&self) -> Vec<pulse_control::EcmpVipStatus> {
        use pulse_director::Why;
        self.core
            .status(Instant::now())
            .into_iter()
            .map(|(vip, announced, why)| pulse_control::EcmpVipStatus {
                vip: vip.to_string(),
                announced,
                reason: match why {
                    Why::Serving => "serving".into(),
                    Why::LvsdDown => "lvsd down".into(),
                    Why::LvsdStarting => "lvsd starting".into(),
                    Why::NotProgrammed => "ipvs not programmed".into(),
                    Why::TooFewServers { service, up, need } => {
                        format!("too few servers ({service}: {up} of {need})")
                    }
                    Why::Draining => "released, draining".into(),
                    Why::Released => "released, drained".into(),
                },
            })
            .collect()
    }

    /// Carries out the core's actions.
    pub(crate) fn flush(&mut self) {
        while let Some(a) = self.core.poll_action() {
            match a {
                GroupAction::Announce(v) => {
                    let _ = self.routes.send((v, true));
                }
                GroupAction::Withdraw(v) => {
                    let _ = self.routes.send((v, false));
                }
                // The router sends nothing more: lvsd stops (and removes its services) through
                // the director, which then counts its exit as asked for, not as a failure.
                GroupAction::StopServing => {
                    info!("ecmp: released and drained (pulsectl takeover rejoins the group)");
                    self.stop_lvsd = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_counts_servers_by_health_and_needs_every_service_in_the_kernel() {
        let json = r#"{"config_path":"x","serial_no":1,"loaded_unix":0,"mode":"kernel",
            "reloads":0,"reloads_refused":0,"last_reload_error":null,"services":[
            {"name":"web","key":"TCP 10.0.0.100:80","scheduler":"mh","check":"",
             "sorry_active":false,"in_kernel":true,"servers":[
              {"name":"a","address":"10.1.0.21:80","health":"up","since_unix":null,"weight":1,
               "kernel_weight":1,"active_conns":0,"inactive_conns":0,"last_check_ms_ago":null,
               "last_error":null},
              {"name":"b","address":"10.1.0.22:80","health":"unknown","since_unix":null,
               "weight":1,"kernel_weight":1,"active_conns":0,"inactive_conns":0,
               "last_check_ms_ago":null,"last_error":null}]}]}"#;
        let status: LvsStatus = serde_json::from_str(json).unwrap();
        let v = view_of(&status);
        assert!(v.programmed);
        assert_eq!(v.services["web"], ServerCounts { up: 1, unknown: 1 });
        assert_eq!(v.traffic["web"], ServiceTraffic::default());
        // The service's counters (not the servers'): connections and packets in.
        let mut busy = status.clone();
        busy.services[0].traffic = pulse_control::Traffic {
            conns: 3,
            in_packets: 40,
            out_packets: 7,
            in_bytes: 5000,
            out_bytes: 600,
        };
        assert_eq!(
            view_of(&busy).traffic["web"],
            ServiceTraffic {
                conns: 3,
                in_packets: 40
            }
        );
        // Unchecked servers at weight 0 in the inherited table (quiesced before a crash) do
        // not count as alive, nor do ones the kernel lacks.
        let mut quiesced = status.clone();
        quiesced.services[0].servers[1].kernel_weight = Some(0);
        assert_eq!(
            view_of(&quiesced).services["web"],
            ServerCounts { up: 1, unknown: 0 }
        );
        quiesced.services[0].servers[1].kernel_weight = None;
        assert_eq!(
            view_of(&quiesced).services["web"],
            ServerCounts { up: 1, unknown: 0 }
        );
        let mut out = status.clone();
        out.services[0].in_kernel = false;
        assert!(!view_of(&out).programmed);
        assert!(
            view_of(&out).traffic.is_empty(),
            "not in the kernel: no counters"
        );
    }
}
