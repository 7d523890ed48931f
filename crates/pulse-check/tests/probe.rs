//! Probes against real sockets and processes on 127.0.0.1 (ephemeral ports, bounded waits).

use pulse_check::{CheckFailure, CheckSpec, Expect, FailureKind, IoCause, run};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// The timeout of probes that are expected to time out.
const SHORT: Duration = Duration::from_millis(300);
/// The timeout of probes that must decide long before it.
const LONG: Duration = Duration::from_secs(5);
/// How long a server holds a connection open when the test needs it to stay silent.
const HOLD: Duration = Duration::from_secs(10);

async fn listen() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// Accept one connection and run `f` on it.
fn serve_once<F, Fut>(listener: TcpListener, f: F) -> JoinHandle<Fut::Output>
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        f(s).await
    })
}

/// A port nothing listens on (bound, then released).
async fn closed_tcp_port() -> SocketAddr {
    let (l, a) = listen().await;
    drop(l);
    a
}

fn prefix(s: &str) -> Option<Expect> {
    Some(Expect::Prefix(s.as_bytes().to_vec()))
}

fn regex(s: &str) -> Option<Expect> {
    Some(Expect::Regex(regex::bytes::Regex::new(s).unwrap()))
}

fn tcp(send: &str, expect: Option<Expect>) -> CheckSpec {
    CheckSpec::Tcp {
        send: send.as_bytes().to_vec(),
        expect,
    }
}

fn failure(r: Result<(), CheckFailure>) -> CheckFailure {
    match r {
        Ok(()) => panic!("the check passed; a failure was expected"),
        Err(f) => f,
    }
}

// ---------------------------------------------------------------------------------------------
// TCP

#[tokio::test]
async fn tcp_connect_ok() {
    let (_l, addr) = listen().await;
    // the kernel completes the handshake from the backlog; no accept needed
    run(&CheckSpec::TcpConnect, addr, LONG).await.unwrap();
}

#[tokio::test]
async fn tcp_connect_refused() {
    let addr = closed_tcp_port().await;
    let f = failure(run(&CheckSpec::TcpConnect, addr, LONG).await);
    assert_eq!(f.target, addr);
    assert!(
        matches!(f.kind, FailureKind::Connect(c) if c.errno() == Some(nix::libc::ECONNREFUSED)),
        "{f:?}"
    );
    assert_eq!(
        f.to_string(),
        format!("CONNECT to {addr} failed: Connection refused")
    );
}

#[tokio::test]
async fn tcp_probe_closes_with_a_reset() {
    let (l, addr) = listen().await;
    let server = serve_once(l, |mut s| async move {
        let mut b = [0u8; 16];
        s.read(&mut b).await
    });
    run(&CheckSpec::TcpConnect, addr, LONG).await.unwrap();
    let read = tokio::time::timeout(LONG, server).await.unwrap().unwrap();
    // SO_LINGER 0: the server sees a reset, not an orderly EOF (Ok(0))
    let err = read.expect_err("server saw an orderly close, not a reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

/// Sockets to or from `port` in TIME_WAIT, from /proc/net/tcp (this network namespace).
fn time_wait_count(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port_hex = format!("{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.len() > 3
                && f[3] == "06"
                && (f[1].ends_with(&format!(":{port_hex}"))
                    || f[2].ends_with(&format!(":{port_hex}")))
        })
        .count()
}

#[tokio::test]
async fn tcp_probes_leave_no_time_wait() {
    let (l, addr) = listen().await;
    // accept and close at once, racing the probe's own close
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            drop(s);
        }
    });
    for _ in 0..100 {
        run(&CheckSpec::TcpConnect, addr, LONG).await.unwrap();
    }
    for _ in 0..50 {
        run(&tcp("", prefix("x")), addr, LONG).await.unwrap_err();
    }
    assert_eq!(time_wait_count(addr.port()), 0);
}

