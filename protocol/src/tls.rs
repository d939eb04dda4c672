//! rustls and quinn configurations. Every connection is TLS 1.3 with ALPN `drover/1`, the
//! ring provider chosen explicitly, the coordinator's CA as the only root, and client
//! certificates verified against it. Clients without a certificate may connect, but the
//! coordinator lets them do nothing except enroll.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;

use crate::ALPN;
use crate::pki::{self, CertifiedKeyPem, PkiError};

/// How long a silent connection lives before QUIC closes it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// Keep-alive interval clients use so that an idle operator session stays open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(4);

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("tls verifier: {0}")]
    Verifier(String),
    #[error("private key: {0}")]
    Key(String),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("quic crypto: {0}")]
    Quic(String),
}

/// The one crypto provider drover uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca_pem: &str) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.add(pki::cert_der(ca_pem)?)?;
    Ok(Arc::new(roots))
}

fn key_der(key_pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| TlsError::Key(e.to_string()))
}

fn transport(keep_alive: Option<Duration>) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(IDLE_TIMEOUT).expect("15 s fits a QUIC idle timeout"),
    ));
    t.keep_alive_interval(keep_alive);
    t.max_concurrent_bidi_streams(64u32.into());
    t.max_concurrent_uni_streams(16u32.into());
    Arc::new(t)
}

/// Server side: presents `server` (with the CA in its chain, so joining agents can pin it) and
/// verifies client certificates against `ca_pem` when presented.
pub fn server_config(
    ca_pem: &str,
    server: &CertifiedKeyPem,
) -> Result<quinn::ServerConfig, TlsError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca_pem)?, provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let chain = vec![pki::cert_der(&server.cert_pem)?, pki::cert_der(ca_pem)?];
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key_der(&server.key_pem)?)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport(None));
    Ok(config)
}

/// An HTTPS server presenting `chain_pem` (leaf first, PEM) with `key_pem`, speaking HTTP/1.1.
pub fn https_server_config(
    chain_pem: &str,
    key_pem: &str,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key_der(key_pem)?)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

fn finish_client(tls: rustls::ClientConfig) -> Result<quinn::ClientConfig, TlsError> {
    let mut tls = tls;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport(Some(KEEP_ALIVE)));
    Ok(config)
}

/// Client side: trusts only `ca_pem` and presents `identity` when given.
pub fn client_config(
    ca_pem: &str,
    identity: Option<&CertifiedKeyPem>,
) -> Result<quinn::ClientConfig, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca_pem)?);
    let tls = match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![pki::cert_der(&id.cert_pem)?], key_der(&id.key_pem)?)?,
        None => builder.with_no_client_auth(),
    };
    finish_client(tls)
}

/// Client side for enrollment: no client certificate; the server's chain must contain a CA
/// whose SHA-256 equals `ca_sha256` (from the join token), and the server certificate must
/// verify against that CA.
pub fn pinned_client_config(ca_sha256: [u8; 32]) -> Result<quinn::ClientConfig, TlsError> {
    let verifier = Arc::new(PinnedCa {
        pin: ca_sha256,
        provider: provider(),
    });
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    finish_client(tls)
}

/// Message a joining agent sees when the coordinator's CA is not the one its token names.
pub const PIN_MISMATCH: &str = "the coordinator's CA does not match the fingerprint in the token";

#[derive(Debug)]
struct PinnedCa {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| pki::sha256(c) == self.pin)
            .ok_or_else(|| rustls::Error::General(PIN_MISMATCH.into()))?;
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
