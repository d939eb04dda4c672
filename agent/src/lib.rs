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
//! - [`signal`]: SIGTERM/Ctrl-C as cancellation tokens, SIGHUP as reload requests.
//! - [`cli_docs`]: shell completions and man pages.
//! - [`logging`]: text or JSON logs on stderr with a reloadable filter.
//! - [`pipe`]: ending quietly when stdout's reader goes away.
//! - [`systemd`]: readiness, status and watchdog notifications.
//! - [`sim`]: many simulated agents in one process, for fleet benchmarks.

pub mod cli_docs;
pub mod config;
pub mod enroll;
pub mod host;
pub mod http;
pub mod jobs;
pub mod link;
pub mod logging;
pub mod pipe;
pub mod serve;
pub mod signal;
pub mod sim;
pub mod state;
pub mod systemd;
pub mod train;

use std::sync::Arc;

use anyhow::Context;
use drover_protocol::msg::AgentHello;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{AgentConfig, AgentOverrides};
use crate::host::HostProbe;
use crate::link::{Link, Presence, Stops};
use crate::logging::LogFilter;
use crate::serve::catalog::Catalog;
use crate::state::AgentState;

/// How a running agent is driven from outside: when to stop, and config reloads.
pub struct Lifecycle {
    pub stops: Stops,
    pub reload: Option<Reload>,
}

/// Config reload requests (SIGHUP): the config is resolved again from the same overrides.
pub struct Reload {
    pub requests: mpsc::Receiver<()>,
    pub overrides: AgentOverrides,
    /// The logger whose filter `log_level` sets.
    pub log: Option<LogFilter>,
}

/// Runs the agent until `shutdown` fires (then at once) or the coordinator refuses it.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let lifecycle = Lifecycle {
        stops: Stops::immediate(shutdown),
        reload: None,
    };
    run_with(config, lifecycle).await
}

/// Runs the agent until it is stopped or the coordinator refuses it. A drain takes no new
/// jobs, gives running ones the grace period, then stops serving HTTP and exits.
pub async fn run_with(config: AgentConfig, lifecycle: Lifecycle) -> anyhow::Result<()> {
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
    // Installed before anything records, so /metrics shows every series from the start.
    drover_protocol::telemetry::prometheus();
    let (connected, ready) = watch::channel(false);
    let stopped = CancellationToken::new();
    let _stop_helpers = stopped.clone().drop_guard();
    let catalog = Arc::new(Catalog::default());
    let http = match config.http {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding HTTP listener on {addr}"))?;
            let access = http_access(&config, listener.local_addr()?)?;
            tracing::info!(
                http = %listener.local_addr()?,
                https = access.tls.is_some(),
                token = access.token.is_some(),
                "agent HTTP listening"
            );
            Some(tokio::spawn(http::serve(
                listener,
                ready.clone(),
                catalog.clone(),
                access,
                stopped.clone(),
            )))
        }
        None => None,
    };
    let mut probe = HostProbe::new();
    let presence = Presence {
        hello: AgentHello {
            hostname: config.hostname.clone().unwrap_or_else(host::hostname),
            labels: config.labels.clone(),
            capacity: probe.capacity(config.job_slots),
        },
        grace: config.shutdown_grace,
    };
    let (presence_tx, presence_rx) = watch::channel(presence);
    systemd::spawn_watchdog(stopped.clone());
    tokio::spawn(announce(ready, coordinator.clone()));
    let (drain, done) = (lifecycle.stops.drain.clone(), stopped.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = drain.cancelled() => systemd::stopping("draining"),
            _ = done.cancelled() => {}
        }
    });
    if let Some(reload) = lifecycle.reload {
        tokio::spawn(reload_loop(reload, config.clone(), presence_tx));
    }
    tracing::info!(agent = %state.agent_id, %coordinator, "agent starting");
    let link = Link {
        state: &state,
        coordinator: &coordinator,
        presence: presence_rx,
        probe,
        connected,
        jobs: jobs::Runner::new(&config.state_dir),
        catalog,
        cache_dir: config.state_dir.join("cache"),
        serving_window: config.serving_window,
        stops: lifecycle.stops,
    };
    let result = link::run(link).await;
    stopped.cancel();
    if let Some(http) = http {
        let _ = http.await;
    }
    result?;
    tracing::info!("agent stopped");
    Ok(())
}