#[tokio::test]
async fn tcp_default_web_check_end_to_end() {
    let (l, addr) = listen().await;
    let server = serve_once(l, |mut s| async move {
        let mut req = Vec::new();
        let mut b = [0u8; 64];
        while !req.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut b).await.unwrap();
            if n == 0 {
                break;
            }
            req.extend_from_slice(&b[..n]);
        }
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
        let _ = tokio::time::timeout(HOLD, s.read(&mut b)).await;
        req
    });
    let vs = {
        let src = "serial_no = 1\nprimary = 192.0.2.11\nservice = lvs\nvirtual web {\n active = 1\n \
                   address = 192.0.2.100 eth0:1\n port = 80\n server a {\n address = 127.0.0.1\n \
                   active = 1\n }\n}\n";
        pulse_lvscf::parse(src).config.virtuals.remove(0)
    };
    let spec = CheckSpec::from_virtual(&vs).unwrap();
    run(&spec, addr, LONG).await.unwrap();
    let req = server.await.unwrap();
    assert_eq!(req, b"GET / HTTP/1.0\r\n\r\n");
}

#[tokio::test]
async fn tcp_read_times_out_when_the_server_never_replies() {
    let (l, addr) = listen().await;
    let _server = serve_once(l, |s| async move {
        tokio::time::sleep(HOLD).await;
        drop(s);
    });
    let start = Instant::now();
    let f = failure(run(&tcp("GET /\r\n", prefix("HTTP")), addr, SHORT).await);
    let took = start.elapsed();
    assert_eq!(f.kind, FailureKind::ReadTimeout { received: 0 });
    assert_eq!(f.to_string(), format!("READ to {addr} timed out"));
    assert!(took >= SHORT && took < SHORT * 4, "took {took:?}");
}

#[tokio::test]
async fn tcp_whole_probe_is_bounded_by_one_timeout() {
    let (l, addr) = listen().await;
    // one byte, then silence: connect + write + partial read together stay within the timeout
    let _server = serve_once(l, |mut s| async move {
        s.write_all(b"H").await.unwrap();
        tokio::time::sleep(HOLD).await;
    });
    let start = Instant::now();
    let f = failure(run(&tcp("", prefix("HTTP")), addr, SHORT).await);
    let took = start.elapsed();
    assert_eq!(f.kind, FailureKind::ReadTimeout { received: 1 });
    assert_eq!(
        f.to_string(),
        format!("READ to {addr} timed out after 1 bytes")
    );
    assert!(took >= SHORT && took < SHORT * 4, "took {took:?}");
}

/// Bytes waiting in the receive queue of the peer of `s` (the probe's socket), from
/// /proc/net/tcp; `None` if it is not found (closed).
fn peer_unread(s: &TcpStream) -> Option<u64> {
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => unreachable!("the tests listen on 127.0.0.1"),
    };
    let (peer, me) = (hex(s.peer_addr().ok()?), hex(s.local_addr().ok()?));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 4 && f[1] == peer && f[2] == me)
            .then(|| u64::from_str_radix(f[4].split_once(':')?.1, 16).ok())
            .flatten()
    })
}

