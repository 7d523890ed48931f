//! `explain` (kernel errno → sentence) and `validate` (the kernel's limits, checked up front).

mod common;

use common::*;
use pulse_ipvs::explain::{errno::*, strerror};
use pulse_ipvs::{
    Family, Forward, InvalidRequest, IpvsOp, Netmask, Request, SyncDaemon, SyncRole, Timeouts,
    explain, validate,
};

fn add(svc: pulse_ipvs::Service) -> Request {
    Request::Op(IpvsOp::AddService(svc))
}

#[test]
fn service_errors() {
    let s = service(tcp("10.0.0.1", 80), "wlc");
    assert_eq!(
        explain(&add(s.clone()), EEXIST),
        "service TCP 10.0.0.1:80 already exists"
    );
    let edit = Request::Op(IpvsOp::EditService(s.clone()));
    assert_eq!(explain(&edit, ESRCH), "no such service TCP 10.0.0.1:80");
    let del = Request::Op(IpvsOp::DeleteService(s.key));
    assert_eq!(explain(&del, ESRCH), "no such service TCP 10.0.0.1:80");
    // Negative errnos (as the kernel sends them) are accepted too.
    assert_eq!(explain(&del, -ESRCH), "no such service TCP 10.0.0.1:80");

    let foo = service(tcp("10.0.0.1", 80), "foo");
    let want = "scheduler \"foo\" not found (is module ip_vs_foo available?)";
    assert_eq!(explain(&add(foo.clone()), ENOENT), want);
    assert_eq!(
        explain(&Request::Op(IpvsOp::EditService(foo.clone())), ENOENT),
        want
    );
    let mut with_pe = foo;
    with_pe.pe_name = Some("sip".to_owned());
    assert_eq!(
        explain(&add(with_pe), ENOENT),
        "scheduler \"foo\" or persistence engine \"sip\" not found (are modules ip_vs_foo and \
         ip_vs_pe_sip available?)"
    );

    let mut v6 = service(udp("2001:db8::1", 53), "rr");
    v6.netmask = Netmask::V6Prefix(0);
    assert_eq!(
        explain(&add(v6), EINVAL),
        "invalid service UDP [2001:db8::1]:53: IPv6 persistence netmask /0 is outside 1..128 \
         (errno 22)"
    );
    assert_eq!(
        explain(&add(s.clone()), EPERM),
        "add service TCP 10.0.0.1:80 (wlc): permission denied (IPVS needs CAP_NET_ADMIN) \
         (errno 1)"
    );
    assert_eq!(
        explain(&add(s.clone()), ENOMEM),
        "add service TCP 10.0.0.1:80 (wlc): the kernel is out of memory (errno 12)"
    );
    assert!(
        explain(&add(service(tcp("::1", 80), "rr")), EAFNOSUPPORT).contains("CONFIG_IP_VS_IPV6")
    );
    assert_eq!(
        explain(&add(s), 1234),
        "add service TCP 10.0.0.1:80 (wlc): Unknown error (errno 1234)"
    );
}

#[test]
fn dest_errors() {
    let k = tcp("10.0.0.1", 80);
    let d = dest("10.0.0.2", 80, Forward::Route, 1);
    let add = Request::Op(IpvsOp::AddDest(k, d));
    assert_eq!(
        explain(&add, EEXIST),
        "real server 10.0.0.2:80 already exists in TCP 10.0.0.1:80"
    );
    assert_eq!(
        explain(&add, ESRCH),
        "no such service TCP 10.0.0.1:80 (for real server 10.0.0.2:80)"
    );
    let edit = Request::Op(IpvsOp::EditDest(k, d));
    assert_eq!(
        explain(&edit, ENOENT),
        "no such real server 10.0.0.2:80 in TCP 10.0.0.1:80"
    );
    let del = Request::Op(IpvsOp::DeleteDest(k, d.key));
    assert_eq!(
        explain(&del, ENOENT),
        "no such real server 10.0.0.2:80 in TCP 10.0.0.1:80"
    );

    let mut bad = d;
    bad.weight = -1;
    assert_eq!(
        explain(&Request::Op(IpvsOp::AddDest(k, bad)), ERANGE),
        "real server 10.0.0.2:80 in TCP 10.0.0.1:80: weight -1 is negative (errno 34)"
    );
    let mut bad = d;
    bad.lower_threshold = 10;
    bad.upper_threshold = 5;
    assert_eq!(
        explain(&Request::Op(IpvsOp::EditDest(k, bad)), ERANGE),
        "real server 10.0.0.2:80 in TCP 10.0.0.1:80: lower threshold 10 is above upper \
         threshold 5 (errno 34)"
    );
    assert_eq!(
        explain(&add, EINVAL),
        "invalid real server 10.0.0.2:80 in TCP 10.0.0.1:80: the kernel accepts only unicast \
         or local addresses (errno 22)"
    );
    let mixed = Request::Op(IpvsOp::AddDest(
        k,
        dest("2001:db8::2", 80, Forward::Route, 1),
    ));
    assert!(explain(&mixed, EINVAL).contains("only with tunnel forwarding"));
}

