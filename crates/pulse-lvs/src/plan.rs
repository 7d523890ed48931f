//! lvs.cf → what lvsd manages: each active virtual service as an IPVS service with its real
//! servers, resolved and validated once per (re)load.

use crate::health::Health;
use crate::table::{Desired, DesiredDest, DesiredService};
use pulse_ipvs::{
    Dest, DestKey, Family, Forward, Netmask, Protocol, Service, ServiceFlags, ServiceKey, Timeouts,
};
use pulse_lvscf::LvsConfig;
use pulse_lvscf::model::{Host, Network, VirtualService};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// An operator's runtime override of one real server (`pulsectl server drain|disable|enable
/// --runtime`, through lvsd's control socket). The persistent form is lvs.cf's `active`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Admin {
    /// As the checks decide.
    #[default]
    Enabled,
    /// Weight 0: no new connections, the open ones finish.
    Draining,
    /// Out of the table (the checks go on, so `enable` brings it back as soon as they pass).
    Disabled,
}

/// One real server of a planned service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedServer {
    /// The `server` block's name.
    pub name: String,
    /// Address, port, forwarding method and configured weight (negative weights become 0, as
    /// the lvs.cf checker warns).
    pub dest: Dest,
}

/// One active virtual service of lvs.cf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedService {
    /// The `virtual` block's name.
    pub name: String,
    /// Index of the block in `LvsConfig::virtuals` (for its check settings).
    pub index: usize,
    /// The IPVS service.
    pub service: Service,
    /// `quiesce_server`: a failed server keeps its entry with weight 0.
    pub quiesce: bool,
    /// `timeout` (check period and check timeout, seconds).
    pub timeout: u32,
    /// `reentry` (seconds of successful checks before a failed server returns).
    pub reentry: u32,
    /// The `sorry_server` destination (weight 1, the virtual port, the service's forwarding).
    pub sorry: Option<Dest>,
    /// Active real servers, in file order.
    pub servers: Vec<PlannedServer>,
    /// `ecmp = 1`: every server keeps its entry whatever its health or override (weight 0
    /// instead of absent), so the kernel's destination list — which `mh` builds its lookup
    /// table from, in insertion order (ip_vs_mh.c `ip_vs_mh_populate`) — is the same on every
    /// director of the group; a server not yet checked is added at its weight, so the first
    /// programming adds all of them in one batch in the canonical (address, port) order.
    pub keep_all: bool,
}

impl PlannedService {
    /// The desired state of this service given each server's health.
    pub fn desired(&self, health: &dyn Fn(&ServiceKey, &DestKey) -> Health) -> DesiredService {
        self.desired_with(health, &|_, _| Admin::Enabled)
    }

    /// [`Self::desired`] with the operator's runtime overrides: a draining server keeps its
    /// entry (if health would) with weight 0, so new connections go elsewhere while its own
    /// finish (IPVS's quiescing, as `quiesce_server` does for a failed one); a disabled one has
    /// no entry. Neither counts as alive for the sorry server.
    pub fn desired_with(
        &self,
        health: &dyn Fn(&ServiceKey, &DestKey) -> Health,
        admin: &dyn Fn(&ServiceKey, &DestKey) -> Admin,
    ) -> DesiredService {
        let key = self.service.key;
        let mut dests = BTreeMap::new();
        let mut any_alive = false;
        for s in &self.servers {
            let admin = admin(&key, &s.dest.key);
            let quiesced = Some(DesiredDest::Present(Dest {
                weight: 0,
                ..s.dest
            }));
            let want = match health(&key, &s.dest.key) {
                _ if self.keep_all && admin != Admin::Enabled => quiesced,
                Health::Down if self.keep_all => quiesced,
                Health::Unknown if self.keep_all => {
                    any_alive = true;
                    Some(DesiredDest::Present(s.dest))
                }
                _ if admin == Admin::Disabled => None,
                Health::Up if admin == Admin::Draining => Some(DesiredDest::Present(Dest {
                    weight: 0,
                    ..s.dest
                })),
                Health::Unknown if admin == Admin::Draining => {
                    Some(DesiredDest::KeepIfPresent(Dest {
                        weight: 0,
                        ..s.dest
                    }))
                }
                Health::Up => {
                    any_alive = true;
                    Some(DesiredDest::Present(s.dest))
                }
                Health::Unknown => {
                    any_alive = true;
                    Some(DesiredDest::KeepIfPresent(s.dest))
                }
                Health::Down if self.quiesce => Some(DesiredDest::Present(Dest {
                    weight: 0,
                    ..s.dest
                })),
                Health::Down => None,
            };
            if let Some(w) = want {
                dests.insert(s.dest.key, w);
            }
        }
        // docs/reference/piranha.md §5.5: the sorry server stands in while no real server is up. Unknown
        // counts as alive, so a restart does not flash the sorry server in.
        if let Some(sorry) = self.sorry
            && !any_alive
        {
            dests
                .entry(sorry.key)
                .or_insert(DesiredDest::Present(sorry));
        }
        DesiredService {
            service: self.service.clone(),
            dests,
        }
    }
}

