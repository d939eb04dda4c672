//! Training runs: jobs handed to agents, what agents report back, and runs as operators see
//! them (status, trials, metrics, lineage).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hash::ContentHash;
use crate::spec::{Params, TrainSpec};

/// Metric name to value.
pub type Metrics = BTreeMap<String, f64>;

/// The tag a run's detail carries when its model is byte-identical to an existing version
/// (`model@N`), which `registered` then names: nothing new was registered.
pub const SAME_MODEL_TAG: &str = "drover.same_model_as";

/// One hyperparameter combination, cross-validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub trial: u32,
    pub params: Params,
    /// Metrics of each fold, in fold order.
    #[serde(with = "crate::float::maps")]
    pub folds: Vec<Metrics>,
    /// Mean over the folds.
    #[serde(with = "crate::float::map")]
    pub mean: Metrics,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    /// True once the run will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    /// Parses the lower-case name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.to_string() == text)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        })
    }
}

/// The dataset version a job trains on, pinned by hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetPin {
    pub name: String,
    pub version: u32,
    pub hash: ContentHash,
    pub size_bytes: u64,
}

/// A job for an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobAssignment {
    pub run_id: String,
    pub spec: TrainSpec,
    pub dataset: DatasetPin,
    /// The production version to compare with, when the gates ask for no regression.
    pub baseline: Option<Baseline>,
    /// Trial numbers (from 1) to cross-validate; every candidate when `None`.
    pub trials: Option<Vec<u32>>,
    /// Only cross-validate the trials and report [`JobOutcome::Searched`]; another job refits
    /// the best.
    pub search_only: bool,
}

/// A registered model version a candidate is measured against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// `model@N`.
    pub version: String,
    pub artifact_hash: ContentHash,
    pub size_bytes: u64,
}

/// How a job ended on the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobOutcome {
    Succeeded(JobSuccess),
    Failed {
        reason: String,
    },
    /// A search-only job reported all of its trials.
    Searched {
        trials: u32,
    },
}

/// A finished training, its artifact already uploaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSuccess {
    pub best_trial: u32,
    pub params: Params,
    /// Metrics of the final model on the held-out test rows.
    #[serde(with = "crate::float::map")]
    pub test_metrics: Metrics,
    pub artifact_hash: ContentHash,
    pub artifact_bytes: u64,
    pub rows_train: u64,
    pub rows_test: u64,
    pub duration_ms: u64,
}

/// Which runs to list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunFilter {
    pub experiment: Option<String>,
    pub status: Option<RunStatus>,
}

/// How a page of runs is ordered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RunOrder {
    /// Newest first.
    #[default]
    Newest,
    /// Best headline metric first (the task's selection metric, whichever it is).
    Score,
    /// Best value of this metric first, in the metric's direction; runs without it last.
    Metric(String),
}

/// One page of runs, filtered, ordered and cut by the coordinator, so that a client reaches
/// every run in the store without holding them all.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunQuery {
    pub filter: RunFilter,
    /// Case-insensitive text every run shown contains in its id, experiment, model,
    /// algorithm, dataset, status or agent; empty for all.
    pub text: String,
    pub order: RunOrder,
    /// Rows to skip.
    pub offset: u32,
    /// Most rows returned (the coordinator caps it).
    pub limit: u32,
}

/// The answer to a [`RunQuery`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunPage {
    /// Runs matching the query, all pages together.
    pub total: u32,
    /// Position of the first row of `runs` among them.
    pub offset: u32,
    pub runs: Vec<RunSummary>,
}

/// A run as listings show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: String,
    pub experiment: String,
    pub model: String,
    pub algorithm: String,
    /// `name@version` of the dataset.
    pub dataset: String,
    pub status: RunStatus,
    pub agent: Option<String>,
    pub trials_done: u32,
    pub trials_total: u32,
    /// Test metrics once succeeded.
    #[serde(with = "crate::float::map")]
    pub metrics: Metrics,
    /// Whether the validation gates passed (once succeeded).
    pub gates_passed: Option<bool>,
    pub error: Option<String>,
    pub created_ms: u64,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
}

/// Everything recorded about a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    pub summary: RunSummary,
    /// What drover trained it from; `None` for a run logged through the MLflow API.
    pub spec: Option<TrainSpec>,
    /// BLAKE3 of the spec as submitted.
    pub spec_hash: String,
    pub dataset_hash: String,
    pub seed: u64,
    pub drover_version: String,
    /// Hyperparameters of the chosen trial.
    pub params: Params,
    pub trials: Vec<Trial>,
    /// Each failed gate with its numbers.
    pub gate_failures: Vec<String>,
    pub artifact_hash: Option<String>,
    pub rows_train: Option<u64>,
    pub rows_test: Option<u64>,
    /// The model version this run registered (`model@N`), if its gates passed.
    pub registered: Option<String>,
    /// Tags: the spec's for a run drover trained, the client's for a logged run.
    pub tags: BTreeMap<String, String>,
}

/// A dataset a run logged as an input (MLflow's `log_input`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInput {
    pub name: String,
    /// The client's digest of the data.
    pub digest: String,
    pub source_type: String,
    pub source: String,
    /// What the run used it for (`training`, `eval`), from the `mlflow.data.context` tag.
    pub context: String,
    /// The drover dataset version (`name@version`) whose content hash the digest names.
    pub dataset: Option<String>,
}

/// A model a run logged (an MLflow logged model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOutput {
    /// `m-` and 32 hex digits.
    pub model_id: String,
    pub name: String,
    /// `READY`, `PENDING` or `FAILED`.
    pub status: String,
    /// The hash of its files' listing in the artifact store, once it is ready.
    pub artifact_hash: String,
    /// The registered versions made from it (`model@N`).
    pub registered: Vec<String>,
}

/// What a run read and what it made, as logged through the MLflow API.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunLineage {
    pub inputs: Vec<RunInput>,
    pub outputs: Vec<RunOutput>,
}

/// A request an agent opens its own stream for (bulk data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentRequest {
    /// Sends the artifact with this BLAKE3 hash: an [`AgentResponse::Artifact`] frame, then its bytes.
    FetchArtifact { hash: ContentHash },
    /// Stores an artifact: exactly `len` bytes follow; they must hash to `hash`.
    PutArtifact { hash: ContentHash, len: u64 },
}

/// The coordinator's answer on an agent's bulk stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentResponse {
    Artifact { len: u64 },
    Stored,
    Error(String),
}

/// A repeating training spec: on a cron schedule, on new data, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    pub id: String,
    pub experiment: String,
    pub model: String,
    pub dataset: String,
    pub cron: Option<String>,
    pub on_new_data: bool,
    pub next_run_ms: Option<u64>,
    pub last_run_ms: Option<u64>,
    pub last_run_id: Option<String>,
    pub created_ms: u64,
}

/// One value of a metric at a step of a run (a trial, an epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub key: String,
    pub step: u64,
    #[serde(with = "crate::float")]
    pub value: f64,
    pub at_ms: u64,
}
