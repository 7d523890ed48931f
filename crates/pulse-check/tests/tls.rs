//! HTTPS and TLS checks against a real local TLS server (tokio-rustls, certificates from rcgen):
//! expired, valid, wrong name, unknown issuer, 500, body mismatch, digest, redirects, a
//! handshake that never finishes, an oversized response, garbage, a plain-HTTP server.
//! Each check goes from lvs.cf text through `CheckSpec::from_virtual` and `prepare`.

use pulse_check::{CheckFailure, CheckSpec, FailureKind, Resume, probe::run_resuming, run};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const NAME: &str = "www.example.test";

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    dir: tempfile::TempDir,
}

impl Ca {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own: a stranger CA with the same name would be "bad signature".
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        p.distinguished_name
            .push(DnType::CommonName, format!("Pulse test CA {n}"));
        let cert = p.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).unwrap();
        Self { cert, key, dir }
    }

    fn ca_file(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }

    /// A server certificate for `names`, valid from `from` to `until` (years).
    fn leaf(
        &self,
        names: &[&str],
        from: i32,
        until: i32,
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.not_before = rcgen::date_time_ymd(from, 1, 1);
        p.not_after = rcgen::date_time_ymd(until, 1, 1);
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        (
            cert.der().clone(),
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
    }

    fn valid(&self) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        self.leaf(&[NAME], 2020, 2090)
    }
}

#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Handshakes a test server completed, and how many of them resumed a session.
#[derive(Debug, Default)]
struct Counts {
    full: AtomicUsize,
    resumed: AtomicUsize,
}

/// A TLS server answering every request with `response`; counts the handshakes it completed.
async fn tls_server(
    (cert, key): (CertificateDer<'static>, PrivateKeyDer<'static>),
    response: Vec<u8>,
) -> (SocketAddr, Arc<Counts>) {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handshakes = Arc::new(Counts::default());
    let count = handshakes.clone();
    let response = Arc::new(response);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, response, count) = (acceptor.clone(), response.clone(), count.clone());
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                count.full.fetch_add(1, Ordering::Relaxed);
                if s.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    count.resumed.fetch_add(1, Ordering::Relaxed);
                }
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(&response).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, handshakes)
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The check of a virtual service with these keyword lines, prepared (files read).
fn spec(body: &str) -> CheckSpec {
    let src = format!(
        "serial_no = 1\nprimary = 192.0.2.11\nservice = lvs\n\
         virtual web {{\n active = 1\n address = 192.0.2.100 eth0:1\n port = 443\n{body}\n \
         server web01 {{\n address = 192.0.2.21\n active = 1\n }}\n}}\n"
    );
    let parsed = pulse_lvscf::parse(&src);
    assert!(
        parsed.is_valid(),
        "{}",
        parsed.diagnostics.render("test.cf", &src)
    );
    let mut spec = CheckSpec::from_virtual(&parsed.config.virtuals[0]).expect("spec");
    pulse_check::prepare(&mut spec, "web").expect("prepare");
    spec
}

fn https(ca: &Ca, extra: &str) -> CheckSpec {
    spec(&format!(
        " check_tls = 1\n check_tls_sni = {NAME}\n check_tls_ca = \"{}\"\n check_http = 1\n{extra}",
        ca.ca_file()
    ))
}

const T: Duration = Duration::from_secs(3);

fn failure(r: Result<(), CheckFailure>) -> CheckFailure {
    r.expect_err("the check should fail")
}

#[tokio::test]
async fn healthy_server_passes() {
    let ca = Ca::new();
    let (addr, _) = tls_server(ca.valid(), ok("hello")).await;
    run(&https(&ca, ""), addr, T).await.unwrap();
}

#[tokio::test]
async fn expired_certificate_fails_by_name() {
    let ca = Ca::new();
    let (addr, _) = tls_server(ca.leaf(&[NAME], 2020, 2021), ok("hello")).await;
    let f = failure(run(&https(&ca, ""), addr, T).await);
    assert_eq!(f.kind, FailureKind::Tls("certificate expired".into()));
    assert_eq!(f.to_string(), format!("{addr}: TLS: certificate expired"));
    // Verification off: the same server passes.
    let off = spec(
        " check_tls = 1
 check_tls_verify = 0
 check_http = 1",
    );
    run(&off, addr, T).await.unwrap();
}

