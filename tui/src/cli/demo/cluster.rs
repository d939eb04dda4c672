//! A whole cluster in this process for the demo and the rollout benchmark: a coordinator on
//! loopback in a data dir of its own, and an agent that trains and serves, with its
//! prediction listener on a free loopback port.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use drover_coordinator::{Coordinator, CoordinatorHandle, CoordinatorOptions};
use drover_protocol::types::parse_labels;

use crate::cli::Ctx;
use crate::local_agent::{self, LocalAgent};

/// A coordinator and one training and serving agent.
pub struct Cluster {
    coordinator: Coordinator,
    agent: LocalAgent,
    /// The agent's prediction listener.
    pub http: SocketAddr,
    /// The coordinator's data dir, as the CLI's verbs take it.
    pub ctx: Ctx,
    /// The agent's feedback token.
    pub feedback_token: String,
}

impl Cluster {
    /// Starts both in `data_dir`; the agent closes a serving window every `window`.
    pub async fn start(
        data_dir: &Path,
        window: Duration,
        monitoring: drover_coordinator::drift::config::Monitoring,
    ) -> anyhow::Result<Self> {
        let coordinator = Coordinator::start(CoordinatorOptions {
            data_dir: data_dir.to_path_buf(),
            listen: "127.0.0.1:0".parse()?,
            http: "127.0.0.1:0".parse()?,
            advertise: None,
            heartbeat_interval: Duration::from_secs(1),
            max_connections: 100,
            http_tls: None,
            monitoring,
            reports: Default::default(),
        })
        .await?;
        let http = SocketAddr::from(([127, 0, 0, 1], crate::cli::free_port()?));
        let agent = local_agent::start_with(
            &coordinator.handle(),
            local_agent::Options {
                state_dir: data_dir.join("demo-agent"),
                labels: parse_labels("role=train,serve").map_err(anyhow::Error::msg)?,
                http: Some(http),
                serving_window: window,
            },
        )
        .await?;
        let feedback_token = agent
            .feedback_token
            .clone()
            .context("the demo's agent has no feedback token")?;
        Ok(Self {
            feedback_token,
            coordinator,
            agent,
            http,
            ctx: Ctx {
                data_dir: data_dir.to_path_buf(),
                address: None,
            },
        })
    }

    /// In-process access to the operator API.
    pub fn handle(&self) -> CoordinatorHandle {
        self.coordinator.handle()
    }

    /// Stops the agent, then the coordinator.
    pub async fn stop(self) {
        self.agent.stop().await;
        self.coordinator.stop().await;
    }
}
