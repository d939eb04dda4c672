//! Test support: a coordinator's shared state on a temporary store, with no socket, no
//! certificate and no runtime, for unit tests of the domain code (placement, schedules,
//! registration, reactions). Agents "connect" as command channels.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_protocol::data::DatasetVersion;
use drover_protocol::msg::AgentCommand;
use drover_protocol::pki::CertifiedKeyPem;
use drover_protocol::types::{AgentId, Capacity, Labels};
use tokio::sync::mpsc;

use crate::artifacts::Artifacts;
use crate::events::Events;
use crate::fleet::Fleet;
use crate::ingest::Ingest;
use crate::pki::Pki;
use crate::state::Shared;
use crate::store::{AgentRecord, Db, Store};

/// A spec on the `churn` dataset: logistic regression over a grid of four `alpha` values.
pub const SPEC: &str = r#"
experiment = "churn"
model = "churn"
dataset = "churn@latest"
target = "churned"
task = "classification"
algorithm = "logistic_regression"
[search]
params = { alpha = [0.0, 0.1, 1.0, 3.0] }
"#;

/// Queues a run of the spec in `toml`; returns its id.
pub fn queue(shared: &Shared, toml: &str) -> String {
    let spec = drover_protocol::spec::TrainSpec::from_toml(toml).expect("spec");
    crate::training::runs::submit(shared, spec)
        .expect("queued")
        .id
}

/// Shared state on a fresh store in `dir`. The PKI is empty: nothing here signs.
pub fn shared(dir: &Path) -> Arc<Shared> {
    let store = Db::new(Store::open(&dir.join("drover.db")).expect("store"));
    let empty = || CertifiedKeyPem {
        cert_pem: String::new(),
        key_pem: String::new(),
    };
    Arc::new(Shared {
        events: Events::start(store.share()),
        ingest: Ingest::start(store.share()),
        store,
        artifacts: Artifacts::open(dir).expect("artifacts"),
        fleet: Fleet::new(Vec::new(), Duration::from_secs(1)),
        pki: Pki {
            ca: empty(),
            server: empty(),
            operator: empty(),
        },
        ca_sha256: [0; 32],
        advertise: "127.0.0.1:7400".into(),
        quic_addr: "127.0.0.1:7400".parse().expect("address"),
        http_addr: "127.0.0.1:7401".parse().expect("address"),
        started: Instant::now(),
        schedule: tokio::sync::Notify::new(),
        spreads: Default::default(),
        stopping: Default::default(),
        finishing: Default::default(),
        rollouts: Default::default(),
        rollout_checks: Default::default(),
        windows_arrived: tokio::sync::Notify::new(),
        reports: Default::default(),
    })
}

/// Starts queued run `id` on `ag-1` and ends it succeeded with test accuracy 0.9, the given
/// gate verdict and artifact, as an agent would report it; whether the store took the end.
pub fn succeed(shared: &Shared, id: &str, gates_passed: bool, artifact_hash: &str) -> bool {
    use drover_protocol::msg::Event;
    use drover_protocol::run::RunStatus;
    let store = shared.store.sync();
    assert!(store.start_run(id, "ag-1", 1).expect("start"));
    let metrics = [("accuracy".to_string(), 0.9)].into();
    let end = crate::store::FinishedRun {
        status: RunStatus::Succeeded,
        params: None,
        metrics: Some(&metrics),
        gates_passed: Some(gates_passed),
        gate_failures: Vec::new(),
        artifact_hash: Some(artifact_hash),
        rows: Some((48, 12)),
        error: None,
        finished_ms: 2,
    };
    let event = Event::RunFinished {
        id: id.to_string(),
        status: RunStatus::Succeeded,
        detail: String::new(),
    };
    store.finish_run(id, &end, event).expect("finish").is_some()
}

/// Stores `csv` as the next version of dataset `name`, as an upload would; returns it.
pub fn dataset(shared: &Shared, name: &str, csv: &str) -> DatasetVersion {
    let table = drover_ml::table::parse(csv.as_bytes()).expect("csv");
    let draft = DatasetVersion {
        name: name.into(),
        version: 0,
        hash: drover_protocol::data::content_hash(csv.as_bytes()),
        size_bytes: csv.len() as u64,
        rows: table.rows as u64,
        profile: drover_ml::profile::profile(&table),
        schema: table.schema,
        changes: Vec::new(),
        source: format!("{name}.csv"),
        created_ms: drover_protocol::types::unix_ms(),
    };
    let (added, _) = shared.store.sync().add_dataset(draft).expect("add");
    added.version
}

/// A small two-class CSV with a `churned` target.
pub fn churn_csv(rows: usize) -> String {
    let mut csv = String::from("tenure,plan,churned\n");
    for i in 0..rows {
        let plan = ["basic", "pro"][i % 2];
        csv.push_str(&format!("{},{plan},{}\n", i % 40, (i % 3 == 0) as u8));
    }
    csv
}

/// Agent `id` as enrolled and never seen: no labels, no capacity, hostname `id`.
pub fn record(id: &str) -> AgentRecord {
    AgentRecord {
        id: AgentId(id.into()),
        hostname: id.into(),
        labels: Default::default(),
        version: drover_protocol::DROVER_VERSION.into(),
        address: String::new(),
        cert_sha256: String::new(),
        capacity: None,
        enrolled_ms: 0,
        last_seen_ms: None,
        labels_fixed: true,
        claimed: Default::default(),
    }
}

/// Enrolls and connects agent `name` with `slots` training slots; returns its command
/// channel's receiving end, where the jobs sent to it arrive.
pub fn agent(shared: &Shared, name: &str, slots: u32) -> mpsc::Receiver<AgentCommand> {
    let (commands, received) = mpsc::channel(16);
    let record = AgentRecord {
        labels: Labels::from([("role".to_string(), "train".to_string())]),
        address: "127.0.0.1:1".into(),
        capacity: Some(Capacity {
            cpus: slots,
            memory_bytes: 1 << 30,
            job_slots: slots,
        }),
        ..record(name)
    };
    shared.fleet.enrolled(record.clone());
    shared.fleet.connect(record, commands);
    received
}
