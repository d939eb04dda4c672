//! `drover-agent sim`: many agents in one process, each with its own certificate, socket and
//! session, heartbeating like real ones. For measuring the coordinator under a fleet; bounded
//! in time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use drover_protocol::msg::AgentHello;
use drover_protocol::types::{Capacity, parse_labels};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::enroll;
use crate::host::HostProbe;
use crate::jobs::Runner;
use crate::link::{self, Link, Presence, Stops};
use crate::state::AgentState;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// A token with at least `count` uses (only needed for agents not enrolled yet).
    pub token: Option<String>,
    pub count: usize,
    pub duration: Duration,
    /// Holds one sub-directory of state per simulated agent, reused across runs.
    pub state_dir: PathBuf,
    pub coordinator: Option<String>,
}

/// What a simulation saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimReport {
    pub agents: usize,
    pub enroll_secs: f64,
    pub connect_secs: f64,
    pub connected_at_end: usize,
}

const ENROLL_CONCURRENCY: usize = 16;

async fn identities(options: &SimOptions) -> anyhow::Result<Vec<AgentState>> {
    let limit = Arc::new(Semaphore::new(ENROLL_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for i in 0..options.count {
        let dir = options.state_dir.join(format!("sim-{i:05}"));
        let (token, coordinator, limit) = (
            options.token.clone(),
            options.coordinator.clone(),
            limit.clone(),
        );
        tasks.spawn(async move {
            if let Some(state) = AgentState::load(&dir)? {
                return Ok::<_, anyhow::Error>((i, state));
            }
            let _permit = limit.acquire_owned().await?;
            let token = token
                .context("simulated agents are not enrolled yet: pass --token with enough uses")?;
            let state =
                enroll::join(&token, &dir, coordinator.as_deref(), &format!("sim-{i:05}")).await?;
            Ok((i, state))
        });
    }
    let mut states = Vec::with_capacity(options.count);
    while let Some(joined) = tasks.join_next().await {
        states.push(joined??);
    }
    states.sort_by_key(|(i, _)| *i);
    Ok(states.into_iter().map(|(_, s)| s).collect())
}

/// Enrolls (once) and runs `count` agents for `duration`, then stops them all.
pub async fn run(options: SimOptions, shutdown: CancellationToken) -> anyhow::Result<SimReport> {
    let started = Instant::now();
    let states = identities(&options).await?;
    let enroll_secs = started.elapsed().as_secs_f64();
    let stop = shutdown.child_token();
    let labels = parse_labels("role=sim").map_err(anyhow::Error::msg)?;
    let mut links = JoinSet::new();
    let mut ready = Vec::with_capacity(states.len());
    for (i, state) in states.into_iter().enumerate() {
        let (connected, watch_rx) = watch::channel(false);
        ready.push(watch_rx);
        let hello = AgentHello {
            hostname: format!("sim-{i:05}"),
            labels: labels.clone(),
            capacity: Capacity {
                cpus: 1,
                memory_bytes: 1 << 30,
                job_slots: 1,
            },
        };
        let coordinator = options
            .coordinator
            .clone()
            .unwrap_or_else(|| state.coordinator.clone());
        let stop = stop.clone();
        let sim_dir = options.state_dir.join(format!("sim-{i:05}"));
        let jobs = Runner::new(&sim_dir);
        links.spawn(async move {
            let presence = Presence {
                hello,
                grace: Duration::ZERO,
            };
            link::run(Link {
                state: &state,
                coordinator: &coordinator,
                presence: watch::channel(presence).1,
                probe: HostProbe::disabled(),
                connected,
                jobs,
                catalog: Default::default(),
                cache_dir: sim_dir.join("cache"),
                serving_window: crate::config::DEFAULT_SERVING_WINDOW,
                stops: Stops::immediate(stop),
            })
            .await
        });
    }
    let connect_started = Instant::now();
    let count_connected =
        |ready: &[watch::Receiver<bool>]| ready.iter().filter(|r| *r.borrow()).count();
    while count_connected(&ready) < ready.len() && connect_started.elapsed() < options.duration {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    tracing::info!(
        connected = count_connected(&ready),
        secs = connect_secs,
        "simulated fleet connected"
    );
    tokio::select! {
        _ = tokio::time::sleep(options.duration) => {}
        _ = shutdown.cancelled() => {}
    }
    let connected_at_end = count_connected(&ready);
    stop.cancel();
    while let Some(result) = links.join_next().await {
        if let Ok(Err(e)) = result {
            tracing::warn!(cause = %e, "simulated agent ended with an error");
        }
    }
    Ok(SimReport {
        agents: ready.len(),
        enroll_secs,
        connect_secs,
        connected_at_end,
    })
}
