//! State every coordinator task shares.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::artifacts::Artifacts;
use crate::events::Events;
use crate::fleet::Fleet;
use crate::ingest::Ingest;
use crate::pki::Pki;
use crate::store::{Db, handle};
use crate::training::spread::Spreads;
use crate::training::stopping::Stopping;

/// The coordinator's shared state; one `Arc` of it is handed to every task.
pub struct Shared {
    /// The store, awaitable; sync domain code reaches it through [`Shared::blocking`].
    pub store: Db,
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
    /// Held while a job's end is recorded: sessions hand their finished jobs off to the
    /// blocking pool, and two shares of one spread search must not end it at once.
    pub finishing: std::sync::Mutex<()>,
    /// Held while a rollout changes, so the controller and an operator's command take turns.
    pub rollouts: std::sync::Mutex<()>,
    /// The latest analysis of each running rollout, for operators.
    pub rollout_checks:
        std::sync::Mutex<std::collections::HashMap<u64, Vec<drover_protocol::rollout::Check>>>,
    /// Wakes the rollout controller: agents reported serving windows.
    pub windows_arrived: tokio::sync::Notify,
    /// What one agent may report about serving.
    pub reports: crate::quota::ReportLimits,
}

impl Shared {
    /// Runs sync domain work (which reads and writes the store) on the blocking pool, off the
    /// runtime's worker threads, and awaits its result.
    pub async fn blocking<R, F>(self: &Arc<Self>, work: F) -> R
    where
        F: FnOnce(&Shared) -> R + Send + 'static,
        R: Send + 'static,
    {
        let shared = self.clone();
        handle::blocking(move || work(&shared)).await
    }
}
