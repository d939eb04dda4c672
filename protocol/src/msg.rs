//! Wire messages. bincode is positional: the order of variants and fields is the wire format, so
//! append new variants only and bump [`crate::PROTOCOL_VERSION`] on any other change.
//!
//! Every connection opens with a bidirectional control stream whose first frame is a [`Hello`]
//! and whose answer is a [`HelloReply`]. Both begin with the protocol version so that a peer of
//! another version can read that much and report a mismatch instead of a decode error.

use serde::{Deserialize, Serialize};

pub use crate::event::{Event, EventRecord};

use crate::data::{DatasetAdded, DatasetRef, DatasetSummary, DatasetUpload, DatasetVersion};
use crate::drift::{Alert, DriftPoint, DriftReport, ImportanceWindow, SketchWindow};
use crate::registry::{ModelRef, ModelSummary, ModelVersion, Selector, Stage};
use crate::rollout::{Command, RolloutSpec, RolloutStatus};
use crate::run::{
    JobAssignment, JobOutcome, MetricPoint, RunDetail, RunFilter, RunPage, RunQuery, RunSummary,
    ScheduleInfo, Trial,
};
use crate::serve::{
    Deployment, DeploymentStatus, SeriesPoint, Serving, ServingWindow, ShadowWindow,
};
use crate::spec::TrainSpec;
use crate::types::{AgentId, AgentInfo, Capacity, HostLoad, Labels};

/// First frame on every connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Must stay the first field: peers read it before anything else.
    pub proto_version: u32,
    pub drover_version: String,
    pub intent: Intent,
}

/// What the connecting side wants to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Intent {
    /// An enrolled agent (client certificate with the `agent` role).
    Agent(AgentHello),
    /// An operator (client certificate with the `operator` role); requests follow on new streams.
    Operator,
    /// An agent without a certificate yet, redeeming a join token.
    Enroll(EnrollRequest),
    /// As [`Intent::Enroll`], asking for `labels`: fixed at enrollment unless the token
    /// carries labels of its own, which win. Sent only with labels (protocol 8).
    EnrollLabelled {
        request: EnrollRequest,
        labels: Labels,
    },
}

/// What an agent tells the coordinator about itself on connect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentHello {
    pub hostname: String,
    pub labels: Labels,
    pub capacity: Capacity,
}

/// A join token redeemed for a signed agent certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub token_id: String,
    pub secret: String,
    /// PKCS#10 request for the agent's own key pair, PEM.
    pub csr_pem: String,
    pub hostname: String,
}

/// The coordinator's answer to a [`Hello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloReply {
    /// Must stay the first field: peers read it before anything else.
    pub proto_version: u32,
    pub outcome: HelloOutcome,
}

/// Accepted, enrolled, or refused with a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HelloOutcome {
    Welcome(Welcome),
    Enrolled(Enrolled),
    Refused(String),
}

/// Session parameters for an accepted agent or operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub coordinator_version: String,
    /// The agent's id as the coordinator knows it; `None` for operators.
    pub agent_id: Option<AgentId>,
    pub heartbeat_interval_ms: u64,
}

/// A signed certificate for a newly enrolled agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrolled {
    pub agent_id: AgentId,
    pub cert_pem: String,
    pub ca_pem: String,
}

/// Agent to coordinator, on the control stream after the hello.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AgentReport {
    Heartbeat {
        seq: u64,
        load: HostLoad,
    },
    /// A trial of a running job finished.
    JobProgress {
        run_id: String,
        trial: Trial,
    },
    /// A job ended; on success its artifact is already stored.
    JobFinished {
        run_id: String,
        outcome: JobOutcome,
    },
    /// Metric points of a run, acknowledged by [`AgentCommand::MetricsAck`] once stored.
    MetricBatch {
        run_id: String,
        seq: u64,
        points: Vec<MetricPoint>,
    },
    /// Protocol 3: the agent is shutting down and takes no new jobs; the ones it runs finish
    /// (or are cancelled at its grace period's end, then queued again elsewhere).
    Draining,
    /// Protocol 3: the agent reloaded its config; placement uses these from now on.
    Reconfigured {
        labels: Labels,
        capacity: Capacity,
    },
    /// Protocol 3: the agent's wall clock (Unix milliseconds) when it sent this, for skew checks.
    Clock {
        unix_ms: u64,
    },
    /// Protocol 4: every version the agent serves and where each stands.
    Serving(Vec<Serving>),
    /// Protocol 4: what each served version did during the last window.
    ServingWindows(Vec<ServingWindow>),
    /// Protocol 5: what each shadow version answered during the last window.
    ShadowWindows(Vec<ShadowWindow>),
    /// Protocol 6: each served version's inputs and predictions in the bins of its
    /// reference profile during the last window.
    Sketches(Vec<SketchWindow>),
    /// Protocol 6: permutation importance of served versions on recent labelled feedback.
    Importance(Vec<ImportanceWindow>),
}

