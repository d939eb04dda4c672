//! Helpers for the end-to-end tests: in-process coordinators and agents on 127.0.0.1 with
//! port 0 and temporary dirs, real `drover`/`drover-agent` processes, and waiting on
//! conditions with a deadline instead of fixed sleeps.

pub mod drift;
pub mod listener;
pub mod logs;
pub mod mlflow;
pub mod procs;
pub mod raw_agent;
pub mod rollouts;

pub use procs::*;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use drover_agent::config::AgentConfig;
use drover_coordinator::{Coordinator, CoordinatorHandle, CoordinatorOptions};
use drover_protocol::conn::{FramedRecv, FramedSend, accept_bi};
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::pki::{self, CertifiedKeyPem, Role};
use drover_protocol::run::RunDetail;
use drover_protocol::types::{AgentId, AgentInfo, AgentStatus, parse_labels};
use drover_protocol::{dial, tls};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Heartbeat interval used by every test coordinator: lost within 0.6 s.
pub const HEARTBEAT: Duration = Duration::from_millis(200);
/// Longest any test waits for a condition.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Options for a coordinator on loopback with free ports.
pub fn options(data_dir: &Path) -> CoordinatorOptions {
    CoordinatorOptions {
        data_dir: data_dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().expect("literal address"),
        http: "127.0.0.1:0".parse().expect("literal address"),
        advertise: None,
        heartbeat_interval: HEARTBEAT,
        max_connections: 100,
        http_tls: None,
        monitoring: Default::default(),
        reports: Default::default(),
    }
}

/// Starts an in-process coordinator on `data_dir`.
pub async fn start_coordinator(data_dir: &Path) -> Coordinator {
    Coordinator::start(options(data_dir))
        .await
        .expect("coordinator starts")
}

/// A QUIC connection to `coordinator` (data in `data_dir`) that presents `identity`, or no
/// certificate, and has sent nothing yet: for tests that speak the protocol by hand.
pub async fn connect_raw(
    coordinator: &Coordinator,
    data_dir: &Path,
    identity: Option<&CertifiedKeyPem>,
) -> Result<quinn::Connection, String> {
    let addr = coordinator.quic_addr();
    let ca = std::fs::read_to_string(data_dir.join("pki/ca.pem")).map_err(|e| e.to_string())?;
    let endpoint = dial::endpoint_for(addr).map_err(|e| e.to_string())?;
    let config = tls::client_config(&ca, identity).map_err(|e| e.to_string())?;
    dial::connect(&endpoint, config, addr)
        .await
        .map_err(|e| e.to_string())
}

/// A QUIC server with its own CA, for tests that play the coordinator by hand, and the state
/// dir of an agent that trusts it (saved in `state_dir`, agent id `agent`).
pub struct FakeCoordinator {
    pub endpoint: quinn::Endpoint,
    pub addr: SocketAddr,
}

impl FakeCoordinator {
    /// Binds on loopback and saves a matching agent identity into `state_dir`.
    pub fn start(state_dir: &Path, agent: &str) -> Self {
        let ca = pki::new_ca("fake").expect("ca");
        let server = pki::issue(&ca, Role::Coordinator, "coordinator").expect("server cert");
        let identity = pki::issue(&ca, Role::Agent, agent).expect("agent cert");
        let endpoint = quinn::Endpoint::server(
            tls::server_config(&ca.cert_pem, &server).expect("config"),
            "127.0.0.1:0".parse().expect("addr"),
        )
        .expect("bind");
        let addr = endpoint.local_addr().expect("addr");
        drover_agent::state::AgentState {
            agent_id: AgentId(agent.into()),
            coordinator: addr.to_string(),
            ca_pem: ca.cert_pem.clone(),
            identity,
            labels: None,
        }
        .save(state_dir)
        .expect("state");
        Self { endpoint, addr }
    }

    /// The agent config to run against it from `state_dir`.
    pub fn agent_config(state_dir: &Path, shutdown_grace: Duration) -> AgentConfig {
        AgentConfig {
            state_dir: state_dir.to_path_buf(),
            labels: Default::default(),
            http: None,
            job_slots: 1,
            coordinator: None,
            hostname: None,
            shutdown_grace,
            log_level: None,
            serving_window: drover_agent::config::DEFAULT_SERVING_WINDOW,
            http_tls: None,
        }
    }

    /// Accepts the agent's connection and its control stream.
    pub async fn accept(&self) -> (quinn::Connection, FramedSend, FramedRecv) {
        let conn = self
            .endpoint
            .accept()
            .await
            .expect("incoming")
            .await
            .expect("handshake");
        let (send, recv) = accept_bi(&conn).await.expect("stream");
        (conn, send, recv)
    }
}

/// A join token from the coordinator.
pub async fn token(handle: &CoordinatorHandle, uses: u32, ttl_secs: u64) -> String {
    match handle
        .request(OperatorRequest::CreateToken { ttl_secs, uses })
        .await
    {
        OperatorResponse::Token(t) => t.token,
        other => panic!("token request failed: {other:?}"),
    }
}

/// Every agent the coordinator knows.
pub async fn agents(handle: &CoordinatorHandle) -> Vec<AgentInfo> {
    match handle.request(OperatorRequest::ListAgents).await {
        OperatorResponse::Agents(a) => a,
        other => panic!("list failed: {other:?}"),
    }
}

/// How many agents are ready.
pub async fn ready_count(handle: &CoordinatorHandle) -> usize {
    agents(handle)
        .await
        .iter()
        .filter(|a| a.status == AgentStatus::Ready)
        .count()
}

