//! `service = fos` benchmark (not a test): Pulse's failover services next to keepalived's
//! `vrrp_script` + `notify`, the deployment fos replaces, in the same namespace bed.
//!
//! `cargo bench -p pulse-daemon --bench fos` (root; keepalived from Debian's packages for the
//! comparison row, skipped with a note if missing). Each trial builds a fresh bed (two
//! directors, a client), runs the test service (`pulse_e2e::netns::HTTP_SERVICE_SH`: busybox
//! httpd) behind the VIP, sends a request to the VIP every 10 ms from the client, SIGKILLs the
//! service on the active director at a random phase, and measures the time from the kill until
//! the client is served again. Prints a markdown table.
//!
//! - Pulse: `service = fos`, `timeout = 1`, `fos_restarts = 1`: the check finds the dead
//!   service and restarts it in place.
//! - keepalived 2.2: the service runs on both directors; `vrrp_script` (`interval 1`, `fall 1`,
//!   `rise 1`) tracked by the instance, `advert_int 1`, a `notify` script; the failed check puts
//!   the MASTER in FAULT and the BACKUP takes the VIP.
//!
//! `PULSE_BENCH_TRIALS` (default 10) shortens it.

use pulse_e2e::netns::{Bed, HTTP_SERVICE_SH, Host, unavailable, wait_for};
use pulse_e2e::pair_bed::{Traffic, outages};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

const VIP: &str = "192.0.2.100";
const PORT: u16 = 8081;

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).expect("script");
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
}

fn holds(bed: &Bed, h: Host) -> bool {
    bed.has_addr(h, VIP)
}

/// SIGKILL the test service on `h` (not through its stop command).
fn kill_service(bed: &Bed, dir: &Path, h: Host) -> bool {
    let pidf = dir.join(format!("{}-{PORT}.pid", bed.ns(h)));
    let Ok(pid) = std::fs::read_to_string(pidf) else {
        return false;
    };
    std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .is_ok_and(|s| s.success())
}

/// From the kill to the first answer after the first failed request, ms (`None`: the client
/// saw no outage, or was not served again within the trial).
fn served_again_ms(traffic: Traffic, killed: SystemTime) -> Option<f64> {
    let records = traffic.stop();
    let after: Vec<_> = records.into_iter().filter(|r| r.sent >= killed).collect();
    let o = outages(&after).into_iter().next()?;
    let back = o.next_ok?;
    Some(back.duration_since(killed).ok()?.as_secs_f64() * 1e3)
}

/// A random phase against the check timers, from the trial's seed.
fn phase(seed: u64) -> Duration {
    Duration::from_millis(seed * 7919 % 1000)
}

fn client_traffic(bed: &Bed) -> Traffic {
    let to: SocketAddr = (VIP.parse::<std::net::Ipv4Addr>().expect("vip"), PORT).into();
    Traffic::start_to(&bed.ns(Host::Client), to, Duration::from_millis(10))
}

fn pulse_trial(seed: u64) -> Option<f64> {
    let mut bed = Bed::new(&[Host::D1, Host::D2, Host::Client]);
    bed.accept_gratuitous_arp(Host::Client);
    let dir = tempfile::tempdir().ok()?;
    let svc = dir.path().join("svc.sh");
    write_exec(&svc, HTTP_SERVICE_SH);
    let cf = dir.path().join("lvs.cf");
    let svc = svc.display();
    std::fs::write(
        &cf,
        format!(
            "service = fos\nprimary = 192.0.2.11\nbackup = 192.0.2.12\nbackup_active = 1\n\
             keepalive = 0.2\ndeadtime = 1\nfos_restarts = 1\n\
             failover web {{\n active = 1\n address = {VIP} eth0:1\n port = {PORT}\n timeout = 1\n\
             \x20send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n expect = \"HTTP\"\n\
             \x20start_cmd = \"{svc} start {PORT}\"\n stop_cmd = \"{svc} stop {PORT}\"\n}}\n"
        ),
    )
    .ok()?;
    for h in [Host::D1, Host::D2] {
        bed.spawn_pulse(env!("CARGO_BIN_EXE_pulse"), h, &cf, dir.path(), &[]);
    }
    let mut active = None;
    wait_for(Duration::from_secs(15), || {
        active = [Host::D1, Host::D2].into_iter().find(|h| {
            holds(&bed, *h)
                && dir
                    .path()
                    .join(format!("{}-{PORT}.pid", bed.ns(*h)))
                    .exists()
        });
        active.is_some()
    })?;
    std::thread::sleep(Duration::from_secs(1));
    let traffic = client_traffic(&bed);
    std::thread::sleep(Duration::from_millis(300) + phase(seed));
    let killed = SystemTime::now();
    if !kill_service(&bed, dir.path(), active?) {
        return None;
    }
    std::thread::sleep(Duration::from_secs(4));
    served_again_ms(traffic, killed)
}

