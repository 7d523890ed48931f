//! The TLS client configuration of a check: built once per check (lvsd does it when it loads
//! lvs.cf), reading the CA, certificate and key files; rustls with the `ring` provider.
//!
//! Session resumption: rustls keeps an in-memory cache of session tickets keyed by server
//! name. Every real server of a virtual service is checked under the same name (the VIP), and
//! real servers do not share ticket keys, so a shared cache would offer one server's tickets
//! to another, which refuses them. Resumption therefore is per check target: [`Resume`] holds a
//! configuration with a one-ticket cache of its own, made on the first probe of a target.

use crate::spec::{CheckSpec, SpecError, TlsCheck, Verify};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// Build the TLS configuration of `spec`'s check, if it has a TLS side (reads its files).
pub fn prepare(spec: &mut CheckSpec, virtual_name: &str) -> Result<(), SpecError> {
    if let Some(tls) = spec.tls_mut() {
        let config = client_config(tls).map_err(|reason| SpecError::TlsSetup {
            virtual_name: virtual_name.to_string(),
            reason,
        })?;
        tls.config.0 = Some(Arc::new(config));
    }
    Ok(())
}

/// rustls with *ring*: no C toolchain or cmake for aws-lc in the build. rustls 0.23.48
/// deprecates it for lacking post-quantum key exchange, which a health check of the operator's
/// own real servers (no long-lived secrets in it) does not need.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
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
/// (lvsd keeps one per check task). Empty until the first TLS probe.
#[derive(Debug, Default)]
pub struct Resume {
    config: Option<Arc<ClientConfig>>,
}

impl Resume {
    /// The configuration to use for this target: `shared` with a one-session cache of its own.
    pub(crate) fn config(&mut self, shared: &Arc<ClientConfig>) -> Arc<ClientConfig> {
        self.config
            .get_or_insert_with(|| {
                let mut c = ClientConfig::clone(shared);
                c.resumption = Resumption::store(Arc::new(ClientSessionMemoryCache::new(1)));
                Arc::new(c)
            })
            .clone()
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
