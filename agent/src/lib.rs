//! drover-agent: the node daemon.
//!
//! - [`config`]: settings, flag > `DROVER_*` env > file > default.
//! - [`enroll`]: `join`, redeeming a token for a certificate.
//! - [`state`]: the identity kept in the state dir.
//! - [`link`]: the QUIC session to the coordinator, heartbeats, reconnect with backoff.
//! - [`host`]: host facts and load.
//! - [`http`]: health and `/metrics`.
//! - [`jobs`]: running assigned training jobs: fetch, train, upload, report.
//! - [`train`]: preprocessing, linfa learners, cross-validated search, metrics, artifacts.
//! - [`signal`]: SIGTERM/Ctrl-C as a cancellation token.
//! - [`sim`]: many simulated agents in one process, for fleet benchmarks.

pub mod config;
pub mod enroll;
pub mod host;
pub mod http;
pub mod jobs;
pub mod link;
pub mod signal;
pub mod sim;
pub mod state;
pub mod train;

use anyhow::Context;
use drover_protocol::msg::AgentHello;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::host::HostProbe;
use crate::state::AgentState;

/// Runs the agent until `shutdown` fires or the coordinator refuses it.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let state = AgentState::load(&config.state_dir)?.with_context(|| {
        format!(
            "no agent identity in {}; run `drover-agent join TOKEN --state-dir {}` first",
            config.state_dir.display(),
            config.state_dir.display()
        )
    })?;
    let coordinator = config
        .coordinator
        .clone()
        .unwrap_or_else(|| state.coordinator.clone());
    let (connected, ready) = watch::channel(false);
    if let Some(addr) = config.http {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding HTTP listener on {addr}"))?;
        tracing::info!(http = %listener.local_addr()?, "agent HTTP listening");
        tokio::spawn(http::serve(listener, ready, shutdown.clone()));
    }
    let mut probe = HostProbe::new();
    let hello = AgentHello {
        hostname: config.hostname.clone().unwrap_or_else(host::hostname),
        labels: config.labels.clone(),
        capacity: probe.capacity(config.job_slots),
    };
    tracing::info!(agent = %state.agent_id, %coordinator, "agent starting");
    link::run(
        &state,
        &coordinator,
        hello,
        probe,
        connected,
        jobs::Runner::new(&config.state_dir),
        shutdown,
    )
    .await?;
    tracing::info!("agent stopped");
    Ok(())
}
