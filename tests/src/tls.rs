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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
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