/// A virtual service or real server lvsd cannot manage, and why. Loading goes on without it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanProblem {
    /// The `virtual` block.
    pub virtual_name: String,
    /// The `server` block, if the problem is a server's.
    pub server: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.server {
            Some(s) => write!(
                f,
                "virtual {} server {}: {}",
                self.virtual_name, s, self.message
            ),
            None => write!(f, "virtual {}: {}", self.virtual_name, self.message),
        }
    }
}

/// Everything lvsd manages, from one lvs.cf.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Active virtual services, in file order.
    pub services: Vec<PlannedService>,
    /// `tcp_timeout`, `tcpfin_timeout`, `udp_timeout` (0 = leave the kernel's value).
    pub timeouts: Timeouts,
    /// `hard_shutdown`: lvsd exits (and pulse fails over) when IPVS cannot be read back.
    pub hard_shutdown: bool,
    /// `ecmp = 1`: lvsd sets `net.ipv4.vs.sloppy_tcp`, so a director that receives a flow
    /// mid-stream (the router moved it here) creates its entry instead of answering RST
    /// (ip_vs_proto_tcp.c `tcp_conn_schedule`: without it only a SYN schedules).
    pub ecmp: bool,
}

impl Plan {
    /// Plans `cfg`. `resolve` turns a host name into an address (lvsd resolves names once per
    /// load, like piranha's `gethostbyname`); addresses pass through it untouched.
    pub fn new(
        cfg: &LvsConfig,
        resolve: &mut dyn FnMut(&str) -> Option<IpAddr>,
    ) -> (Self, Vec<PlanProblem>) {
        let mut problems = Vec::new();
        let mut services: Vec<PlannedService> = Vec::new();
        let mut seen = BTreeMap::new();
        let forward = match cfg.network {
            Network::Nat => Forward::Masq,
            Network::Direct => Forward::Route,
            Network::Tunnel => Forward::Tunnel,
        };
        for (index, vs) in cfg.virtuals.iter().enumerate() {
            if !vs.active {
                continue;
            }
            let problem = |server: Option<&str>, message: String| PlanProblem {
                virtual_name: vs.name.clone(),
                server: server.map(str::to_string),
                message,
            };
            let service = match service_of(vs, resolve) {
                Ok(s) if cfg.ecmp => ecmp_service(s),
                Ok(s) => s,
                Err(m) => {
                    problems.push(problem(None, m));
                    continue;
                }
            };
            if let Some(other) = seen.insert(service.key, vs.name.clone()) {
                problems.push(problem(
                    None,
                    format!("{} is already virtual {other}; ignored", service.key),
                ));
                continue;
            }
            let mut servers: Vec<PlannedServer> = Vec::new();
            for rs in vs.servers.iter().filter(|rs| rs.active) {
                let addr = match rs.address.as_ref().map(|h| host_ip(h, resolve)) {
                    Some(Ok(a)) => a,
                    Some(Err(m)) => {
                        problems.push(problem(Some(&rs.name), m));
                        continue;
                    }
                    None => {
                        problems.push(problem(Some(&rs.name), "no address".into()));
                        continue;
                    }
                };
                // A host name resolved to the other family (literals are refused by the
                // checker already): the same words as `pulse_lvscf::family`.
                if cfg.network != Network::Tunnel
                    && let ServiceKey::Addr { addr: vip, .. } = service.key
                    && vip.is_ipv4() != addr.is_ipv4()
                {
                    let m = pulse_lvscf::family::MixedFamily::Server {
                        virtual_name: vs.name.clone(),
                        server: rs.name.clone(),
                        vip,
                        addr,
                        network: cfg.network,
                    };
                    problems.push(problem(Some(&rs.name), m.to_string()));
                    continue;
                }
                let dest = Dest {
                    key: DestKey {
                        addr,
                        port: rs.port,
                    },
                    forward,
                    weight: rs.weight.max(0),
                    upper_threshold: 0,
                    lower_threshold: 0,
                };
                if let Some(dup) = servers.iter().find(|s| s.dest.key == dest.key) {
                    problems.push(problem(
                        Some(&rs.name),
                        format!("{} is already server {}; ignored", dest.key, dup.name),
                    ));
                    continue;
                }
                servers.push(PlannedServer {
                    name: rs.name.clone(),
                    dest,
                });
            }
            let sorry = vs.sorry_server.map(|ip| Dest {
                key: DestKey {
                    addr: IpAddr::V4(ip),
                    port: vs.port,
                },
                forward,
                weight: 1,
                upper_threshold: 0,
                lower_threshold: 0,
            });
            services.push(PlannedService {
                name: vs.name.clone(),
                index,
                service,
                quiesce: vs.quiesce_server || cfg.ecmp,
                timeout: vs.timeout,
                reentry: vs.reentry,
                sorry,
                servers,
                keep_all: cfg.ecmp,
            });
        }
        let timeouts = Timeouts {
            tcp: cfg.tcp_timeout,
            tcp_fin: cfg.tcpfin_timeout,
            udp: cfg.udp_timeout,
        };
        (
            Self {
                services,
                timeouts,
                hard_shutdown: cfg.hard_shutdown,
                ecmp: cfg.ecmp,
            },
            problems,
        )
    }

