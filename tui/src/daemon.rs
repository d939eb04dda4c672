//! `drover coordinator`: the coordinator with no terminal, until SIGTERM or Ctrl-C.

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::coordinator::Coordinator;
use crate::local_agent;

/// Runs a headless coordinator (and the local agent, when asked) until `shutdown` fires.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let data_dir = settings.coordinator.data_dir.clone();
    let coordinator = Coordinator::start(settings.coordinator).await?;
    eprintln!(
        "drover coordinator {} listening: quic {} http {} (data dir {})",
        drover_protocol::DROVER_VERSION,
        coordinator.quic_addr(),
        coordinator.http_addr(),
        data_dir.display()
    );
    let agent = if settings.local_agent {
        Some(
            local_agent::start(
                &coordinator.handle(),
                &data_dir,
                settings.local_agent_labels,
            )
            .await?,
        )
    } else {
        None
    };
    shutdown.cancelled().await;
    if let Some(agent) = agent {
        agent.stop().await;
    }
    coordinator.stop().await;
    tracing::info!("coordinator stopped");
    Ok(())
}