#[tokio::test]
async fn wrong_name_and_unknown_issuer_fail() {
    let ca = Ca::new();
    let (addr, _) = tls_server(ca.leaf(&["other.example.test"], 2020, 2090), ok("x")).await;
    let f = failure(run(&https(&ca, ""), addr, T).await);
    assert_eq!(
        f.kind,
        FailureKind::Tls("certificate not valid for the name".into())
    );
    let stranger = Ca::new();
    let (addr, _) = tls_server(stranger.valid(), ok("x")).await;
    let f = failure(run(&https(&ca, ""), addr, T).await);
    assert_eq!(
        f.kind,
        FailureKind::Tls("certificate signed by an unknown issuer".into())
    );
}

#[tokio::test]
async fn sni_defaults_to_the_vip() {
    let ca = Ca::new();
    let (addr, _) = tls_server(ca.leaf(&["192.0.2.100"], 2020, 2090), ok("x")).await;
    let s = spec(&format!(
        " check_tls = 1\n check_tls_ca = \"{}\"\n check_http = 1",
        ca.ca_file()
    ));
    run(&s, addr, T).await.unwrap();
}

#[tokio::test]
async fn status_and_body() {
    let ca = Ca::new();
    let (e500, _) = tls_server(
        ca.valid(),
        b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n".to_vec(),
    )
    .await;
    let f = failure(run(&https(&ca, ""), e500, T).await);
    assert_eq!(f.to_string(), format!("{e500}: HTTP 500"));
    // A status set that accepts it.
    run(&https(&ca, " check_http_status = 200-299,500"), e500, T)
        .await
        .unwrap();

    let (hello, _) = tls_server(ca.valid(), ok("hello world")).await;
    run(&https(&ca, " check_http_body = \"lo wo\""), hello, T)
        .await
        .unwrap();
    let f = failure(run(&https(&ca, " check_http_body = \"bye\""), hello, T).await);
    assert_eq!(f.to_string(), format!("{hello}: body did not match"));
    run(&https(&ca, " check_http_body_regex = \"^hel+o\""), hello, T)
        .await
        .unwrap();
    // md5("hello world"), as keepalived's genhash prints it.
    run(
        &https(&ca, " check_http_digest = 5eb63bbbe01eeed093cb22bb8f5acdc3"),
        hello,
        T,
    )
    .await
    .unwrap();
    let f = failure(
        run(
            &https(&ca, " check_http_digest = 00000000000000000000000000000000"),
            hello,
            T,
        )
        .await,
    );
    assert_eq!(
        f.kind,
        FailureKind::Http(pulse_check::http::HttpFailure::BodyMismatch)
    );
}

#[tokio::test]
async fn redirects_only_when_asked() {
    let ca = Ca::new();
    let (addr, _) = tls_server(
        ca.valid(),
        b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n".to_vec(),
    )
    .await;
    let f = failure(run(&https(&ca, ""), addr, T).await);
    assert_eq!(f.to_string(), format!("{addr}: HTTP 302"));
    // Followed: it redirects forever, so the limit ends it.
    let f = failure(run(&https(&ca, " check_http_redirects = 2"), addr, T).await);
    assert_eq!(f.to_string(), format!("{addr}: HTTP 302"));
}

#[tokio::test]
async fn handshake_that_never_finishes_times_out() {
    let ca = Ca::new();
    // Accepts TCP, never speaks TLS.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = listener.accept().await {
            conns.push(c);
        }
    });
    let began = std::time::Instant::now();
    let f = failure(run(&https(&ca, ""), addr, Duration::from_millis(300)).await);
    assert_eq!(f.kind, FailureKind::TlsHandshakeTimeout);
    assert!(began.elapsed() < Duration::from_secs(2));
    held.abort();
}

