//! What this node does, derived from lvs.cf and its own addresses (docs/reference/piranha.md §4.2).

use crate::fos::{FosPlan, FosService};
use anyhow::{Result, bail};
use pulse_lvscf::LvsConfig;
use pulse_lvscf::model::{Host, Network, ServiceMode};
use pulse_proto::Link;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// One address to hold while active: a VIP or the NAT router address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipClaim {
    /// The address (IPv4 or IPv6).
    pub addr: IpAddr,
    /// Prefix length: from `vip_nmask`/`nat_nmask`, else 32; an IPv6 address is always a
    /// /128 (the masks are IPv4 netmasks; see `docs/pulse.md`).
    pub prefix: u8,
    /// The device as written (`eth0:1`), used as the address label (IPv4 only).
    pub device: String,
    /// The base device (`eth0`).
    pub base: String,
}

/// This node's part in the pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// This node holds `primary`.
    pub primary: bool,
    /// Heartbeat links (empty: no partner).
    pub links: Vec<Link>,
    /// What to claim when active, in file order, each address once.
    pub vips: Vec<VipClaim>,
    /// `keepalive`.
    pub keepalive: Duration,
    /// `deadtime`.
    pub deadtime: Duration,
    /// Gratuitous ARPs per address on takeover, and the pause between them.
    pub garp: (u32, Duration),
    /// `service = fos`: the failover services (`None`: LVS mode).
    pub fos: Option<FosPlan>,
}

/// How a plan can fail: the daemon exits with this message (piranha's wording where it has one).
pub fn plan(
    cfg: &LvsConfig,
    local: &[IpAddr],
    resolve: impl Fn(&Host) -> Option<IpAddr>,
) -> Result<Plan> {
    // `pulsectl config check` reports literal addresses of mixed families; host names are
    // resolved only now, so the same list is asked again (`pulse_lvscf::family`).
    if let Some(m) = pulse_lvscf::family::mixed_families(cfg, &mut |h| resolve(h)).first() {
        bail!("{m}; {}", m.help());
    }
    let addr = |h: &Option<Host>, what: &str| -> Result<Option<IpAddr>> {
        match h {
            None => Ok(None),
            Some(h) => resolve(h)
                .map(Some)
                .ok_or_else(|| anyhow::anyhow!("cannot resolve {what} {h} to an address")),
        }
    };
    if cfg.ecmp && !cfg.ecmp_directors.is_empty() {
        // `ecmp = 1`: one lvs.cf for the whole group (pushed or copied alike to every
        // director, docs/ecmp.md), so this director is the `ecmp_director` it holds, not
        // `primary`; every director is active and none has a partner, so there are no links.
        let mut mine = None;
        for h in &cfg.ecmp_directors {
            let ip = resolve(h)
                .ok_or_else(|| anyhow::anyhow!("cannot resolve ecmp_director {h} to an address"))?;
            if local.contains(&ip) {
                mine.get_or_insert(ip);
            }
        }
        if mine.is_none() {
            let all: Vec<String> = cfg.ecmp_directors.iter().map(ToString::to_string).collect();
            bail!(
                "this host holds none of the ecmp_director addresses ({})",
                all.join(", ")
            );
        }
        return lvs_plan(cfg, &resolve, true, Vec::new());
    }
    let Some(primary_ip) = addr(&cfg.primary, "primary")? else {
        bail!("no `primary` address in the configuration");
    };
    let backup_ip = addr(&cfg.backup, "backup")?;
    let primary = local.contains(&primary_ip);
    if !primary && backup_ip.is_some_and(|b| !local.contains(&b)) {
        bail!("this host holds neither the primary ({primary_ip}) nor the backup address");
    }
    let port = cfg.heartbeat_port;
    let sock = |ip: IpAddr| SocketAddr::from((ip, port));
    let mut links = Vec::new();
    match (cfg.backup_active, backup_ip) {
        (true, Some(backup_ip)) => {
            let (me, peer) = if primary {
                (primary_ip, backup_ip)
            } else {
                (backup_ip, primary_ip)
            };
            links.push(Link {
                local: sock(me),
                peer: sock(peer),
            });
            let pp = addr(&cfg.primary_private, "primary_private")?.unwrap_or(primary_ip);
            let bp = addr(&cfg.backup_private, "backup_private")?.unwrap_or(backup_ip);
            if pp != primary_ip {
                let (me, peer) = if primary { (pp, bp) } else { (bp, pp) };
                links.push(Link {
                    local: sock(me),
                    peer: sock(peer),
                });
            }
            for (p_host, b_host) in &cfg.heartbeat_links {
                let p_ip = addr(&Some(p_host.clone()), "heartbeat_link")?.unwrap_or(primary_ip);
                let b_ip = addr(&Some(b_host.clone()), "heartbeat_link")?.unwrap_or(backup_ip);
                let (me, peer) = if primary { (p_ip, b_ip) } else { (b_ip, p_ip) };
                links.push(Link {
                    local: sock(me),
                    peer: sock(peer),
                });
            }
        }
        _ if !primary => bail!("We are backup node and backup is marked inactive -- exiting pulse"),
        _ => {}
    }
    lvs_plan(cfg, &resolve, primary, links)
}

