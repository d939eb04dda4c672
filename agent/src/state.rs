//! The agent's state dir: its id, the coordinator address, the pinned CA and its own
//! certificate and key (0600). `agent.json` is written last, so a state dir either has a
//! complete identity or none.

use std::path::{Path, PathBuf};

use drover_protocol::files::{read_text, write_atomic};
use drover_protocol::pki::CertifiedKeyPem;
use drover_protocol::types::{AgentId, Labels};
use serde::{Deserialize, Serialize};

/// An enrolled agent's identity.
#[derive(Clone)]
pub struct AgentState {
    pub agent_id: AgentId,
    /// `host:port` of the coordinator's QUIC listener.
    pub coordinator: String,
    pub ca_pem: String,
    pub identity: CertifiedKeyPem,
    /// The labels asked for at join, claimed by `run` when none are configured.
    pub labels: Option<Labels>,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    agent_id: AgentId,
    coordinator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    labels: Option<Labels>,
}

fn manifest_path(dir: &Path) -> PathBuf {
    dir.join("agent.json")
}

impl AgentState {
    /// Loads the identity in `dir`; `Ok(None)` when the agent has not joined yet.
    pub fn load(dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = manifest_path(dir);
        if !path.exists() {
            return Ok(None);
        }
        let manifest: Manifest = serde_json::from_str(&read_text(&path)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(Some(Self {
            agent_id: manifest.agent_id,
            coordinator: manifest.coordinator,
            ca_pem: read_text(&dir.join("ca.pem"))?,
            identity: CertifiedKeyPem {
                cert_pem: read_text(&dir.join("agent.pem"))?,
                key_pem: read_text(&dir.join("agent.key"))?,
            },
            labels: manifest.labels,
        }))
    }

    /// Writes the identity into `dir`, the manifest last.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        private_dir(dir)?;
        write_atomic(
            &dir.join("agent.key"),
            self.identity.key_pem.as_bytes(),
            true,
        )?;
        write_atomic(
            &dir.join("agent.pem"),
            self.identity.cert_pem.as_bytes(),
            false,
        )?;
        write_atomic(&dir.join("ca.pem"), self.ca_pem.as_bytes(), false)?;
        let manifest = Manifest {
            agent_id: self.agent_id.clone(),
            coordinator: self.coordinator.clone(),
            labels: self.labels.clone(),
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
        write_atomic(&manifest_path(dir), &json, false)
    }
}

/// Creates the state dir readable by its owner only (it holds the agent's key), or narrows an
/// existing one to that.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