/// How the HTTP listener on `addr` is reached: HTTPS when the config names a certificate, the
/// bearer token when it is bound beyond loopback (or one is on file), and the feedback token
/// (always; created on first start).
fn http_access(config: &AgentConfig, addr: std::net::SocketAddr) -> anyhow::Result<http::Access> {
    let path = config.state_dir.join(http::TOKEN_FILE);
    let existed = path.exists();
    let token = drover_protocol::http::bearer_token(&path, addr, "drva_")
        .with_context(|| format!("the HTTP bearer token in {}", path.display()))?;
    if token.is_some() && !existed {
        tracing::info!(
            path = %path.display(),
            "the HTTP listener is not loopback: clients need the bearer token in this file"
        );
    }
    let tls = match &config.http_tls {
        Some(files) => Some(drover_protocol::http::tls_from_files(
            &files.cert,
            &files.key,
        )?),
        None => None,
    };
    if !addr.ip().is_loopback() && tls.is_none() {
        tracing::warn!(
            http = %addr,
            "the HTTP listener is reachable beyond loopback without TLS: its bearer tokens, predictions and feedback cross the network in clear; set http_tls_cert and http_tls_key in the agent's config"
        );
    }
    let feedback_token = http::feedback_token(&config.state_dir).with_context(|| {
        format!(
            "the feedback token in {}",
            config.state_dir.join(http::FEEDBACK_TOKEN_FILE).display()
        )
    })?;
    Ok(http::Access {
        token,
        tls,
        feedback_token: Some(feedback_token),
    })
}

/// Tells systemd the agent is ready the first time it connects, and keeps its status line
/// current.
async fn announce(mut connected: watch::Receiver<bool>, coordinator: String) {
    let mut announced = false;
    while connected.changed().await.is_ok() {
        let up = *connected.borrow_and_update();
        let status = match up {
            true => format!("connected to {coordinator}"),
            false => format!("not taking jobs from {coordinator}"),
        };
        match (up, announced) {
            (true, false) => {
                systemd::ready(&status);
                announced = true;
            }
            _ => systemd::status(&status),
        }
    }
}

/// Reads the config again on every request and applies what can change while running.
async fn reload_loop(
    mut reload: Reload,
    mut current: AgentConfig,
    presence: watch::Sender<Presence>,
) {
    while reload.requests.recv().await.is_some() {
        systemd::reloading();
        match AgentConfig::resolve(reload.overrides.clone()) {
            Ok(next) => {
                apply(&current, &next, &presence, reload.log.as_ref());
                current = next;
            }
            Err(e) => {
                tracing::error!(cause = %format!("{e:#}"), "config reload failed; the running config stays");
            }
        }
        systemd::ready("config reloaded");
    }
}

/// Applies a reloaded config: labels, job slots, grace period and log level take effect now;
/// the rest is reported as needing a restart.
fn apply(
    current: &AgentConfig,
    next: &AgentConfig,
    presence: &watch::Sender<Presence>,
    log: Option<&LogFilter>,
) {
    if next.log_level != current.log_level
        && let Some(log) = log
    {
        let directives = next.log_level.as_deref().unwrap_or(logging::DEFAULT_FILTER);
        if let Err(e) = log.set(directives) {
            tracing::error!(cause = %e, "log_level not applied");
        }
    }
    let restart: Vec<&str> = [
        ("state_dir", current.state_dir != next.state_dir),
        ("http", current.http != next.http),
        ("coordinator", current.coordinator != next.coordinator),
        ("hostname", current.hostname != next.hostname),
    ]
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect();
    if !restart.is_empty() {
        tracing::warn!(keys = ?restart, "these settings changed and apply after a restart");
    }
    presence.send_modify(|p| {
        p.hello.labels = next.labels.clone();
        p.hello.capacity.job_slots = next.job_slots;
        p.grace = next.shutdown_grace;
    });
    tracing::info!(labels = ?next.labels, job_slots = next.job_slots, grace = ?next.shutdown_grace, "config reloaded");
}