/// The VIP claims of the active `virtual` blocks (or, with `service = fos`, of the failover
/// services) for a director whose part (`primary`, `links`) is decided.
fn lvs_plan(
    cfg: &LvsConfig,
    resolve: &impl Fn(&Host) -> Option<IpAddr>,
    primary: bool,
    links: Vec<Link>,
) -> Result<Plan> {
    let mut vips: Vec<VipClaim> = Vec::new();
    if cfg.service == ServiceMode::Fos {
        let fos = fos_plan(cfg, resolve, &mut vips)?;
        return Ok(Plan {
            primary,
            links,
            vips,
            keepalive: cfg.keepalive.duration(),
            deadtime: cfg.deadtime.duration(),
            garp: (cfg.garp_repeat, cfg.garp_interval.duration()),
            fos: Some(fos),
        });
    }
    for v in cfg.virtuals.iter().filter(|v| v.active) {
        let Some(a) = &v.address else { continue };
        let Some(ip) = resolve(&a.addr) else {
            bail!("cannot resolve the VIP {} of `virtual {}`", a.addr, v.name)
        };
        // docs/reference/piranha.md §4.6: the first active service with a VIP defines its device and mask.
        if vips.iter().any(|c| c.addr == ip) {
            continue;
        }
        vips.push(claim(ip, v.vip_nmask, &a.device));
    }
    if vips.is_empty() {
        bail!("no active lvs services defined");
    }
    if cfg.network == Network::Nat
        && let Some(nat) = &cfg.nat_router
    {
        let Some(ip) = resolve(&nat.addr) else {
            bail!("cannot resolve the nat_router address {}", nat.addr)
        };
        if !vips.iter().any(|c| c.addr == ip) {
            vips.push(claim(ip, cfg.nat_nmask, &nat.device));
        }
    }
    Ok(Plan {
        primary,
        links,
        vips,
        keepalive: cfg.keepalive.duration(),
        deadtime: cfg.deadtime.duration(),
        garp: (cfg.garp_repeat, cfg.garp_interval.duration()),
        fos: None,
    })
}

