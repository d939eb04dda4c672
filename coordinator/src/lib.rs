//! drover-coordinator: the store, the PKI, the fleet, the QUIC server for agents and
//! operators, and the HTTP listener. It never touches a terminal and never links a learner;
//! the console and `drover coordinator` both start it through [`Coordinator::start`] and
//! reach it through a [`CoordinatorHandle`].
//!
//! - [`net`]: the QUIC listener, admission, enrollment, agent and operator sessions.
//! - [`api`]: the operator API, one request in and one response out.
//! - [`store`]: SQLite behind an awaitable facade ([`store::Db`]), with writer threads for
//!   events and metric points.
//! - [`training`]: runs, placement, the scheduler, spread searches, schedules.
//! - [`reactions`]: cross-domain triggers, driven by the stored event log.
//! - [`registry`]: model versions, stages and aliases; every registration goes through it.
//! - [`rollout`]: moving traffic to a candidate version, analysed, promoted or rolled back.
//! - `datasets`, `events`, `ingest`, [`artifacts`], [`fleet`]: the other domains.
//! - [`mlflow`], [`http`]: the MLflow-compatible API and `/metrics` over HTTP.

pub mod api;
pub mod artifacts;
pub mod audit;
mod datasets;
pub mod deployments;
pub mod drift;
mod events;
pub mod fleet;
mod history;
pub mod http;
mod ingest;
pub mod mlflow;
pub mod net;
pub mod pki;
pub mod quota;
pub mod reactions;
pub mod registry;
pub mod rollout;
pub mod runfile;
mod servable;
mod state;
pub mod store;
#[cfg(test)]
mod testing;
mod throttle;
pub mod training;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use drover_protocol::msg::{Event, EventRecord, OperatorRequest, OperatorResponse};
use drover_protocol::types::unix_ms;
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::artifacts::Artifacts;
use self::events::Events;
use self::fleet::Fleet;
use self::pki::Pki;
use self::runfile::{RunInfo, RunLock};
use self::state::Shared;
use self::store::{Db, Store};

/// What a coordinator needs to start.
#[derive(Debug, Clone)]
pub struct CoordinatorOptions {
    pub data_dir: PathBuf,
    /// QUIC listener for agents and operators.
    pub listen: SocketAddr,
    /// HTTP listener for `/metrics`.
    pub http: SocketAddr,
    /// Address put in join tokens; derived from `listen` when not given.
    pub advertise: Option<String>,
    pub heartbeat_interval: Duration,
    pub max_connections: usize,
    /// HTTPS on the HTTP listener.
    pub http_tls: Option<http::HttpTls>,
    /// Drift and performance monitoring, alert rules and sinks.
    pub monitoring: drift::config::Monitoring,
    /// What one agent may report about serving.
    pub reports: quota::ReportLimits,
}

/// A running coordinator. Stop it with [`Coordinator::stop`].
pub struct Coordinator {
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    endpoint: quinn::Endpoint,
    _lock: RunLock,
}

/// Cloneable in-process access to the operator API, for the embedded console.
#[derive(Clone)]
pub struct CoordinatorHandle {
    shared: Arc<Shared>,
}

impl CoordinatorHandle {
    /// Answers one operator request, exactly as the QUIC operator API would for the data
    /// dir's own operator certificate ([`pki::LOCAL_OPERATOR`]).
    pub async fn request(&self, request: OperatorRequest) -> OperatorResponse {
        api::handle(&self.shared, pki::LOCAL_OPERATOR, request).await
    }

    /// Adds the CSV at `path` as the next version of dataset `name`, as an upload over the
    /// operator API would, made by [`pki::LOCAL_OPERATOR`].
    pub async fn add_dataset(&self, name: &str, path: &std::path::Path) -> OperatorResponse {
        let response = datasets::add_file(&self.shared, name, path).await;
        let request = OperatorRequest::AddDataset(drover_protocol::data::DatasetUpload {
            name: name.into(),
            file_name: path.display().to_string(),
            len: 0,
            blake3: String::new(),
        });
        audit::record(&self.shared, pki::LOCAL_OPERATOR, &request, &response);
        response
    }

    /// Every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EventRecord> {
        self.shared.events.subscribe()
    }

    /// The QUIC address the coordinator really listens on.
    pub fn quic_addr(&self) -> SocketAddr {
        self.shared.quic_addr
    }
}