    /// The whole desired table.
    pub fn desired(&self, health: &dyn Fn(&ServiceKey, &DestKey) -> Health) -> Desired {
        self.desired_with(health, &|_, _| Admin::Enabled)
    }

    /// [`Self::desired`] with runtime overrides ([`PlannedService::desired_with`]).
    pub fn desired_with(
        &self,
        health: &dyn Fn(&ServiceKey, &DestKey) -> Health,
        admin: &dyn Fn(&ServiceKey, &DestKey) -> Admin,
    ) -> Desired {
        Desired {
            services: self
                .services
                .iter()
                .map(|s| (s.service.key, s.desired_with(health, admin)))
                .collect(),
        }
    }

    /// Number of real servers over all services.
    pub fn server_count(&self) -> usize {
        self.services.iter().map(|s| s.servers.len()).sum()
    }
}

/// `ecmp = 1`: Maglev hashing (`mh`) so every director sends a flow to the same real server;
/// `mh-port` (`IP_VS_SVC_F_SCHED2`) so the hash takes the ports too — without it one client
/// address lands on one server (ip_vs_mh.c `ip_vs_mh_hashkey`); `mh-fallback`
/// (`IP_VS_SVC_F_SCHED1`) so a quiesced (weight 0) server's slots fall through to the next
/// server deterministically instead of refusing the connection.
fn ecmp_service(s: Service) -> Service {
    Service {
        scheduler: "mh".into(),
        flags: ServiceFlags(s.flags.0 | ServiceFlags::SCHED1 | ServiceFlags::SCHED2),
        ..s
    }
}

fn host_ip(h: &Host, resolve: &mut dyn FnMut(&str) -> Option<IpAddr>) -> Result<IpAddr, String> {
    match h {
        Host::Ip(ip) if ip.is_unspecified() => Err("address is 0.0.0.0".into()),
        Host::Ip(ip) => Ok(*ip),
        Host::Name(n) => resolve(n).ok_or_else(|| format!("cannot resolve host name `{n}`")),
    }
}

fn service_of(
    vs: &VirtualService,
    resolve: &mut dyn FnMut(&str) -> Option<IpAddr>,
) -> Result<Service, String> {
    let vip = match vs.address.as_ref() {
        Some(a) => Some(host_ip(&a.addr, resolve)?),
        None => None,
    };
    let key = if vs.fwmark != 0 {
        ServiceKey::Fwmark {
            family: vip.as_ref().map_or(Family::V4, Family::of),
            mark: vs.fwmark,
        }
    } else {
        ServiceKey::Addr {
            protocol: match vs.protocol {
                pulse_lvscf::model::Protocol::Tcp => Protocol::Tcp,
                pulse_lvscf::model::Protocol::Udp => Protocol::Udp,
            },
            addr: vip.ok_or("no address")?,
            port: vs.port,
        }
    };
    let family = key.family();
    let persistent = vs.persistent > 0;
    // docs/reference/piranha.md §5.2: `-M` only with persistence and a non-zero pmask; `255.255.255.255` and
    // no mask are the same to the kernel.
    let netmask = match (persistent, vs.pmask, family) {
        (true, Some(m), Family::V4) => Netmask::V4(m),
        _ => Netmask::full(family),
    };
    Ok(Service {
        key,
        scheduler: vs.scheduler.clone(),
        flags: ServiceFlags(if persistent {
            ServiceFlags::PERSISTENT
        } else {
            0
        }),
        timeout: vs.persistent,
        netmask,
        pe_name: None,
    })
}