/// `service = fos`: each active `failover` block (docs/reference/piranha.md §7), its VIP
/// claimed once (the first block with a VIP defines its device and mask, as for `virtual`).
fn fos_plan(
    cfg: &LvsConfig,
    resolve: &impl Fn(&Host) -> Option<IpAddr>,
    vips: &mut Vec<VipClaim>,
) -> Result<FosPlan> {
    let mut services = Vec::new();
    for f in cfg.failovers.iter().filter(|f| f.active) {
        let Some(a) = &f.address else {
            bail!("`failover {}` has no address", f.name)
        };
        let Some(ip) = resolve(&a.addr) else {
            bail!("cannot resolve the VIP {} of `failover {}`", a.addr, f.name)
        };
        // fos.c: "start_cmd and stop_cmd are required" for every failover service.
        let cmd = |c: &Option<String>, what: &str| -> Result<String> {
            match c.as_deref().map(str::trim) {
                Some(l) if !l.is_empty() => Ok(l.to_string()),
                _ => bail!(
                    "`failover {}` has no {what}; fos needs both start_cmd and stop_cmd",
                    f.name
                ),
            }
        };
        services.push(FosService {
            name: f.name.clone(),
            vip: ip,
            port: f.port,
            timeout: Duration::from_secs(u64::from(f.timeout.max(1))),
            start_cmd: cmd(&f.start_cmd, "start_cmd")?,
            stop_cmd: cmd(&f.stop_cmd, "stop_cmd")?,
        });
        if !vips.iter().any(|c| c.addr == ip) {
            vips.push(claim(ip, f.vip_nmask, &a.device));
        }
    }
    if services.is_empty() {
        bail!("no active fos services defined");
    }
    let ping_target = match &cfg.fos_ping_target {
        None => None,
        Some(h) => match resolve(h) {
            // An ICMPv4 echo as piranha's gateway ping, or an ICMPv6 one (Pulse). A
            // link-local address would need a scope the keyword cannot give.
            Some(IpAddr::V6(ip)) if ip.is_unicast_link_local() => bail!(
                "fos_ping_target {ip}: a link-local address cannot be pinged (no interface); use a global one"
            ),
            Some(ip) => Some(ip),
            None => bail!("cannot resolve fos_ping_target {h}"),
        },
    };
    Ok(FosPlan {
        services,
        restarts: cfg.fos_restarts,
        command_timeout: cfg
            .fos_command_timeout
            .duration()
            .max(Duration::from_millis(100)),
        ping_target,
    })
}