/// An agent running inside the test process, enrolled through a real token.
pub struct InProcessAgent {
    pub id: AgentId,
    pub state_dir: PathBuf,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl InProcessAgent {
    /// Joins with a fresh token and runs the agent.
    pub async fn join_and_run(
        handle: &CoordinatorHandle,
        state_dir: PathBuf,
        hostname: &str,
    ) -> Self {
        let token = token(handle, 1, 60).await;
        let state = drover_agent::enroll::join(&token, &state_dir, None, hostname)
            .await
            .expect("agent joins");
        let config = AgentConfig {
            state_dir: state_dir.clone(),
            labels: parse_labels("role=train,serve").expect("labels"),
            http: None,
            job_slots: 1,
            coordinator: None,
            hostname: Some(hostname.to_string()),
            shutdown_grace: std::time::Duration::ZERO,
            log_level: None,
            serving_window: drover_agent::config::DEFAULT_SERVING_WINDOW,
            http_tls: None,
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(drover_agent::run(config, stop.clone()));
        Self {
            id: state.agent_id,
            state_dir,
            stop,
            task,
        }
    }

    /// Waits for the agent to end by itself and returns how its run ended.
    pub async fn ended(self) -> anyhow::Result<()> {
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("agent ends in time")
            .expect("agent task does not panic")
    }

    /// Stops the agent cleanly and returns how its run ended.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await.expect("agent task does not panic")
    }
}

/// Polls `check` until it yields `Some`, panicking with `what` after [`PATIENCE`].
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A synthetic churn table as CSV.
pub fn churn_csv(rows: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    drover::cli::synth::churn(
        drover::cli::synth::ChurnOptions {
            rows,
            seed,
            drift: 0.0,
        },
        &mut out,
    )
    .expect("synth");
    out
}

/// Uploads `csv` as the next version of dataset `name` through the operator API over QUIC.
pub async fn add_dataset(data_dir: &Path, name: &str, csv: &[u8]) {
    let path = data_dir.with_file_name(format!("{name}-upload.csv"));
    std::fs::write(&path, csv).expect("write");
    let client = drover::client::OperatorClient::for_data_dir(data_dir, None)
        .await
        .expect("operator");
    let added = client
        .upload_dataset(name, &path, &mut |_, _| {})
        .await
        .expect("upload");
    assert!(
        matches!(added, OperatorResponse::DatasetAdded(_)),
        "{added:?}"
    );
    client.close().await;
}

/// The quickest training spec: Gaussian naive Bayes on the `churn` dataset, in `experiment`.
pub fn quick_spec(experiment: &str) -> String {
    format!(
        r#"
experiment = "{experiment}"
model = "churn"
dataset = "churn@latest"
target = "churned"
task = "classification"
algorithm = "gaussian_nb"
seed = 7
"#
    )
}

/// An in-process coordinator on `dir/coord` holding a 300-row `churn` dataset; returns it and
/// its data dir.
pub async fn coordinator_with_churn(dir: &Path) -> (Coordinator, PathBuf) {
    let data = dir.join("coord");
    let coordinator = start_coordinator(&data).await;
    add_dataset(&data, "churn", &churn_csv(300, 7)).await;
    (coordinator, data)
}

/// Queues the spec in `toml`; the run id, or the coordinator's reason.
pub async fn submit(handle: &CoordinatorHandle, toml: &str) -> Result<String, String> {
    let spec = drover_protocol::spec::TrainSpec::from_toml(toml).expect("spec");
    match handle
        .request(OperatorRequest::SubmitRun(Box::new(spec)))
        .await
    {
        OperatorResponse::RunQueued(run) => Ok(run.id),
        OperatorResponse::Error(e) => Err(e.message),
        other => panic!("unexpected {other:?}"),
    }
}

/// Everything recorded about run `id`.
/// A run's metric history as stored in the coordinator's database under `data_dir`, read on
/// the blocking pool as the store requires.
pub async fn metric_history(data_dir: &Path, run: &str, key: &str) -> Vec<(u64, f64)> {
    let (path, run, key) = (data_dir.join("drover.db"), run.to_string(), key.to_string());
    drover_coordinator::store::handle::blocking(move || {
        drover_coordinator::store::Store::open(&path)
            .expect("store")
            .metric_history(&run, &key)
            .expect("history")
    })
    .await
}

pub async fn run_detail(handle: &CoordinatorHandle, id: &str) -> RunDetail {
    match handle
        .request(OperatorRequest::ShowRun { id: id.into() })
        .await
    {
        OperatorResponse::Run(run) => *run,
        other => panic!("no run {id}: {other:?}"),
    }
}

/// Waits for run `id` to end and returns it.
/// Waits until run `id` has ended and, when it passed its gates, until the reaction that
/// registers its model has run.
pub async fn finished(handle: &CoordinatorHandle, id: &str) -> RunDetail {
    wait_for("the run to end", || async {
        let run = run_detail(handle, id).await;
        let registering = run.summary.gates_passed == Some(true) && run.registered.is_none();
        (run.summary.status.is_final() && !registering).then_some(run)
    })
    .await
}

/// Trains [`quick_spec`] of `experiment` on the agents there are and waits for it to be
/// registered; the version it became (`churn@N`).
pub async fn train_registered(handle: &CoordinatorHandle, experiment: &str) -> String {
    let run = submit(handle, &quick_spec(experiment))
        .await
        .expect("queued");
    finished(handle, &run)
        .await
        .registered
        .expect("the run passed its gates and was registered")
}

/// Blobs in a coordinator's artifact store (the temporary directory not counted).
pub fn blobs(data_dir: &Path) -> usize {
    std::fs::read_dir(data_dir.join("artifacts"))
        .expect("artifacts dir")
        .flatten()
        .filter(|e| e.file_name() != "tmp")
        .map(|e| std::fs::read_dir(e.path()).map_or(0, |d| d.count()))
        .sum()
}
