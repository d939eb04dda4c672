//! `drover coordinator`: the coordinator with no terminal, until SIGTERM or Ctrl-C. Also the
//! [`LocalCluster`] that it and the console start: a coordinator in this process and, when
//! asked, the local agent beside it.

use drover_agent::logging::{self, LogFilter};
use drover_agent::systemd;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Overrides, Settings};
use crate::local_agent::{self, LocalAgent};
use drover_coordinator::Coordinator;

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

/// Config reload requests (SIGHUP) for the headless coordinator.
pub struct Reload {
    pub requests: mpsc::Receiver<()>,
    pub overrides: Overrides,
    pub log: LogFilter,
}

/// Runs a headless coordinator (and the local agent, when asked) until `shutdown` fires.
/// Under systemd it reports readiness once listening and pings the watchdog.
pub async fn run(
    settings: Settings,
    shutdown: CancellationToken,
    reload: Option<Reload>,
) -> anyhow::Result<()> {
    let data_dir = settings.coordinator.data_dir.clone();
    let mut log_level = settings.log_level.clone();
    let cluster = LocalCluster::start(settings).await?;
    let status = format!(
        "listening: quic {} http {}",
        cluster.coordinator.quic_addr(),
        cluster.coordinator.http_addr()
    );
    eprintln!(
        "drover coordinator {} {status} (data dir {})",
        drover_protocol::DROVER_VERSION,
        data_dir.display()
    );
    systemd::ready(&status);
    systemd::spawn_watchdog(shutdown.clone());
    let Some(mut reload) = reload else {
        shutdown.cancelled().await;
        return stop(cluster).await;
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return stop(cluster).await,
            Some(()) = reload.requests.recv() => {
                systemd::reloading();
                match Settings::resolve(reload.overrides.clone()) {
                    Ok(next) if next.log_level != log_level => {
                        let level = next.log_level.as_deref().unwrap_or(logging::DEFAULT_FILTER);
                        match reload.log.set(level) {
                            Ok(()) => tracing::info!(log_level = level, "config reloaded"),
                            Err(e) => tracing::error!(cause = %e, "log_level not applied"),
                        }
                        log_level = next.log_level;
                    }
                    Ok(_) => tracing::info!("config reloaded; only log_level applies without a restart"),
                    Err(e) => tracing::error!(cause = %format!("{e:#}"), "config reload failed; the running config stays"),
                }
                systemd::ready(&status);
            }
        }
    }
}

async fn stop(cluster: LocalCluster) -> anyhow::Result<()> {
    systemd::stopping("shutting down");
    cluster.stop().await;
    tracing::info!("coordinator stopped");
    Ok(())
}