fn claim(addr: IpAddr, mask: Option<Ipv4Addr>, device: &str) -> VipClaim {
    // No mask: a /32 host address, so the VIP adds no connected route next to the interface's
    // own subnet (piranha's `ifconfig` without netmask picked a classful one). IPv6: /128, for
    // the same reason (the masks of lvs.cf are IPv4 netmasks).
    let prefix = match addr {
        IpAddr::V4(_) => mask.map_or(32, |m| u32::from(m).leading_ones() as u8),
        IpAddr::V6(_) => 128,
    };
    VipClaim {
        addr,
        prefix,
        device: device.to_string(),
        base: device.split(':').next().unwrap_or(device).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> LvsConfig {
        let src = format!(
            "primary = 192.0.2.11\nbackup = 192.0.2.12\nbackup_active = 1\n{extra}\
             virtual web {{\n active = 1\n address = 192.0.2.100 eth0:1\n}}\n\
             virtual web2 {{\n active = 1\n address = 192.0.2.100 eth0:2\n port = 443\n}}\n"
        );
        let p = pulse_lvscf::parse(&src);
        assert!(p.is_valid(), "{}", p.diagnostics.render("t", &src));
        p.config
    }

    fn resolve(h: &Host) -> Option<IpAddr> {
        match h {
            Host::Ip(a) => Some(*a),
            Host::Name(_) => None,
        }
    }

    #[test]
    fn roles_links_and_vips() {
        let c = cfg("primary_private = 198.51.100.11\nbackup_private = 198.51.100.12\n");
        let p = plan(&c, &["192.0.2.11".parse::<IpAddr>().expect("ip")], resolve).expect("plan");
        assert!(p.primary);
        assert_eq!(p.links.len(), 2);
        assert_eq!(p.links[1].local, "198.51.100.11:539".parse().expect("addr"));
        assert_eq!(p.links[1].peer, "198.51.100.12:539".parse().expect("addr"));
        assert_eq!(p.vips.len(), 1, "one claim per distinct VIP");
        assert_eq!(
            (
                p.vips[0].prefix,
                p.vips[0].device.as_str(),
                p.vips[0].base.as_str()
            ),
            (32, "eth0:1", "eth0")
        );
        let b = plan(&c, &["192.0.2.12".parse::<IpAddr>().expect("ip")], resolve).expect("plan");
        assert!(!b.primary);
        assert_eq!(b.links[0].local, "192.0.2.12:539".parse().expect("addr"));
    }

    #[test]
    fn one_ecmp_file_serves_every_director_of_the_group() {
        // `primary` names one director only; the group's other members find themselves
        // among the `ecmp_director`s, with no partner and no links, each active.
        let c = cfg("ecmp = 1\necmp_director = 192.0.2.11\necmp_director = 192.0.2.13\n");
        for me in ["192.0.2.11", "192.0.2.13"] {
            let p = plan(&c, &[me.parse::<IpAddr>().expect("ip")], resolve).expect("plan");
            assert!(p.primary && p.links.is_empty(), "{me}: {p:?}");
            assert_eq!(p.vips.len(), 1, "{me}");
        }
        let e = plan(&c, &["192.0.2.12".parse::<IpAddr>().expect("ip")], resolve)
            .expect_err("the backup address is not a director of the group");
        assert_eq!(
            e.to_string(),
            "this host holds none of the ecmp_director addresses (192.0.2.11, 192.0.2.13)"
        );
    }

    #[test]
    fn extra_heartbeat_links_and_garp() {
        let c = cfg(
            "heartbeat_link = 203.0.113.11 203.0.113.12\ngarp_repeat = 3\ngarp_interval = 0.5\n",
        );
        let p = plan(&c, &["192.0.2.12".parse::<IpAddr>().expect("ip")], resolve).expect("plan");
        assert_eq!(p.links.len(), 2);
        assert_eq!(p.links[1].local, "203.0.113.12:539".parse().expect("addr"));
        assert_eq!(p.links[1].peer, "203.0.113.11:539".parse().expect("addr"));
        assert_eq!(p.garp, (3, Duration::from_millis(500)));
    }

    #[test]
    fn fos_services_and_their_vips() {
        let src = "service = fos\nprimary = 192.0.2.11\nbackup = 192.0.2.12\nbackup_active = 1\n\
                   fos_restarts = 4\nfos_ping_target = 192.0.2.1\n\
                   failover web {\n active = 1\n address = 192.0.2.100 eth0:1\n port = 80\n timeout = 2\n \
                   start_cmd = \"/bin/true start\"\n stop_cmd = \"/bin/true stop\"\n}\n\
                   failover off {\n active = 0\n address = 192.0.2.101 eth0:1\n}\n";
        let p = pulse_lvscf::parse(src);
        assert!(p.is_valid(), "{}", p.diagnostics.render("t", src));
        let plan = plan(&p.config, &["192.0.2.12".parse().expect("ip")], resolve).expect("plan");
        let fos = plan.fos.expect("fos");
        assert_eq!(fos.services.len(), 1);
        assert_eq!(fos.services[0].start_cmd, "/bin/true start");
        assert_eq!(fos.services[0].timeout, Duration::from_secs(2));
        assert_eq!(
            (fos.restarts, fos.ping_target),
            (4, Some("192.0.2.1".parse().expect("ip")))
        );
        assert_eq!(plan.vips.len(), 1);
        // An IPv6 target is pinged with ICMPv6; a link-local one has no interface to go out of.
        for (target, ok) in [("2001:db8::1", true), ("fe80::1", false)] {
            let six = src.replace("192.0.2.1\n", &format!("{target}\n"));
            let p = pulse_lvscf::parse(&six);
            assert!(p.is_valid(), "{}", p.diagnostics.render("t", &six));
            let r = super::plan(&p.config, &["192.0.2.12".parse().expect("ip")], resolve);
            match (r, ok) {
                (Ok(six), true) => assert_eq!(
                    six.fos.expect("fos").ping_target,
                    Some(target.parse().expect("ip"))
                ),
                (Err(e), false) => assert!(e.to_string().contains("link-local"), "{e}"),
                (r, _) => panic!("{target}: {:?}", r.map(|x| x.fos.map(|f| f.ping_target))),
            }
        }
        let no_stop = src.replace(" stop_cmd = \"/bin/true stop\"\n", "");
        let p = pulse_lvscf::parse(&no_stop);
        let e = plan_err(&p.config);
        assert!(e.contains("no stop_cmd"), "{e}");
    }

    fn plan_err(c: &LvsConfig) -> String {
        plan(c, &["192.0.2.12".parse().expect("ip")], resolve)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn refusals() {
        let c = cfg("");
        assert!(plan(&c, &["192.0.2.99".parse::<IpAddr>().expect("ip")], resolve).is_err());
        let lone = cfg("").clone();
        let mut no_backup = lone.clone();
        no_backup.backup_active = false;
        let e = plan(
            &no_backup,
            &["192.0.2.12".parse::<IpAddr>().expect("ip")],
            resolve,
        )
        .expect_err("backup exits");
        assert!(e.to_string().contains("backup is marked inactive"));
        let p = plan(
            &no_backup,
            &["192.0.2.11".parse::<IpAddr>().expect("ip")],
            resolve,
        )
        .expect("primary alone");
        assert!(p.links.is_empty());
    }

    #[test]
    fn ipv6_director_and_vip() {
        let src = "primary = 2001:db8::11\nbackup = 2001:db8::12\nbackup_active = 1\n\
                   heartbeat_link = 192.0.2.11 192.0.2.12\n\
                   virtual web6 {\n active = 1\n address = 2001:db8::100 eth0:1\n vip_nmask = 255.255.255.0\n\
                   server a {\n address = 2001:db8::21\n active = 1\n }\n}\n";
        let c = pulse_lvscf::parse(src).config;
        let p = plan(
            &c,
            &["2001:db8::12".parse::<IpAddr>().expect("ip")],
            resolve,
        )
        .expect("plan");
        assert!(!p.primary);
        assert_eq!(
            p.links[0].local,
            "[2001:db8::12]:539".parse().expect("addr")
        );
        assert_eq!(p.links[0].peer, "[2001:db8::11]:539".parse().expect("addr"));
        assert_eq!(p.links[1].local, "192.0.2.12:539".parse().expect("addr"));
        assert_eq!(
            p.vips[0].addr,
            "2001:db8::100".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(p.vips[0].prefix, 128, "an IPv4 netmask does not apply");
    }

    #[test]
    fn mixed_families_after_resolution() {
        // A host name that resolves to the other family is refused at start with the words of
        // `pulsectl config check`.
        let src = "primary = 192.0.2.11\nbackup = partner\nbackup_active = 1\n\
                   virtual web {\n active = 1\n address = 192.0.2.100 eth0\n}\n";
        let c = pulse_lvscf::parse(src).config;
        let resolve6 = |h: &Host| match h {
            Host::Ip(a) => Some(*a),
            Host::Name(_) => "2001:db8::12".parse().ok(),
        };
        let e = plan(&c, &["192.0.2.11".parse::<IpAddr>().expect("ip")], resolve6)
            .expect_err("mixed families");
        assert!(
            e.to_string()
                .contains("`primary` 192.0.2.11 is IPv4 but `backup` 2001:db8::12 is IPv6"),
            "{e}"
        );
        let src = "primary = 2001:db8::11\nbackup = 2001:db8::12\nbackup_active = 1\n\
                   virtual web6 {\n active = 1\n address = 2001:db8::100 eth0\n\
                   server a {\n address = realserver\n active = 1\n }\n}\n";
        let c = pulse_lvscf::parse(src).config;
        let resolve4 = |h: &Host| match h {
            Host::Ip(a) => Some(*a),
            Host::Name(_) => "192.0.2.21".parse().ok(),
        };
        let e = plan(
            &c,
            &["2001:db8::11".parse::<IpAddr>().expect("ip")],
            resolve4,
        )
        .expect_err("v4 server under a v6 VIP with DR");
        assert!(e.to_string().contains("cannot serve the IPv6 VIP"), "{e}");
    }
}
