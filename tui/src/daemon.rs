//! `drover coordinator`: the coordinator with no terminal, until SIGTERM or Ctrl-C. Also the
//! [`LocalCluster`] that it and the console start: a coordinator in this process and, when
//! asked, the local agent beside it.

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::coordinator::Coordinator;
use crate::local_agent::{self, LocalAgent};

/// A coordinator running in this process, with the optional local agent.
pub struct LocalCluster {
    pub coordinator: Coordinator,
    agent: Option<LocalAgent>,
}

impl LocalCluster {
    /// Starts the coordinator, then the local agent when the settings ask for it.
    pub async fn start(settings: Settings) -> anyhow::Result<Self> {
        let data_dir = settings.coordinator.data_dir.clone();
        let coordinator = Coordinator::start(settings.coordinator).await?;
        let agent = match settings.local_agent {
            true => Some(
                local_agent::start(
                    &coordinator.handle(),
                    &data_dir,
                    settings.local_agent_labels,
                )
                .await?,
            ),
            false => None,
        };
        Ok(Self { coordinator, agent })
    }

    /// Stops the local agent first, so its session ends cleanly, then the coordinator.
    pub async fn stop(self) {
        if let Some(agent) = self.agent {
            agent.stop().await;
        }
        self.coordinator.stop().await;
    }
}

/// Runs a headless coordinator (and the local agent, when asked) until `shutdown` fires.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let data_dir = settings.coordinator.data_dir.clone();
    let cluster = LocalCluster::start(settings).await?;
    eprintln!(
        "drover coordinator {} listening: quic {} http {} (data dir {})",
        drover_protocol::DROVER_VERSION,
        cluster.coordinator.quic_addr(),
        cluster.coordinator.http_addr(),
        data_dir.display()
    );
    shutdown.cancelled().await;
    cluster.stop().await;
    tracing::info!("coordinator stopped");
    Ok(())
}
