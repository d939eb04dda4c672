//! State every coordinator task shares.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::artifacts::Artifacts;
use super::events::Events;
use super::fleet::Fleet;
use super::ingest::Ingest;
use super::pki::Pki;
use super::spread::Spreads;
use super::stopping::Stopping;
use super::store::Store;

/// The coordinator's shared state; one `Arc` of it is handed to every task.
pub struct Shared {
    pub store: Arc<Store>,
    pub artifacts: Artifacts,
    pub fleet: Fleet,
    pub events: Events,
    pub ingest: Ingest,
    pub pki: Pki,
    /// SHA-256 of the CA certificate, carried in join tokens.
    pub ca_sha256: [u8; 32],
    /// Address agents are told to dial (in join tokens).
    pub advertise: String,
    pub quic_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub started: Instant,
    /// Wakes the scheduler: a run was queued or finished, or an agent came or went.
    pub schedule: tokio::sync::Notify,
    /// Runs whose search is spread over several agents.
    pub spreads: Spreads,
    /// Cancelled jobs whose agents are still stopping them.
    pub stopping: Stopping,
}