/// Write `first`, wait (bounded) until the probe has read it (its receive queue is empty: it
/// read, found too little and waits for more), then write `rest`. So the reply really arrives
/// in two reads, whatever the scheduling; not a sleep that a busy host could outlast.
async fn write_in_two_reads(s: &mut TcpStream, first: &[u8], rest: &[u8]) {
    s.write_all(first).await.unwrap();
    let start = Instant::now();
    while peer_unread(s) != Some(0) {
        assert!(
            start.elapsed() < LONG,
            "the probe never read the first part"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // (and then some time, in case it is about to decide on what it has)
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(rest).await.unwrap();
}

/// The fix of nanny's single `read()`: a reply split across two reads passes.
#[tokio::test]
async fn tcp_reply_split_across_two_writes_passes() {
    let (l, addr) = listen().await;
    let _server = serve_once(l, |mut s| async move {
        let mut b = [0u8; 64];
        let _ = s.read(&mut b).await;
        write_in_two_reads(&mut s, b"HT", b"TP/1.0 200 OK\r\n\r\n").await;
        tokio::time::sleep(HOLD).await;
    });
    run(
        &tcp("GET / HTTP/1.0\r\n\r\n", prefix("HTTP/1.0 200")),
        addr,
        LONG,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn tcp_prefix_of_a_longer_reply_passes() {
    let (l, addr) = listen().await;
    let _server = serve_once(l, |mut s| async move {
        let _ = s.write_all(b"HTTP/1.0 200").await;
        tokio::time::sleep(HOLD).await;
    });
    run(&tcp("", prefix("HTTP")), addr, LONG).await.unwrap();
}

#[tokio::test]
async fn tcp_mismatch_fails_fast() {
    let (l, addr) = listen().await;
    // the wrong reply, and the connection stays open: the probe must not wait for more
    let _server = serve_once(l, |mut s| async move {
        let _ = s.write_all(b"HTTX/1.0").await;
        tokio::time::sleep(HOLD).await;
    });
    let start = Instant::now();
    let f = failure(run(&tcp("", prefix("HTTP")), addr, LONG).await);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(f.kind, FailureKind::Mismatch);
    assert_eq!(
        f.to_string(),
        format!("Trouble. Received results are not what we expected from ({addr})")
    );
}

#[tokio::test]
async fn tcp_mismatch_in_the_first_segment_fails_before_the_rest() {
    let (l, addr) = listen().await;
    let _server = serve_once(l, |mut s| async move {
        let _ = s.write_all(b"X").await;
        tokio::time::sleep(HOLD).await;
    });
    let start = Instant::now();
    let f = failure(run(&tcp("", prefix("HTTP")), addr, LONG).await);
    assert_eq!(f.kind, FailureKind::Mismatch);
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn tcp_eof_before_the_expect_is_too_short() {
    let (l, addr) = listen().await;
    let _server = serve_once(l, |mut s| async move {
        let _ = s.write_all(b"HT").await;
        // orderly close
    });
    let f = failure(run(&tcp("", prefix("HTTP")), addr, LONG).await);
    assert_eq!(
        f.kind,
        FailureKind::TooShort {
            received: 2,
            expected: 4
        }
    );
    assert_eq!(
        f.to_string(),
        format!("READ from {addr} was too short[2>=4]")
    );
}

#[tokio::test]
async fn tcp_star_passes_on_any_byte() {
    let (l, addr) = listen().await;
    let _server = serve_once(l, |mut s| async move {
        let _ = s.write_all(b"\x00").await;
        tokio::time::sleep(HOLD).await;
    });
    run(&tcp("", Some(Expect::AnyByte)), addr, LONG)
        .await
        .unwrap();
}

#[tokio::test]
async fn tcp_star_fails_on_close_without_data() {
    let (l, addr) = listen().await;
    let _server = serve_once(l, |s| async move { drop(s) });
    let f = failure(run(&tcp("", Some(Expect::AnyByte)), addr, LONG).await);
    assert_eq!(
        f.kind,
        FailureKind::TooShort {
            received: 0,
            expected: 1
        }
    );
}

#[tokio::test]
async fn tcp_regex_reads_until_it_matches() {
    let (l, addr) = listen().await;
    let _server = serve_once(l, |mut s| async move {
        write_in_two_reads(&mut s, b"HTTP/1.1 ", b"200 OK\r\n").await;
        tokio::time::sleep(HOLD).await;
    });
    run(&tcp("", regex(r"^HTTP/1\.[01] 200")), addr, LONG)
        .await
        .unwrap();
}

#[tokio::test]
async fn tcp_regex_matches_in_a_single_segment() {
    let (l, addr) = listen().await;
    let _server = serve_once(l, |mut s| async move {
        let _ = s.write_all(b"220 mail ESMTP ready\r\n").await;
        tokio::time::sleep(HOLD).await;
    });
    run(&tcp("", regex("ESMTP")), addr, LONG).await.unwrap();
}

#[tokio::test]
async fn tcp_regex_mismatch_at_eof() {
    let (l, addr) = listen().await;
    let _server = serve_once(l, |mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 503 Busy\r\n").await;
    });
    let f = failure(run(&tcp("", regex(r"^HTTP/1\.[01] 200")), addr, LONG).await);
    assert_eq!(f.kind, FailureKind::Mismatch);
}

#[tokio::test]
async fn tcp_regex_no_match_before_the_deadline() {
    let (l, addr) = listen().await;
    let _server = serve_once(l, |mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 503 Busy\r\n").await;
        tokio::time::sleep(HOLD).await;
    });
    let f = failure(run(&tcp("", regex(" 200 ")), addr, SHORT).await);
    assert_eq!(f.kind, FailureKind::ReadTimeout { received: 19 });
}

#[tokio::test]
async fn tcp_regex_gives_up_at_the_cap() {
    let (l, addr) = listen().await;
    let _server = serve_once(l, |mut s| async move {
        let junk = vec![b'x'; pulse_check::probe::REGEX_READ_CAP + 4096];
        let _ = s.write_all(&junk).await;
        tokio::time::sleep(HOLD).await;
    });
    let f = failure(run(&tcp("", regex("OK")), addr, LONG).await);
    assert_eq!(f.kind, FailureKind::Mismatch);
}

#[tokio::test]
async fn tcp_send_only() {
    let (l, addr) = listen().await;
    let server = serve_once(l, |mut s| async move {
        // what arrived before the probe's close (a reset: data already queued is still read)
        let mut got = Vec::new();
        let mut b = [0u8; 16];
        while let Ok(n) = s.read(&mut b).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&b[..n]);
        }
        got
    });
    run(&tcp("QUIT\r\n", None), addr, LONG).await.unwrap();
    let got = tokio::time::timeout(LONG, server).await.unwrap().unwrap();
    assert_eq!(got, b"QUIT\r\n");
}

// ---------------------------------------------------------------------------------------------
// UDP

/// A UDP server answering each datagram with `reply(datagram)` (no answer when `None`).
async fn udp_server(reply: fn(&[u8]) -> Option<Vec<u8>>) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut b = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut b).await {
            if let Some(r) = reply(&b[..n]) {
                let _ = s.send_to(&r, from).await;
            }
        }
    });
    addr
}