/// Coordinator to agent, on the control stream after the hello.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AgentCommand {
    /// The coordinator ends the session for good (the agent was removed).
    Disconnect { reason: String },
    /// Run a training job.
    AssignJob(Box<JobAssignment>),
    /// Stop a job; no result is expected.
    CancelJob { run_id: String },
    /// The metric batch `seq` is durably stored.
    MetricsAck { seq: u64 },
    /// Protocol 4: everything this agent should serve, replacing what it was told before.
    Serve(Vec<Deployment>),
}

/// One operator request; each travels on its own bidirectional stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OperatorRequest {
    Status,
    ListAgents,
    RemoveAgent {
        id: AgentId,
    },
    CreateToken {
        ttl_secs: u64,
        uses: u32,
    },
    /// Newest events first, at most `limit`.
    ListEvents {
        limit: u32,
    },
    /// Keeps the stream open and sends every new event as [`OperatorResponse::Event`].
    Subscribe,
    /// Adds a dataset version; exactly `len` bytes of CSV follow the frame on the same stream.
    AddDataset(DatasetUpload),
    ListDatasets,
    ShowDataset(DatasetRef),
    /// Queues a training run.
    SubmitRun(Box<TrainSpec>),
    ListRuns(RunFilter),
    ShowRun {
        id: String,
    },
    CancelRun {
        id: String,
    },
    ListModels,
    ShowModel(ModelRef),
    /// Moves a version to a stage; promoting to production archives the previous one.
    PromoteModel {
        model: ModelRef,
        stage: Stage,
    },
    /// Points an alias (e.g. `champion`) at a version.
    SetAlias {
        model: ModelRef,
        alias: String,
    },
    ListSchedules,
    RemoveSchedule {
        id: String,
    },
    /// Every version of one model, newest first.
    ListModelVersions {
        model: String,
    },
    /// Protocol 3: each connected agent's clock offset from the coordinator's.
    ClockSkews,
    /// A page of runs, filtered and ordered by the coordinator.
    QueryRuns(RunQuery),
    /// Takes an alias off the version it points at; answers that version.
    RemoveAlias {
        model: String,
        alias: String,
    },
    /// The registry events of one model (registrations, promotions, aliases), oldest first:
    /// its versions' stage history.
    ModelHistory {
        model: String,
    },
    /// Serves one version of a model on the agents `selector` picks, replacing the model's
    /// deployment if it had one.
    Deploy {
        model: ModelRef,
        selector: Labels,
    },
    /// Stops serving a model everywhere.
    Undeploy {
        model: String,
    },
    /// Every deployment and how each agent serves it.
    ListDeployments,
    /// Starts moving `model`'s traffic from its deployed version to `candidate`.
    StartRollout {
        model: String,
        candidate: Selector,
        spec: Box<RolloutSpec>,
    },
    /// The newest rollout of `model` with every decision, or, without a model, every rollout
    /// still running.
    RolloutStatus {
        model: Option<String>,
    },
    /// The newest rollouts, at most `limit`, each with its last decision.
    ListRollouts {
        limit: u32,
    },
    /// Pauses, resumes, promotes or aborts `model`'s running rollout.
    RolloutCommand {
        model: String,
        command: Command,
    },
    /// `model`'s traffic per version since `since_ms`, in at most `points` slices.
    ServingHistory {
        model: String,
        since_ms: u64,
        points: u32,
    },
    /// Protocol 6: the latest drift evaluation of each served version of `model` (or of
    /// every model), worst column first.
    DriftStatus {
        model: Option<String>,
    },
    /// Protocol 6: each column's drift scores for `model@version` since `since_ms`.
    DriftHistory {
        model: String,
        version: u32,
        since_ms: u64,
    },
    /// Protocol 6: the newest alerts, at most `limit` (only firing ones with `firing_only`).
    ListAlerts {
        firing_only: bool,
        limit: u32,
    },
    /// The datasets a run logged as inputs and the models it logged, through the MLflow API.
    RunLineage {
        id: String,
    },
    /// Protocol 7: a join token whose agents are granted `labels` for good.
    CreateLabelledToken {
        ttl_secs: u64,
        uses: u32,
        labels: Labels,
    },
    /// Protocol 7: grants agent `id` the labels `set` and takes away those named in
    /// `remove`; the only way an agent's labels change once granted.
    LabelAgent {
        id: AgentId,
        set: Labels,
        remove: Vec<String>,
    },
    /// Protocol 7: [`OperatorRequest::PromoteModel`] past its refusals (a rollout of the
    /// model running, a rolled-back version to production).
    ForcePromoteModel {
        model: ModelRef,
        stage: Stage,
    },
}

