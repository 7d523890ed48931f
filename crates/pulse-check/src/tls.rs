//! The TLS client configuration of a check: built once per check (lvsd does it when it loads
//! lvs.cf), reading the CA, certificate and key files; rustls with the `ring` provider.
//!
//! Session resumption: rustls keeps an in-memory cache of session tickets keyed by server
//! name. Every real server of a virtual service is checked under the same name (the VIP), and
//! real servers do not share ticket keys, so a shared cache would offer one server's tickets
//! to another, which refuses them. Resumption therefore is per check target: [`Resume`] holds a
//! configuration with a one-ticket cache of its own, made on the first probe of a target.

use crate::spec::{CheckSpec, SpecError, TlsCheck, Verify};
use rustls::NamedGroup;
use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Build the TLS configuration of `spec`'s check, if it has a TLS side (reads its files).
pub fn prepare(spec: &mut CheckSpec, virtual_name: &str) -> Result<(), SpecError> {
    TlsConfigs::default().prepare(spec, virtual_name)
}

/// The TLS configurations of one load of lvs.cf, shared between the checks that verify and
/// authenticate alike (10,000 virtual services with the same CA file read it once and hold one
/// configuration; the server name is not part of it).
#[derive(Debug, Default)]
pub struct TlsConfigs(HashMap<ConfigKey, Arc<ClientConfig>>);

/// What a client configuration depends on: verification and the client certificate files.
type ConfigKey = (Verify, Option<(String, String)>);

impl TlsConfigs {
    /// Build (or reuse) the TLS configuration of `spec`'s check, if it has a TLS side.
    pub fn prepare(&mut self, spec: &mut CheckSpec, virtual_name: &str) -> Result<(), SpecError> {
        let Some(tls) = spec.tls_mut() else {
            return Ok(());
        };
        let key = (tls.verify.clone(), tls.client_cert.clone());
        let config = match self.0.get(&key) {
            Some(c) => c.clone(),
            None => {
                let c = Arc::new(client_config(tls).map_err(|reason| SpecError::TlsSetup {
                    virtual_name: virtual_name.to_string(),
                    reason,
                })?);
                self.0.insert(key, c.clone());
                c
            }
        };
        tls.config.0 = Some(config);
        Ok(())
    }
}

/// rustls with *ring*: no C toolchain or cmake for aws-lc in the build. rustls 0.23.48
/// deprecates it for lacking post-quantum key exchange, which a health check of the operator's
/// own real servers (no long-lived secrets in it) does not need.
///
/// Key exchange: X25519 first. rustls 0.23.48 puts P-384 first among *ring*'s groups, and
/// *ring*'s P-384 is generic code: measured, it made a full handshake cost 790 µs of CPU
/// instead of about 200 (`cost_of_https_probes` in `tests/tls.rs`). The client sends one key
/// share (the first group); a server that wants another asks for it (HelloRetryRequest).
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::kx_group::{SECP256R1, SECP384R1, X25519};
    let mut p = rustls::crypto::ring::default_provider();
    p.kx_groups = vec![X25519, SECP256R1, SECP384R1];
    Arc::new(p)
}

fn client_config(tls: &TlsCheck) -> Result<ClientConfig, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &tls.verify {
        Verify::Off => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(
                provider.signature_verification_algorithms,
            ))),
        Verify::SystemRoots => {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(match found.errors.first() {
                    Some(e) => format!("no system root certificates: {e}"),
                    None => "no system root certificates found".into(),
                });
            }
            builder.with_root_certificates(roots)
        }
        Verify::CaFile(path) => {
            let mut roots = RootCertStore::empty();
            for cert in certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("CA file {path}: {e}"))?;
            }
            builder.with_root_certificates(roots)
        }
    };
    let mut config = match &tls.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("client key file {key}: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate {cert}: {e}"))?
        }
    };
    // Shared by every target of the check: no cache (see the module docs and [`Resume`]).
    config.resumption = Resumption::disabled();
    Ok(config)
}

fn certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{path}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path}: no PEM certificate in it"));
    }
    Ok(certs)
}

/// Per-target TLS session resumption state, kept by the caller between probes of one target
/// (lvsd keeps one per check task). Empty until the first TLS probe; then the check's shared
/// configuration with a session store of this target's own (`OneTicket`).
#[derive(Debug, Default)]
pub struct Resume {
    config: Option<Arc<ClientConfig>>,
}

impl Resume {
    /// The configuration to use for this target.
    pub(crate) fn config(&mut self, shared: &Arc<ClientConfig>) -> Arc<ClientConfig> {
        self.config
            .get_or_insert_with(|| {
                let mut c = ClientConfig::clone(shared);
                c.resumption = Resumption::store(Arc::new(OneTicket::default()));
                Arc::new(c)
            })
            .clone()
    }
}

/// The session store of one target: the latest ticket only. A check makes one connection per
/// period and uses one ticket; rustls's `ClientSessionMemoryCache` keeps up to 8 per name,
/// each with a copy of the server's certificate chain (measured: 15 KB per target, 600 MB for
/// 40,000). The server name is ignored: the store belongs to one target.
#[derive(Debug, Default)]
struct OneTicket {
    kx_hint: Mutex<Option<NamedGroup>>,
    tls12: Mutex<Option<Tls12ClientSessionValue>>,
    tls13: Mutex<Option<Tls13ClientSessionValue>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding it cannot leave a half-written Option: take the value.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ClientSessionStore for OneTicket {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        *lock(&self.kx_hint) = Some(group);
    }

    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        *lock(&self.kx_hint)
    }

    fn set_tls12_session(&self, _: ServerName<'static>, value: Tls12ClientSessionValue) {
        *lock(&self.tls12) = Some(value);
    }

    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        lock(&self.tls12).clone()
    }

    fn remove_tls12_session(&self, _: &ServerName<'static>) {
        *lock(&self.tls12) = None;
    }

    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        *lock(&self.tls13) = Some(value);
    }

    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        lock(&self.tls13).take()
    }
}

/// `check_tls_verify = 0`: every certificate is accepted, but the handshake signatures are
/// still verified (the peer holds the key of the certificate it sent).
#[derive(Debug)]
struct NoVerification(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// A rustls error as a check reports it after `TLS: ` (`certificate expired`, …).
pub(crate) fn reason(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::Expired | C::ExpiredContext { .. } => "certificate expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "certificate not valid yet".into(),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "certificate not valid for the name".into()
            }
            C::UnknownIssuer => "certificate signed by an unknown issuer".into(),
            C::Revoked => "certificate revoked".into(),
            C::BadSignature => "certificate has a bad signature".into(),
            other => format!("invalid certificate: {other:?}"),
        },
        rustls::Error::AlertReceived(a) => format!("the server sent alert {a:?}"),
        other => other.to_string(),
    }
}