#[test]
fn daemon_and_config_errors() {
    let start = Request::StartDaemon(SyncDaemon {
        role: SyncRole::Master,
        interface: "eth9".to_owned(),
        sync_id: 0,
    });
    assert_eq!(
        explain(&start, EEXIST),
        "master sync daemon is already running"
    );
    assert_eq!(
        explain(&start, ENODEV),
        "sync daemon interface \"eth9\" not found"
    );
    assert_eq!(
        explain(&Request::StopDaemon(SyncRole::Backup), ESRCH),
        "no backup sync daemon is running"
    );
    let set = Request::SetTimeouts(Timeouts {
        tcp: u32::MAX,
        tcp_fin: 0,
        udp: 0,
    });
    assert!(explain(&set, EINVAL).starts_with("set IPVS timeouts (tcp 4294967295"));
    assert_eq!(
        explain(&Request::Flush, EINTR),
        "flush the IPVS table: Interrupted system call (errno 4)"
    );
    assert_eq!(
        explain(&Request::Zero(Some(fwm(Family::V4, 3))), ESRCH),
        "no such service FWM 3"
    );
}

#[test]
fn strerror_matches_glibc_for_the_usual_suspects() {
    assert_eq!(strerror(EEXIST), "File exists");
    assert_eq!(strerror(ESRCH), "No such process");
    assert_eq!(
        strerror(EAFNOSUPPORT),
        "Address family not supported by protocol"
    );
    assert_eq!(strerror(-1), "Unknown error");
}

#[test]
fn validate_catches_what_the_kernel_rejects() {
    let ok = service(tcp("10.0.0.1", 80), "wlc");
    assert_eq!(validate(&add(ok.clone())), Ok(()));

    let mut s = ok.clone();
    s.scheduler = "a-scheduler-name-too-long".to_owned();
    assert!(matches!(
        validate(&add(s)),
        Err(InvalidRequest::Scheduler(_))
    ));
    let mut s = ok.clone();
    s.scheduler = String::new();
    assert!(matches!(
        validate(&add(s)),
        Err(InvalidRequest::Scheduler(_))
    ));
    let mut s = ok.clone();
    s.netmask = Netmask::V6Prefix(64);
    assert_eq!(
        validate(&add(s)),
        Err(InvalidRequest::NetmaskFamily(ok.key))
    );
    let mut s = service(udp("2001:db8::1", 53), "rr");
    s.netmask = Netmask::V6Prefix(129);
    assert!(matches!(
        validate(&add(s)),
        Err(InvalidRequest::V6Prefix { prefix: 129, .. })
    ));
    assert_eq!(
        validate(&Request::Op(IpvsOp::DeleteService(fwm(Family::V4, 0)))),
        Err(InvalidRequest::ZeroFwmark)
    );

    let k = ok.key;
    let mut d = dest("10.0.0.2", 80, Forward::Route, -3);
    assert!(matches!(
        validate(&Request::Op(IpvsOp::AddDest(k, d))),
        Err(InvalidRequest::NegativeWeight { weight: -3, .. })
    ));
    d.weight = 1;
    d.lower_threshold = 2;
    assert!(matches!(
        validate(&Request::Op(IpvsOp::EditDest(k, d))),
        Err(InvalidRequest::Thresholds { .. })
    ));
    d.lower_threshold = 0;
    d.upper_threshold = 1 << 31;
    assert!(matches!(
        validate(&Request::Op(IpvsOp::AddDest(k, d))),
        Err(InvalidRequest::UpperThreshold { .. })
    ));
    let mixed = dest("2001:db8::2", 80, Forward::Route, 1);
    assert!(matches!(
        validate(&Request::Op(IpvsOp::AddDest(k, mixed))),
        Err(InvalidRequest::MixedFamily { .. })
    ));
    let tunnel = dest("2001:db8::2", 80, Forward::Tunnel, 1);
    assert_eq!(validate(&Request::Op(IpvsOp::AddDest(k, tunnel))), Ok(()));

    let daemon = |name: &str| {
        Request::StartDaemon(SyncDaemon {
            role: SyncRole::Master,
            interface: name.to_owned(),
            sync_id: 1,
        })
    };
    assert_eq!(validate(&daemon("eth0")), Ok(()));
    assert!(validate(&daemon("")).is_err());
    assert!(validate(&daemon("a-very-long-ifname")).is_err());
    assert_eq!(
        validate(&Request::SetTimeouts(Timeouts {
            tcp: 900,
            tcp_fin: 3_000_000,
            udp: 0
        })),
        Err(InvalidRequest::Timeout(3_000_000))
    );
}

#[test]
fn request_kinds() {
    assert!(Request::GetServices.is_dump());
    assert!(Request::GetDests(tcp("10.0.0.1", 80)).is_dump());
    assert!(Request::GetDaemons.is_dump());
    assert!(!Request::GetService(tcp("10.0.0.1", 80)).is_dump());
    assert!(!Request::GetInfo.is_dump());
    assert!(!Request::Flush.is_dump());
    assert_eq!(Request::GetInfo.reply_command(), Some(14));
    assert_eq!(Request::GetTimeouts.reply_command(), Some(12));
    assert_eq!(Request::Flush.reply_command(), None);
    assert_eq!(pulse_ipvs::FAMILY_NAME, "IPVS");
}