#[tokio::test]
async fn udp_echo_ok() {
    let addr = udp_server(|d| Some(d.to_vec())).await;
    let spec = CheckSpec::Udp {
        send: b"ping".to_vec(),
        expect: prefix("ping"),
    };
    run(&spec, addr, LONG).await.unwrap();
}

#[tokio::test]
async fn udp_empty_datagram_and_any_reply() {
    // answers only an empty datagram
    let addr = udp_server(|d| d.is_empty().then(|| b"anything".to_vec())).await;
    let spec = CheckSpec::Udp {
        send: vec![],
        expect: None,
    };
    run(&spec, addr, LONG).await.unwrap();
}

#[tokio::test]
async fn udp_closed_port_fails() {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    drop(s);
    let spec = CheckSpec::Udp {
        send: b"ping".to_vec(),
        expect: None,
    };
    let start = Instant::now();
    let f = failure(run(&spec, addr, LONG).await);
    // the ICMP port unreachable arrives at once on loopback: no waiting for the timeout
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(
        matches!(f.kind, FailureKind::Read(c) if c.errno() == Some(nix::libc::ECONNREFUSED)),
        "{f:?}"
    );
    assert_eq!(
        f.to_string(),
        format!("READ from {addr} returned error: Connection refused")
    );
}

#[tokio::test]
async fn udp_no_reply_times_out() {
    let addr = udp_server(|_| None).await;
    let spec = CheckSpec::Udp {
        send: b"ping".to_vec(),
        expect: None,
    };
    let f = failure(run(&spec, addr, SHORT).await);
    assert_eq!(f.kind, FailureKind::ReadTimeout { received: 0 });
    assert_eq!(f.to_string(), format!("READ to {addr} timed out"));
}

