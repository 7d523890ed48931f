//! TLS real servers for the HTTPS check tests: a test CA issuing certificates (rcgen; expired
//! or valid, for any names), and a blocking TLS server in a network namespace on the bed's
//! connection loop ([`crate::lvs_bed::serve_connections`]). rustls with *ring*, as lvsd.

use crate::lvs_bed::{Server, serve_connections};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

/// A certificate authority of its own for a test.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A server certificate and its key, DER.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// The certificate.
    pub cert: Vec<u8>,
    /// Its PKCS#8 private key.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

impl TestCa {
    /// A new CA named `name` (names must differ between CAs of one test).
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.self_signed(&key).expect("CA certificate");
        Self { cert, key }
    }

    /// The CA certificate, PEM (for `check_tls_ca`).
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for `names` valid from January 1st of `from` to January 1st of `until`.
    pub fn leaf(&self, names: &[&str], from: i32, until: i32) -> Leaf {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
        p.not_before = rcgen::date_time_ymd(from, 1, 1);
        p.not_after = rcgen::date_time_ymd(until, 1, 1);
        let cert = p
            .signed_by(&key, &self.cert, &self.key)
            .expect("certificate");
        Leaf {
            cert: cert.der().to_vec(),
            key: key.serialize_der(),
        }
    }
}

/// rustls's server configuration for `leaf` (*ring*, as lvsd).
#[allow(deprecated)] // ring: see pulse_check::tls
pub fn server_config(leaf: &Leaf) -> Arc<rustls::ServerConfig> {
    // X25519 first, as common servers (and lvsd's checks, pulse_check::tls::provider) prefer.
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .kx_groups
        .sort_by_key(|g| g.name() != rustls::NamedGroup::X25519);
    let provider = Arc::new(provider);
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.cert.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.clone())),
        )
        .expect("server certificate");
    Arc::new(config)
}

/// A TLS server on `addr` in namespace `ns`: completes the handshake, reads the request head
/// and answers `response` on every connection (one at a time). Stops when dropped.
pub fn serve_tls_in(
    ns: &str,
    addr: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    response: &'static [u8],
) -> Server {
    serve_connections(ns, addr, move |mut sock, _| {
        let Ok(mut conn) = rustls::ServerConnection::new(config.clone()) else {
            return;
        };
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tls.write_all(response);
        tls.conn.send_close_notify();
        let _ = tls.flush();
    })
}

/// `config` made for many clients: with `resumption`, stateless TLS 1.3 session tickets (one
/// per handshake; a server-side session cache would hold only 256); without, no tickets and no
/// session cache, so every handshake is a full one.
pub fn for_load(config: &rustls::ServerConfig, resumption: bool) -> Arc<rustls::ServerConfig> {
    let mut c = config.clone();
    if resumption {
        c.ticketer = rustls::crypto::ring::Ticketer::new().expect("ticketer");
        c.send_tls13_tickets = 1;
    } else {
        c.send_tls13_tickets = 0;
        c.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    }
    Arc::new(c)
}

/// Handshakes a [`LoadServer`] completed, and how many resumed a session.
#[derive(Debug, Default)]
pub struct LoadCounts {
    /// Completed handshakes.
    pub handshakes: std::sync::atomic::AtomicU64,
    /// Of which resumed.
    pub resumed: std::sync::atomic::AtomicU64,
}

/// A TLS server for load tests (the 40,000-server check benchmark): tokio-rustls on a
/// multi-thread runtime of its own, `listeners` `SO_REUSEPORT` sockets on `addr` (the kernel
/// spreads connections over them) with deep accept queues, each connection answered with
/// `response` after the request head. Runs in namespace `ns` (a `/var/run/netns` name) or the
/// current one; stops when dropped.
#[derive(Debug)]
pub struct LoadServer {
    /// What it served.
    pub counts: Arc<LoadCounts>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoadServer {
    /// Start it; returns once every listener is bound.
    pub fn start(
        ns: Option<&str>,
        addr: SocketAddr,
        listeners: usize,
        workers: usize,
        config: Arc<rustls::ServerConfig>,
        response: &'static [u8],
    ) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let counts = Arc::new(LoadCounts::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let ns = ns.map(|n| format!("/var/run/netns/{n}"));
        let c = counts.clone();
        let thread = std::thread::spawn(move || {
            if let Some(path) = ns {
                crate::lvs_bed::enter(&path);
            }
            // Worker threads are created from this thread: they share its namespace.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                for _ in 0..listeners {
                    let sock = match addr {
                        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
                    }
                    .expect("socket");
                    sock.set_reuseport(true).expect("SO_REUSEPORT");
                    sock.set_reuseaddr(true).expect("SO_REUSEADDR");
                    sock.bind(addr).expect("bind");
                    let listener = sock.listen(8192).expect("listen");
                    let (acceptor, c) = (acceptor.clone(), c.clone());
                    tokio::spawn(async move {
                        loop {
                            let Ok((tcp, _)) = listener.accept().await else {
                                continue;
                            };
                            let (acceptor, c) = (acceptor.clone(), c.clone());
                            tokio::spawn(async move {
                                let Ok(mut s) = acceptor.accept(tcp).await else {
                                    return;
                                };
                                c.handshakes.fetch_add(1, Relaxed);
                                if s.get_ref().1.handshake_kind()
                                    == Some(rustls::HandshakeKind::Resumed)
                                {
                                    c.resumed.fetch_add(1, Relaxed);
                                }
                                let mut req = [0u8; 2048];
                                let mut got = 0;
                                while !req[..got].windows(4).any(|w| w == b"\r\n\r\n")
                                    && got < req.len()
                                {
                                    match s.read(&mut req[got..]).await {
                                        Ok(0) | Err(_) => return,
                                        Ok(n) => got += n,
                                    }
                                }
                                let _ = s.write_all(response).await;
                                let _ = s.shutdown().await;
                            });
                        }
                    });
                }
                let _ = ready_tx.send(());
                let _ = stop_rx.await;
            });
            rt.shutdown_background();
        });
        ready_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("TLS load server did not start");
        Self {
            counts,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for LoadServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
