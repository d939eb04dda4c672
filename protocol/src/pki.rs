//! Certificates: the coordinator's CA, certificates for each role, certificate requests, and
//! reading the role back out of a peer certificate. Roles live in the subject: the
//! organizational unit is the role, the common name the holder's id.

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::fmt;
use std::str::FromStr;
use time::{Duration, OffsetDateTime};

use crate::COORDINATOR_SERVER_NAME;

/// What a certificate holder may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A node daemon: may open an agent session, never the operator API.
    Agent,
    /// A person or script driving the coordinator.
    Operator,
    /// The coordinator's own server certificate.
    Coordinator,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Operator => "operator",
            Role::Coordinator => "coordinator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "agent" => Ok(Role::Agent),
            "operator" => Ok(Role::Operator),
            "coordinator" => Ok(Role::Coordinator),
            other => Err(PkiError::Identity(format!("unknown role {other:?}"))),
        }
    }
}

/// Role and name read from a verified peer certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub role: Role,
    pub name: String,
}

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct CertifiedKeyPem {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Why a certificate operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("invalid PEM: {0}")]
    Pem(String),
    #[error("certificate identity: {0}")]
    Identity(String),
}

const CA_YEARS: i64 = 20;
const LEAF_YEARS: i64 = 5;

fn params(role: Role, name: &str, years: i64) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "drover");
    dn.push(DnType::OrganizationalUnitName, role.as_str());
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(365 * years);
    let mut serial = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut serial);
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.use_authority_key_identifier_extension = true;
    match role {
        Role::Coordinator => {
            params.subject_alt_names =
                vec![rcgen::SanType::DnsName(COORDINATOR_SERVER_NAME.try_into()?)];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        }
        Role::Agent | Role::Operator => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

/// Creates a new self-signed certificate authority.
pub fn new_ca(name: &str) -> Result<CertifiedKeyPem, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = params(Role::Coordinator, name, CA_YEARS)?;
    params
        .distinguished_name
        .remove(DnType::OrganizationalUnitName);
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, "ca");
    params.subject_alt_names.clear();
    params.extended_key_usages.clear();
    params.use_authority_key_identifier_extension = false;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    Ok(CertifiedKeyPem {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn issuer(ca: &CertifiedKeyPem) -> Result<Issuer<'static, KeyPair>, PkiError> {
    let key = KeyPair::from_pem(&ca.key_pem)?;
    Ok(Issuer::from_ca_cert_pem(&ca.cert_pem, key)?)
}

/// Issues a certificate and a fresh key pair for `role`, signed by `ca`.
pub fn issue(ca: &CertifiedKeyPem, role: Role, name: &str) -> Result<CertifiedKeyPem, PkiError> {
    let key = KeyPair::generate()?;
    let cert = params(role, name, LEAF_YEARS)?.signed_by(&key, &issuer(ca)?)?;
    Ok(CertifiedKeyPem {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Issues an HTTPS server certificate for `names` (host names or IP addresses), signed by
/// `ca`, for the coordinator's HTTP listener.
pub fn issue_https(ca: &CertifiedKeyPem, names: &[String]) -> Result<CertifiedKeyPem, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = params(Role::Coordinator, "drover-http", LEAF_YEARS)?;
    params.subject_alt_names = names
        .iter()
        .map(|name| match name.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(rcgen::SanType::IpAddress(ip)),
            Err(_) => Ok(rcgen::SanType::DnsName(name.as_str().try_into()?)),
        })
        .collect::<Result<_, rcgen::Error>>()?;
    let cert = params.signed_by(&key, &issuer(ca)?)?;
    Ok(CertifiedKeyPem {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A new key pair and a certificate request for it. Returns `(csr_pem, key_pem)`.
pub fn new_request(name: &str) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    let csr = params.serialize_request(&key)?;
    Ok((csr.pem()?, key.serialize_pem()))
}

/// Signs the public key of a certificate request. The subject is set here from `role` and
/// `name`; nothing the requester wrote into the request besides its key is trusted.
pub fn sign_request(
    ca: &CertifiedKeyPem,
    csr_pem: &str,
    role: Role,
    name: &str,
) -> Result<String, PkiError> {
    let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)?;
    csr.params = params(role, name, LEAF_YEARS)?;
    Ok(csr.signed_by(&issuer(ca)?)?.pem())
}

/// Reads the role and name out of a certificate (which the TLS layer has already verified).
pub fn identity_of(cert_der: &[u8]) -> Result<Identity, PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| PkiError::Identity(format!("unreadable certificate: {e}")))?;
    let subject = cert.subject();
    let field = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>,
                 what: &str| {
        it.next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string)
            .ok_or_else(|| PkiError::Identity(format!("certificate has no {what}")))
    };
    let role = field(&mut subject.iter_organizational_unit(), "role")?.parse()?;
    let name = field(&mut subject.iter_common_name(), "name")?;
    Ok(Identity { role, name })
}

/// When the first certificate in a PEM text expires, in Unix seconds.
pub fn expires_at(pem: &str) -> Result<i64, PkiError> {
    let der = cert_der(pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| PkiError::Identity(format!("unreadable certificate: {e}")))?;
    Ok(cert.validity().not_after.timestamp())
}

/// The first certificate in a PEM text, as DER.
pub fn cert_der(pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::Pem(e.to_string()))
}

/// SHA-256 of bytes (certificate fingerprints, token CA pins).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificates_carry_their_role() {
        let ca = new_ca("test-ca").expect("ca");
        let op = issue(&ca, Role::Operator, "alice").expect("operator cert");
        let id = identity_of(&cert_der(&op.cert_pem).expect("der")).expect("identity");
        assert_eq!(
            id,
            Identity {
                role: Role::Operator,
                name: "alice".into()
            }
        );
    }

    #[test]
    fn signing_a_request_ignores_the_requested_subject() {
        let ca = new_ca("test-ca").expect("ca");
        let (csr, _key) = new_request("i-want-to-be-operator").expect("csr");
        let cert = sign_request(&ca, &csr, Role::Agent, "ag-1").expect("signed");
        let id = identity_of(&cert_der(&cert).expect("der")).expect("identity");
        assert_eq!(
            id,
            Identity {
                role: Role::Agent,
                name: "ag-1".into()
            }
        );
    }

    #[test]
    fn garbage_request_is_an_error() {
        let ca = new_ca("test-ca").expect("ca");
        assert!(
            sign_request(
                &ca,
                "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                Role::Agent,
                "x"
            )
            .is_err()
        );
    }
}