#[tokio::test]
async fn udp_reply_compared_like_tcp() {
    let addr = udp_server(|_| Some(b"PONG 1".to_vec())).await;
    let check = |expect| CheckSpec::Udp {
        send: b"PING".to_vec(),
        expect,
    };
    run(&check(prefix("PONG")), addr, LONG).await.unwrap();
    run(&check(regex(r"^PONG \d$")), addr, LONG).await.unwrap();
    run(&check(Some(Expect::AnyByte)), addr, LONG)
        .await
        .unwrap();
    let f = failure(run(&check(prefix("PING")), addr, LONG).await);
    assert_eq!(f.kind, FailureKind::Mismatch);
    let f = failure(run(&check(prefix("PONG 1 and more")), addr, LONG).await);
    assert_eq!(
        f.kind,
        FailureKind::TooShort {
            received: 6,
            expected: 15
        }
    );
}

// ---------------------------------------------------------------------------------------------
// External programs

/// A program check built from lvs.cf text, as lvsd would.
fn program(command: &str, expect: Option<&str>) -> CheckSpec {
    let mut body = format!(" send_program = \"{command}\"\n");
    if let Some(e) = expect {
        body.push_str(&format!(" expect = \"{e}\"\n"));
    }
    let src = format!(
        "serial_no = 1\nprimary = 192.0.2.11\nservice = lvs\nvirtual v {{\n active = 1\n \
         address = 192.0.2.100 eth0:1\n port = 9\n{body} server a {{\n address = 127.0.0.1\n \
         active = 1\n }}\n}}\n"
    );
    let parsed = pulse_lvscf::parse(&src);
    assert!(
        parsed.is_valid(),
        "{}",
        parsed.diagnostics.render("t.cf", &src)
    );
    let spec = CheckSpec::from_virtual(&parsed.config.virtuals[0]).unwrap();
    assert!(matches!(spec, CheckSpec::Program { .. }), "{spec:?}");
    spec
}