/// The answer to an [`OperatorRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OperatorResponse {
    Status(CoordinatorStatus),
    Agents(Vec<AgentInfo>),
    AgentRemoved(AgentId),
    Token(IssuedToken),
    Events(Vec<EventRecord>),
    Event(EventRecord),
    Error(ApiError),
    DatasetAdded(Box<DatasetAdded>),
    Datasets(Vec<DatasetSummary>),
    Dataset(Box<DatasetVersion>),
    RunQueued(Box<RunSummary>),
    Runs(Vec<RunSummary>),
    Run(Box<RunDetail>),
    RunCancelled(String),
    Models(Vec<ModelSummary>),
    Model(Box<ModelVersion>),
    Schedules(Vec<ScheduleInfo>),
    ScheduleRemoved(String),
    ModelVersions(Vec<ModelVersion>),
    ClockSkews(Vec<ClockSkew>),
    RunPage(Box<RunPage>),
    Deployment(Box<DeploymentStatus>),
    Undeployed(String),
    Deployments(Vec<DeploymentStatus>),
    Rollout(Box<RolloutStatus>),
    Rollouts(Vec<RolloutStatus>),
    ServingHistory(Vec<SeriesPoint>),
    Drift(Vec<DriftReport>),
    DriftHistory(Vec<DriftPoint>),
    Alerts(Vec<Alert>),
    RunLineage(Box<crate::run::RunLineage>),
    /// Protocol 7: an agent as it is after its labels changed.
    AgentLabelled(Box<AgentInfo>),
}

/// How far an agent's wall clock is from the coordinator's, measured when it last sent
/// [`AgentReport::Clock`] (half the round-trip time taken off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockSkew {
    pub agent: AgentId,
    /// Agent clock minus coordinator clock, milliseconds.
    pub skew_ms: i64,
    /// Unix milliseconds (coordinator clock) of the measurement.
    pub measured_ms: u64,
}

/// A failed operator request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ApiErrorKind,
    pub message: String,
}

impl ApiError {
    /// The request cannot be served as asked (bad input, over a limit).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ApiErrorKind::Invalid,
            message: message.into(),
        }
    }

    /// What the request names does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            kind: ApiErrorKind::NotFound,
            message: message.into(),
        }
    }

    /// The coordinator failed; the request may succeed when retried.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: ApiErrorKind::Internal,
            message: message.into(),
        }
    }
}

/// Broad class of an [`ApiError`], for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiErrorKind {
    NotFound,
    Invalid,
    Internal,
}

/// What a running coordinator reports about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoordinatorStatus {
    pub version: String,
    pub quic_addr: String,
    pub http_addr: String,
    pub agents_ready: u32,
    pub agents_total: u32,
    pub uptime_secs: u64,
}

/// A join token as issued, with what it allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: String,
    pub token_id: String,
    pub expires_ms: u64,
    pub uses: u32,
}