impl Coordinator {
    /// Opens the data dir (creating the CA and database on first start), binds both listeners
    /// and starts serving.
    pub async fn start(options: CoordinatorOptions) -> anyhow::Result<Self> {
        let data_dir = &options.data_dir;
        options
            .monitoring
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid [monitoring] settings: {e}"))?;
        options
            .reports
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid [agent_reports] settings: {e}"))?;
        create_private_dir(data_dir)?;
        let lock = runfile::acquire(data_dir)?;
        let pki = Pki::load_or_create(data_dir).context("loading the PKI")?;
        let store = {
            let path = data_dir.join("drover.db");
            store::handle::blocking(move || Store::open(&path))
                .await
                .context("opening drover.db")?
        };
        let store = Db::new(store);
        let agents = store.call(|store| store.agents()).await?;
        let fleet = Fleet::new(agents, options.heartbeat_interval);
        let events = Events::start(store.share());
        let ingest = ingest::Ingest::start(store.share());

        let server_config = drover_protocol::tls::server_config(&pki.ca.cert_pem, &pki.server)?;
        let socket = std::net::UdpSocket::bind(options.listen)
            .with_context(|| format!("binding QUIC listener on {}", options.listen))?;
        let endpoint = quinn::Endpoint::new(
            restart_aware_endpoint(&Pki::reset_secret(data_dir)?),
            Some(server_config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )?;
        let quic_addr = endpoint.local_addr()?;
        let http_listener = tokio::net::TcpListener::bind(options.http)
            .await
            .with_context(|| format!("binding HTTP listener on {}", options.http))?;
        let http_addr = http_listener.local_addr()?;
        let http_access = http::Access {
            token: http::bearer_token(data_dir, http_addr)
                .context("reading the HTTP bearer token")?,
            tls: options
                .http_tls
                .as_ref()
                .map(|tls| http::tls_acceptor(tls, &pki.ca))
                .transpose()?,
        };
        let http_tls = http_access.tls.is_some();
        if !http_addr.ip().is_loopback() && !http_tls {
            tracing::warn!(
                %http_addr,
                "the HTTP listener is reachable beyond loopback without TLS: its bearer token and all it serves cross the network in clear; set http_tls_self = true (or http_tls_cert and http_tls_key) in the config"
            );
        }
        let advertise = options
            .advertise
            .clone()
            .unwrap_or_else(|| advertised(quic_addr));

        let shared = Arc::new(Shared {
            ca_sha256: pki.ca_sha256()?,
            store,
            artifacts: Artifacts::open(data_dir).context("opening the artifact store")?,
            fleet,
            events,
            ingest,
            pki,
            advertise,
            quic_addr,
            http_addr,
            started: Instant::now(),
            schedule: tokio::sync::Notify::new(),
            spreads: training::spread::Spreads::default(),
            stopping: training::stopping::Stopping::default(),
            finishing: std::sync::Mutex::new(()),
            rollouts: std::sync::Mutex::new(()),
            rollout_checks: Default::default(),
            windows_arrived: tokio::sync::Notify::new(),
            reports: options.reports,
        });
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        tasks.spawn(net::server::serve(
            endpoint.clone(),
            shared.clone(),
            options.max_connections,
            shutdown.clone(),
        ));
        tasks.spawn(http::serve(
            http_listener,
            mlflow::Api(shared.clone()),
            http_access,
            shutdown.clone(),
        ));
        tasks.spawn(upkeep(shared.clone(), shutdown.clone()));
        tasks.spawn(training::scheduler::run(shared.clone(), shutdown.clone()));
        tasks.spawn(reactions::run(shared.clone(), shutdown.clone()));
        tasks.spawn(rollout::controller::run(shared.clone(), shutdown.clone()));
        let sinks = drift::sinks::Sinks {
            webhook: options.monitoring.webhook.clone(),
            command: options.monitoring.command.clone(),
        };
        if sinks.webhook.is_some() || sinks.command.is_some() {
            tasks.spawn(drift::sinks::run(shared.clone(), sinks, shutdown.clone()));
        }
        tasks.spawn(drift::run(
            shared.clone(),
            options.monitoring.clone(),
            shutdown.clone(),
        ));
        runfile::write(
            data_dir,
            &RunInfo {
                pid: std::process::id(),
                quic_addr: quic_addr.to_string(),
                http_addr: http_addr.to_string(),
                version: drover_protocol::DROVER_VERSION.into(),
                started_ms: unix_ms(),
                http_tls,
            },
        )?;
        tracing::info!(%quic_addr, %http_addr, data_dir = %data_dir.display(), "coordinator listening");
        Ok(Self {
            shared,
            shutdown,
            tasks,
            endpoint,
            _lock: lock,
        })
    }

    /// In-process access to the operator API.
    pub fn handle(&self) -> CoordinatorHandle {
        CoordinatorHandle {
            shared: self.shared.clone(),
        }
    }

    /// The QUIC address it listens on.
    pub fn quic_addr(&self) -> SocketAddr {
        self.shared.quic_addr
    }

    /// The HTTP address it listens on.
    pub fn http_addr(&self) -> SocketAddr {
        self.shared.http_addr
    }

    /// Stops accepting, ends every session, flushes heartbeat times and waits for the tasks.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain)
            .await
            .is_err()
        {
            tracing::warn!("coordinator tasks did not stop within 5 s");
        }
        flush_last_seen(&self.shared).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

/// An endpoint config whose connection ids and stateless-reset tokens derive from a secret
/// kept in the data dir. After a crash and restart the new process recognises the old
/// connection ids and answers them with a valid stateless reset, so agents reconnect at once.
fn restart_aware_endpoint(secret: &[u8]) -> quinn::EndpointConfig {
    let digest = drover_protocol::pki::sha256(&[secret, b"drover connection ids"].concat());
    let cid_key = u64::from_le_bytes(digest[..8].try_into().expect("8 of 32 bytes"));
    let mut config = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        secret,
    )));
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    config
}