fn target(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test]
async fn program_echo_host_ok() {
    run(
        &program("/bin/echo %h", Some("127.0.0.1")),
        target(8080),
        LONG,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn program_port_substitution_whole_tokens_only() {
    run(&program("echo %p", Some("8080")), target(8080), LONG)
        .await
        .unwrap();
    run(
        &program("echo x%p %h:%p %h", Some("x%p %h:%p 127.0.0.1")),
        target(8080),
        LONG,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn program_output_loses_its_last_byte() {
    // nanny chops the assumed newline: `printf OK` yields "O"
    let f = failure(run(&program("printf OK", Some("OK")), target(80), LONG).await);
    assert_eq!(f.kind, FailureKind::Mismatch);
    assert_eq!(
        f.to_string(),
        "Trouble. Received results are not what we expected from (127.0.0.1:80)"
    );
    run(&program("printf OK", Some("O")), target(80), LONG)
        .await
        .unwrap();
    run(&program("/bin/echo OK", Some("OK")), target(80), LONG)
        .await
        .unwrap();
}

/// Differs from piranha: nanny counted this as a success.
#[tokio::test]
async fn program_failing_with_expect_fails() {
    let f = failure(run(&program("/bin/false", Some("OK")), target(80), LONG).await);
    assert_eq!(
        f.kind,
        FailureKind::ProgramExit(pulse_check::ExitKind::Code(1))
    );
    assert_eq!(
        f.to_string(),
        "the external check for 127.0.0.1:80 exited abnormally: exit status 1"
    );
}

/// Differs from piranha: nanny failed every check without an expect.
#[tokio::test]
async fn program_without_expect_is_judged_by_exit_status() {
    run(&program("/bin/true", None), target(80), LONG)
        .await
        .unwrap();
    run(&program("/bin/echo whatever", None), target(80), LONG)
        .await
        .unwrap();
    let f = failure(run(&program("/bin/false", None), target(80), LONG).await);
    assert!(matches!(f.kind, FailureKind::ProgramExit(_)), "{f:?}");
}

#[tokio::test]
async fn program_not_found() {
    let f = failure(
        run(
            &program("/nonexistent/check %h", Some("OK")),
            target(80),
            LONG,
        )
        .await,
    );
    assert!(
        matches!(f.kind, FailureKind::ProgramSpawn(c) if c.kind() == std::io::ErrorKind::NotFound),
        "{f:?}"
    );
    assert_eq!(
        f.to_string(),
        "cannot run the external check for 127.0.0.1:80: No such file or directory"
    );
}

fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test]
async fn program_killed_by_a_signal_fails() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "die.sh", "echo OK\nkill -KILL $$\n");
    let f = failure(
        run(
            &program(&format!("/bin/sh {}", s.display()), Some("OK")),
            target(80),
            LONG,
        )
        .await,
    );
    assert_eq!(
        f.kind,
        FailureKind::ProgramExit(pulse_check::ExitKind::Signal(9))
    );
    assert!(
        f.to_string().ends_with("killed by signal 9 (SIGKILL)"),
        "{f}"
    );
}

/// Is the process gone (or a zombie nobody has reaped yet)? Waits up to 2 s.
async fn gone(pid: i32) -> bool {
    for _ in 0..200 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) => {
                // state is the field after the parenthesised command
                let state = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .chars()
                    .next();
                if state == Some('Z') {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn read_pid(path: &Path) -> i32 {
    for _ in 0..200 {
        if let Ok(s) = std::fs::read_to_string(path)
            && let Ok(pid) = s.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} never written", path.display());
}

/// A shell that forks a long `sleep` (which inherits stdout) and waits for it; writes both pids.
const FORKER: &str = "echo $$ > \"$1.sh\"\nsleep 30 &\necho $! > \"$1.sleep\"\nwait\necho OK\n";

#[tokio::test]
async fn program_timeout_kills_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "forker.sh", FORKER);
    let pids = dir.path().join("pid");
    let spec = program(
        &format!("/bin/sh {} {}", s.display(), pids.display()),
        Some("OK"),
    );
    let start = Instant::now();
    let f = failure(run(&spec, target(80), Duration::from_millis(800)).await);
    let took = start.elapsed();
    assert_eq!(f.kind, FailureKind::ProgramTimeout);
    assert_eq!(
        f.to_string(),
        "timeout running the external check for 127.0.0.1:80"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let sh = read_pid(&pids.with_extension("sh")).await;
    let sleep = read_pid(&pids.with_extension("sleep")).await;
    assert!(gone(sh).await, "the program {sh} survived");
    assert!(gone(sleep).await, "its child `sleep` {sleep} survived");
}

#[tokio::test]
async fn dropping_a_program_probe_kills_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "forker.sh", FORKER);
    let pids = dir.path().join("pid");
    let spec = program(
        &format!("/bin/sh {} {}", s.display(), pids.display()),
        Some("OK"),
    );
    let task = tokio::spawn(async move { run(&spec, target(80), HOLD).await });
    let sh = read_pid(&pids.with_extension("sh")).await;
    let sleep = read_pid(&pids.with_extension("sleep")).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(gone(sh).await, "the program {sh} survived");
    assert!(gone(sleep).await, "its child `sleep` {sleep} survived");
}

