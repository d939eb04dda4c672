//! The coordinator's PKI on disk, under `<data-dir>/pki`: the CA, the coordinator's server
//! certificate and the local operator certificate, created on first start. Keys are mode 0600.

use std::path::{Path, PathBuf};

use drover_protocol::files::{read_text, write_atomic};
use drover_protocol::pki::{self, CertifiedKeyPem, Role};

/// The name of the operator certificate in the data dir, used by the local CLI and by the
/// embedded console; actions they make are recorded under it.
pub const LOCAL_OPERATOR: &str = "operator";

/// The coordinator's certificates and keys.
#[derive(Clone)]
pub struct Pki {
    pub ca: CertifiedKeyPem,
    pub server: CertifiedKeyPem,
    pub operator: CertifiedKeyPem,
}

/// Where each piece of the PKI lives.
pub struct PkiPaths {
    dir: PathBuf,
}

impl PkiPaths {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("pki"),
        }
    }

    fn pair(&self, name: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{name}.pem")),
            self.dir.join(format!("{name}.key")),
        )
    }

    /// The CA certificate, public.
    pub fn ca_cert(&self) -> PathBuf {
        self.pair("ca").0
    }

    fn load_pair(&self, name: &str) -> anyhow::Result<CertifiedKeyPem> {
        let (cert, key) = self.pair(name);
        Ok(CertifiedKeyPem {
            cert_pem: read_text(&cert)?,
            key_pem: read_text(&key)?,
        })
    }

    fn store_pair(&self, name: &str, pair: &CertifiedKeyPem) -> anyhow::Result<()> {
        let (cert, key) = self.pair(name);
        write_atomic(&key, pair.key_pem.as_bytes(), true)?;
        write_atomic(&cert, pair.cert_pem.as_bytes(), false)?;
        Ok(())
    }

    /// The CA and the local operator identity, for operator verbs in this data dir.
    pub fn load_operator(&self) -> anyhow::Result<(String, CertifiedKeyPem)> {
        Ok((read_text(&self.ca_cert())?, self.load_pair("operator")?))
    }
}

impl Pki {
    /// Loads the PKI from `data_dir`, creating whatever is missing. The CA is created only when
    /// no CA exists; an existing CA is never replaced.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let paths = PkiPaths::new(data_dir);
        let ca = if paths.ca_cert().exists() {
            paths.load_pair("ca")?
        } else {
            let ca = pki::new_ca("drover CA")?;
            paths.store_pair("ca", &ca)?;
            tracing::info!(path = %paths.ca_cert().display(), "created certificate authority");
            ca
        };
        let leaf = |name: &str, role: Role| -> anyhow::Result<CertifiedKeyPem> {
            if paths.pair(name).0.exists() {
                return paths.load_pair(name);
            }
            let pair = pki::issue(&ca, role, name)?;
            paths.store_pair(name, &pair)?;
            Ok(pair)
        };
        let server = leaf("coordinator", Role::Coordinator)?;
        let operator = leaf(LOCAL_OPERATOR, Role::Operator)?;
        Ok(Self {
            ca,
            server,
            operator,
        })
    }

    /// The secret behind QUIC stateless resets, kept across restarts so that agents still
    /// holding a connection from before a crash learn at once that it is gone and reconnect,
    /// instead of waiting for the idle timeout.
    pub fn reset_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
        let path = PkiPaths::new(data_dir).dir.join("reset.key");
        match std::fs::read(&path) {
            Ok(secret) if secret.len() == 32 => Ok(secret),
            _ => {
                let mut secret = vec![0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut secret);
                write_atomic(&path, &secret, true)?;
                Ok(secret)
            }
        }
    }

    /// SHA-256 of the CA certificate (DER), the pin carried in join tokens.
    pub fn ca_sha256(&self) -> anyhow::Result<[u8; 32]> {
        Ok(pki::sha256(&pki::cert_der(&self.ca.cert_pem)?))
    }
}