/// The address agents should dial when the listener is bound to every interface.
fn advertised(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        let host = if host.is_empty() {
            "localhost".to_string()
        } else {
            host
        };
        format!("{host}:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// Creates the data dir readable by its owner only; an existing one that others can read is
/// used, with a warning naming the fix (it holds the CA key and the store).
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating data dir {}", dir.display()))?;
    }
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("reading data dir {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            data_dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "the data dir is open to other users; run: chmod 700 {}",
            dir.display()
        );
    }
    Ok(())
}

/// Marks silent agents lost, keeps gauges current and stores heartbeat times in batches.
async fn upkeep(shared: Arc<Shared>, shutdown: CancellationToken) {
    let period = (shared.fleet.interval() / 2).max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_flush = Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        for (id, silent) in shared.fleet.expire(now) {
            let reason = format!("no heartbeat for {:.1}s", silent.as_secs_f64());
            shared.events.publish(Event::AgentLost { id, reason });
        }
        metrics::gauge!("drover_heartbeat_lag_seconds")
            .set(shared.fleet.max_lag(now).as_secs_f64());
        let (ready, total) = shared.fleet.counts();
        metrics::gauge!("drover_agents_ready").set(ready as f64);
        metrics::gauge!("drover_agents_enrolled").set(total as f64);
        if now.duration_since(last_flush) >= shared.fleet.interval() {
            last_flush = now;
            flush_last_seen(&shared).await;
            count_stored(&shared).await;
        }
    }
}

/// The `/metrics` gauges read from the store: runs by status, model versions by stage.
async fn count_stored(shared: &Arc<Shared>) {
    let counts = shared
        .store
        .call(|store| Ok::<_, store::StoreError>((store.run_counts()?, store.version_counts()?)))
        .await;
    match counts {
        Ok((runs, versions)) => {
            for status in ["queued", "running", "succeeded", "failed", "cancelled"] {
                let n = runs
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("drover_runs", "status" => status).set(n as f64);
            }
            for stage in ["none", "staging", "production", "archived"] {
                let n = versions
                    .iter()
                    .find(|(s, _)| s == stage)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("drover_model_versions", "stage" => stage).set(n as f64);
            }
        }
        Err(e) => tracing::error!(cause = %e, "could not count runs and versions"),
    }
}

async fn flush_last_seen(shared: &Arc<Shared>) {
    let seen = shared.fleet.take_seen();
    let written = shared
        .store
        .call(move |store| store.record_last_seen(&seen))
        .await;
    if let Err(e) = written {
        tracing::error!(cause = %e, "could not store heartbeat times");
    }
}