#[tokio::test]
async fn program_large_output_is_capped_not_stuck() {
    // far more than a pipe buffer: the probe must neither block nor hang
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        "big.sh",
        "i=0\nwhile [ $i -lt 3000 ]; do echo 0123456789012345678901234567890123456789; i=$((i+1)); done\n",
    );
    let f = failure(
        run(
            &program(&format!("/bin/sh {}", s.display()), Some("OK")),
            target(80),
            LONG,
        )
        .await,
    );
    // closing our end of the pipe at the cap kills the writer with SIGPIPE, or it fails EPIPE
    assert!(
        matches!(f.kind, FailureKind::ProgramExit(_) | FailureKind::Mismatch),
        "{f:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Shape

#[test]
fn probe_future_is_send() {
    fn assert_send<T: Send>(_: T) {}
    let spec = CheckSpec::TcpConnect;
    assert_send(run(&spec, target(1), SHORT));
    let _ = IoCause::from(&std::io::Error::from_raw_os_error(nix::libc::ECONNREFUSED));
}

#[test]
fn io_cause_text_has_no_os_error_suffix() {
    let c = IoCause::from(&std::io::Error::from_raw_os_error(nix::libc::ECONNREFUSED));
    assert_eq!(c.to_string(), "Connection refused");
    let c = IoCause::from(&std::io::Error::from(std::io::ErrorKind::WriteZero));
    assert_eq!(c.to_string(), "write zero");
}

// ---------------------------------------------------------------------------------------------
// Cost (run with `cargo test -p pulse-check --release --test probe -- --ignored --nocapture`)

fn thread_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_THREAD).unwrap();
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(u.user_time()) + tv(u.system_time())
}

/// A listener on its own thread (so that RUSAGE_THREAD on the probing thread excludes it) that
/// accepts, writes `reply` if any, and closes.
fn bench_listener(reply: Option<&'static [u8]>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let l = sock.listen(4096).unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            while let Ok((s, _)) = l.accept().await {
                if let Some(r) = reply {
                    let _ = s.try_write(r);
                }
                drop(s);
            }
        });
    });
    rx.recv().unwrap()
}

fn bench(label: &str, spec: CheckSpec, addr: SocketAddr) {
    const N: u32 = 10_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let spec = std::sync::Arc::new(spec);

    let (wall, cpu) = rt.block_on(async {
        let (t0, c0) = (Instant::now(), thread_cpu());
        for _ in 0..N {
            run(&spec, addr, LONG).await.unwrap();
        }
        (t0.elapsed(), thread_cpu() - c0)
    });
    println!(
        "{label}, sequential: {N} probes, {:.1} µs/probe wall, {:.1} µs/probe CPU (probing thread)",
        wall.as_secs_f64() * 1e6 / f64::from(N),
        cpu.as_secs_f64() * 1e6 / f64::from(N),
    );

    let (wall, cpu, failed) = rt.block_on(async {
        let (t0, c0) = (Instant::now(), thread_cpu());
        let mut set: tokio::task::JoinSet<Result<(), CheckFailure>> = tokio::task::JoinSet::new();
        let mut failed = 0u32;
        for i in 0..N {
            if i >= 256
                && let Some(r) = set.join_next().await
            {
                failed += u32::from(r.unwrap().is_err());
            }
            let spec = spec.clone();
            set.spawn(async move { run(&spec, addr, LONG).await });
        }
        while let Some(r) = set.join_next().await {
            failed += u32::from(r.unwrap().is_err());
        }
        (t0.elapsed(), thread_cpu() - c0, failed)
    });
    println!(
        "{label}, 256 in flight: {N} probes, {:.1} µs/probe wall, {:.1} µs/probe CPU (probing \
         thread), {failed} failed",
        wall.as_secs_f64() * 1e6 / f64::from(N),
        cpu.as_secs_f64() * 1e6 / f64::from(N),
    );
    println!(
        "{label}: TIME_WAIT sockets on the listener's port afterwards: {}",
        time_wait_count(addr.port())
    );
    let per_probe = cpu.as_secs_f64() / f64::from(N);
    println!(
        "{label}: => 40,000 probes every 10 s ≈ {:.1} % of one core (loopback)",
        per_probe * 4000.0 * 100.0
    );
}

#[test]
#[ignore = "timing; prints only"]
fn cost_of_tcp_probes() {
    bench("connect-only", CheckSpec::TcpConnect, bench_listener(None));
    bench(
        "send/expect (default web check)",
        tcp("GET / HTTP/1.0\r\n\r\n", prefix("HTTP")),
        bench_listener(Some(b"HTTP/1.0 200 OK\r\n\r\n")),
    );
}