fn keepalived_trial(seed: u64) -> Option<f64> {
    let mut bed = Bed::new(&[Host::D1, Host::D2, Host::Client]);
    bed.accept_gratuitous_arp(Host::Client);
    let dir = tempfile::tempdir().ok()?;
    let d = dir.path().display().to_string();
    write_exec(&dir.path().join("svc.sh"), HTTP_SERVICE_SH);
    // keepalived's usual pair: the service runs on both; the check follows it.
    write_exec(
        &dir.path().join("check.sh"),
        "#!/bin/bash\n(: </dev/tcp/127.0.0.1/$1) 2>/dev/null\n",
    );
    write_exec(
        &dir.path().join("notify.sh"),
        &format!("#!/bin/bash\necho \"$(date +%s.%N) $*\" >> {d}/notify.log\n"),
    );
    for (h, me, peer, state, prio) in [
        (Host::D1, "192.0.2.11", "192.0.2.12", "MASTER", 150),
        (Host::D2, "192.0.2.12", "192.0.2.11", "BACKUP", 100),
    ] {
        let out = bed.exec(h, &format!("{d}/svc.sh"), &["start", &PORT.to_string()]);
        if !out.status.success() {
            return None;
        }
        let conf = dir.path().join(format!("{me}.conf"));
        std::fs::write(
            &conf,
            format!(
                "global_defs {{\n    router_id {me}\n    vrrp_version 2\n    script_user root\n}}\n\
                 vrrp_script chk {{\n    script \"{d}/check.sh {PORT}\"\n    interval 1\n    fall 1\n    rise 1\n}}\n\
                 vrrp_instance VI_1 {{\n    state {state}\n    interface eth0\n    virtual_router_id 51\n\
                 \x20   priority {prio}\n    advert_int 1\n    unicast_src_ip {me}\n    unicast_peer {{\n        {peer}\n    }}\n\
                 \x20   virtual_ipaddress {{\n        {VIP}/24 dev eth0\n    }}\n\
                 \x20   track_script {{\n        chk\n    }}\n    notify \"{d}/notify.sh\"\n}}\n"
            ),
        )
        .ok()?;
        let cs = conf.display().to_string();
        let args = [
            "--dont-fork",
            "--log-console",
            "--no-syslog",
            "--vrrp",
            "-f",
            &cs,
            "-p",
            &format!("{d}/{me}.pid"),
            "-r",
            &format!("{d}/{me}-vrrp.pid"),
            "-c",
            &format!("{d}/{me}-chk.pid"),
        ];
        bed.spawn(
            h,
            "keepalived",
            &args,
            &dir.path().join(format!("{me}.log")),
        );
    }
    wait_for(Duration::from_secs(15), || {
        holds(&bed, Host::D1) && !holds(&bed, Host::D2)
    })?;
    std::thread::sleep(Duration::from_secs(1));
    let traffic = client_traffic(&bed);
    std::thread::sleep(Duration::from_millis(300) + phase(seed));
    let killed = SystemTime::now();
    if !kill_service(&bed, dir.path(), Host::D1) {
        return None;
    }
    std::thread::sleep(Duration::from_secs(6));
    served_again_ms(traffic, killed)
}

fn summary(ms: &[f64]) -> String {
    if ms.is_empty() {
        return "no successful trial | | |".into();
    }
    let mut v = ms.to_vec();
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    format!(
        "{} | {median:.0} | {:.0}–{:.0}",
        v.len(),
        v[0],
        v[v.len() - 1]
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Some(why) = unavailable() {
        println!("fos benchmark skipped: {why}");
        return;
    }
    let trials: u64 = std::env::var("PULSE_BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    println!("# Failover services: Pulse fos next to keepalived vrrp_script ({trials} trials)\n");
    println!("| setup | trials | median ms | range ms |");
    println!("|---|---|---|---|");
    let pulse: Vec<f64> = (0..trials).filter_map(pulse_trial).collect();
    println!(
        "| Pulse fos, `timeout = 1`: service killed → restarted in place, client served | {}",
        summary(&pulse)
    );
    let have_keepalived = std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok();
    if have_keepalived {
        let ka: Vec<f64> = (0..trials).filter_map(keepalived_trial).collect();
        println!(
            "| keepalived `vrrp_script` interval 1 fall 1, `advert_int 1`: service killed → VIP to the backup, client served | {}",
            summary(&ka)
        );
    } else {
        println!("| keepalived | not installed (`apt-get install keepalived`) | | |");
    }
}