#[tokio::test]
async fn oversized_and_garbage_responses_fail() {
    let ca = Ca::new();
    let big = "x".repeat(pulse_check::http::BODY_CAP + 10);
    let (addr, _) = tls_server(
        ca.valid(),
        format!("HTTP/1.1 200 OK\r\n\r\n{big}").into_bytes(),
    )
    .await;
    let f = failure(run(&https(&ca, " check_http_body = \"y\""), addr, T).await);
    assert_eq!(
        f.kind,
        FailureKind::Http(pulse_check::http::HttpFailure::TooLarge)
    );
    let head = format!("HTTP/1.1 200 OK\r\nX: {big}\r\n\r\n");
    let (addr, _) = tls_server(ca.valid(), head.into_bytes()).await;
    let f = failure(run(&https(&ca, ""), addr, T).await);
    assert_eq!(
        f.kind,
        FailureKind::Http(pulse_check::http::HttpFailure::TooLarge)
    );
    let (addr, _) = tls_server(ca.valid(), b"\x00\x01garbage\r\n\r\n".to_vec()).await;
    let f = failure(run(&https(&ca, ""), addr, T).await);
    assert!(
        matches!(
            f.kind,
            FailureKind::Http(pulse_check::http::HttpFailure::Malformed(_))
        ),
        "{f}"
    );
}

#[tokio::test]
async fn plain_http_server_fails_the_tls_check() {
    let ca = Ca::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            let _ = c.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n").await;
        }
    });
    let f = failure(run(&https(&ca, ""), addr, T).await);
    assert!(matches!(f.kind, FailureKind::Tls(_)), "{f}");
    // And a plain HTTP check of it sees the 400.
    let plain = spec(" check_http = 1\n check_http_status = 400");
    run(&plain, addr, T).await.unwrap();
    server.abort();
}

#[tokio::test]
async fn tls_send_expect_keeps_piranha_meaning() {
    let ca = Ca::new();
    let (addr, _) = tls_server(ca.valid(), b"HTTP/1.1 204 None\r\n\r\n".to_vec()).await;
    let s = spec(&format!(
        " check_tls = 1\n check_tls_sni = {NAME}\n check_tls_ca = \"{}\"\n send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n expect = \"HTTP/1.1 204\"",
        ca.ca_file()
    ));
    assert!(matches!(s, CheckSpec::TlsTcp { .. }));
    run(&s, addr, T).await.unwrap();
}

#[tokio::test]
async fn sessions_resume_per_target() {
    let ca = Ca::new();
    let (addr, counts) = tls_server(ca.valid(), ok("x")).await;
    let s = https(&ca, "");
    // Without per-target state: a full handshake every time.
    for _ in 0..2 {
        run(&s, addr, T).await.unwrap();
    }
    assert_eq!(counts.resumed.load(Ordering::Relaxed), 0);
    let mut resume = Resume::default();
    for _ in 0..3 {
        run_resuming(&s, addr, T, Some(&mut resume)).await.unwrap();
    }
    assert_eq!(counts.full.load(Ordering::Relaxed), 5);
    assert_eq!(
        counts.resumed.load(Ordering::Relaxed),
        2,
        "the 2nd and 3rd resume"
    );
}

fn thread_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_THREAD).unwrap();
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(u.user_time()) + tv(u.system_time())
}

/// CPU of the probing thread per HTTPS probe (certificate verified against a CA file), full
/// handshakes against resumed sessions; the server runs on threads of its own.
#[test]
#[ignore = "timing; prints only"]
fn cost_of_https_probes() {
    const N: u32 = 2_000;
    let ca = Ca::new();
    let leaf = ca.valid();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (addr, counts) = tls_server(leaf, ok("ok")).await;
            tx.send((addr, counts)).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let (addr, counts) = rx.recv().unwrap();
    let spec = https(&ca, "");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for resuming in [false, true] {
        let r0 = counts.resumed.load(Ordering::Relaxed);
        let (wall, cpu) = rt.block_on(async {
            let mut resume = Resume::default();
            let (t0, c0) = (std::time::Instant::now(), thread_cpu());
            for _ in 0..N {
                let r = resuming.then_some(&mut resume);
                run_resuming(&spec, addr, T, r).await.unwrap();
            }
            (t0.elapsed(), thread_cpu() - c0)
        });
        let resumed = counts.resumed.load(Ordering::Relaxed) - r0;
        let per = cpu.as_secs_f64() / f64::from(N);
        println!(
            "https, {}: {N} probes, {:.0} µs/probe wall, {:.0} µs/probe CPU (probing thread), \
             {resumed} resumed => 40,000 every 10 s ≈ {:.0} % of one core",
            if resuming {
                "sessions resumed"
            } else {
                "full handshakes"
            },
            wall.as_secs_f64() * 1e6 / f64::from(N),
            per * 1e6,
            per * 4000.0 * 100.0
        );
    }
}
