//! An agent inside the coordinator's process, so one machine is a complete cluster. It enrolls
//! through a join token and certificate exactly as a remote agent does, then dials the
//! coordinator over loopback QUIC.

use std::path::Path;

use anyhow::bail;
use drover_agent::config::AgentConfig;
use drover_agent::state::AgentState;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::types::Labels;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::loopback_if_unspecified;
use drover_coordinator::CoordinatorHandle;

/// A running in-process agent.
pub struct LocalAgent {
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    /// The token its prediction listener takes feedback with (when it has one).
    pub feedback_token: Option<String>,
}

/// Enrolls the local agent on first use (state in `<data_dir>/local-agent`) and starts it.
pub async fn start(
    handle: &CoordinatorHandle,
    data_dir: &Path,
    labels: Labels,
) -> anyhow::Result<LocalAgent> {
    start_with(
        handle,
        Options {
            state_dir: data_dir.join("local-agent"),
            labels,
            http: None,
            serving_window: drover_agent::config::DEFAULT_SERVING_WINDOW,
        },
    )
    .await
}

/// How an in-process agent runs.
pub struct Options {
    pub state_dir: std::path::PathBuf,
    pub labels: Labels,
    /// Its prediction listener, if it serves.
    pub http: Option<std::net::SocketAddr>,
    pub serving_window: std::time::Duration,
}

/// Enrolls an in-process agent on first use (state in `options.state_dir`) and starts it.
pub async fn start_with(
    handle: &CoordinatorHandle,
    options: Options,
) -> anyhow::Result<LocalAgent> {
    let Options {
        state_dir,
        labels,
        http,
        serving_window,
    } = options;
    let address = loopback_if_unspecified(handle.quic_addr()).to_string();
    if AgentState::load(&state_dir)?.is_none() {
        let token = match handle
            .request(OperatorRequest::CreateToken {
                ttl_secs: 300,
                uses: 1,
            })
            .await
        {
            OperatorResponse::Token(token) => token,
            OperatorResponse::Error(e) => bail!("cannot create a token for the local agent: {e}"),
            other => bail!("unexpected answer to a token request: {other:?}"),
        };
        let hostname = drover_agent::host::hostname();
        let state =
            drover_agent::enroll::join(&token.token, &state_dir, Some(&address), &hostname).await?;
        tracing::info!(agent = %state.agent_id, "local agent enrolled");
    }
    let feedback_token = match http {
        Some(_) => Some(drover_agent::http::feedback_token(&state_dir)?),
        None => None,
    };
    let config = AgentConfig {
        state_dir,
        labels,
        http,
        job_slots: 1,
        coordinator: Some(address),
        hostname: None,
        shutdown_grace: std::time::Duration::ZERO,
        log_level: None,
        serving_window,
        http_tls: None,
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(drover_agent::run(config, stop.clone()));
    Ok(LocalAgent {
        stop,
        task,
        feedback_token,
    })
}

impl LocalAgent {
    /// Stops the agent and waits for it to close its session.
    pub async fn stop(self) {
        self.stop.cancel();
        match self.task.await {
            Ok(Err(e)) => tracing::warn!(cause = %e, "local agent ended with an error"),
            Err(e) => tracing::warn!(cause = %e, "local agent task failed"),
            Ok(Ok(())) => {}
        }
    }
}
