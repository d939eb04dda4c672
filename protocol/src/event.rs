//! The event log's entries: what happened in the fleet, in the past tense, as the coordinator
//! stores them and operators see them (in `drover events`, the console and alert sinks).
//! Part of the wire format ([`crate::msg`] re-exports them): append new variants only.

use serde::{Deserialize, Serialize};

use crate::drift::Alert;
use crate::registry::Stage;
use crate::rollout::Decision;
use crate::run::RunStatus;
use crate::types::AgentId;

/// An event with its sequence number and time (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub seq: u64,
    pub at_ms: u64,
    pub event: Event,
}

/// Something that happened in the fleet; past tense.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    AgentJoined {
        id: AgentId,
        hostname: String,
    },
    AgentConnected {
        id: AgentId,
        address: String,
    },
    AgentLost {
        id: AgentId,
        reason: String,
    },
    AgentRemoved {
        id: AgentId,
    },
    TokenCreated {
        token_id: String,
        uses: u32,
        expires_ms: u64,
    },
    DatasetAdded {
        name: String,
        version: u32,
        hash: String,
        rows: u64,
    },
    RunQueued {
        id: String,
        experiment: String,
        model: String,
    },
    RunStarted {
        id: String,
        agent: AgentId,
    },
    TrialFinished {
        id: String,
        trial: u32,
        total: u32,
        metric: String,
        #[serde(with = "crate::float")]
        value: f64,
    },
    RunFinished {
        id: String,
        status: RunStatus,
        detail: String,
    },
    RunRequeued {
        id: String,
        reason: String,
    },
    ModelRegistered {
        model: String,
        version: u32,
        semver: String,
        run_id: String,
    },
    ModelPromoted {
        model: String,
        version: u32,
        stage: Stage,
        archived: Option<u32>,
    },
    AliasSet {
        model: String,
        version: u32,
        alias: String,
    },
    ScheduleFired {
        id: String,
        run: String,
        reason: String,
    },
    /// A run's search was split: each agent cross-validates its share of the trials, then one
    /// of them refits the best.
    SearchSpread {
        id: String,
        agents: Vec<AgentId>,
    },
    /// Protocol 3: an agent is shutting down and takes no new jobs.
    AgentDraining {
        id: AgentId,
    },
    /// An operator changed something through the operator API: who (the common name of
    /// their certificate) and what.
    OperatorAction {
        operator: String,
        action: String,
    },
    /// An alias was taken off a version.
    AliasRemoved {
        model: String,
        version: u32,
        alias: String,
    },
    /// A model version is to be served on the agents a selector picks.
    Deployed {
        model: String,
        version: u32,
        selector: String,
    },
    /// A model is served nowhere any more.
    Undeployed {
        model: String,
    },
    /// A rollout decided something: its numbers, test, sample counts and reason.
    RolloutDecided {
        model: String,
        rollout: u64,
        candidate: u32,
        decision: Box<Decision>,
    },
    /// Protocol 6: an alert began to fire.
    AlertFired {
        alert: Box<Alert>,
    },
    /// Protocol 6: a firing alert's condition cleared.
    AlertResolved {
        alert: Box<Alert>,
    },
    /// Protocol 7: a stored record did not decode; it was moved into the quarantine table
    /// and left out of every reader.
    RecordQuarantined {
        table: String,
        row: i64,
        reason: String,
    },
    /// Protocol 7: an agent's windows disagree with the other agents' beyond chance; the
    /// rollout leaves them out of its decisions.
    AgentDisagrees {
        model: String,
        rollout: u64,
        agent: AgentId,
        detail: String,
    },
    /// Monitoring left an agent's evidence about a version out: it disagrees with the other
    /// agents serving it beyond chance, so no alert rests on it.
    AgentLeftOut {
        model: String,
        version: u32,
        agent: AgentId,
        detail: String,
    },
}

impl Event {
    /// Short machine-friendly name, e.g. `agent.lost`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::AgentJoined { .. } => "agent.joined",
            Event::AgentConnected { .. } => "agent.connected",
            Event::AgentLost { .. } => "agent.lost",
            Event::AgentRemoved { .. } => "agent.removed",
            Event::TokenCreated { .. } => "token.created",
            Event::DatasetAdded { .. } => "dataset.added",
            Event::RunQueued { .. } => "run.queued",
            Event::RunStarted { .. } => "run.started",
            Event::TrialFinished { .. } => "run.trial",
            Event::RunFinished { .. } => "run.finished",
            Event::RunRequeued { .. } => "run.requeued",
            Event::ModelRegistered { .. } => "model.registered",
            Event::ModelPromoted { .. } => "model.promoted",
            Event::AliasSet { .. } => "model.alias",
            Event::ScheduleFired { .. } => "schedule.fired",
            Event::SearchSpread { .. } => "run.spread",
            Event::AgentDraining { .. } => "agent.draining",
            Event::OperatorAction { .. } => "operator.action",
            Event::AliasRemoved { .. } => "model.unalias",
            Event::Deployed { .. } => "model.deployed",
            Event::Undeployed { .. } => "model.undeployed",
            Event::RolloutDecided { .. } => "rollout.decided",
            Event::AlertFired { .. } => "alert.fired",
            Event::AlertResolved { .. } => "alert.resolved",
            Event::RecordQuarantined { .. } => "store.quarantined",
            Event::AgentDisagrees { .. } => "rollout.agent_left_out",
            Event::AgentLeftOut { .. } => "monitor.agent_left_out",
        }
    }

    /// One human line describing the event.
    pub fn describe(&self) -> String {
        match self {
            Event::AgentJoined { id, hostname } => format!("agent {id} joined from {hostname}"),
            Event::AgentConnected { id, address } => format!("agent {id} connected from {address}"),
            Event::AgentLost { id, reason } => format!("agent {id} lost: {reason}"),
            Event::AgentRemoved { id } => format!("agent {id} removed; its certificate is refused"),
            Event::TokenCreated { token_id, uses, .. } => {
                format!("join token {token_id} created for {uses} use(s)")
            }
            Event::DatasetAdded {
                name,
                version,
                hash,
                rows,
            } => {
                format!(
                    "dataset {name}@{version} added ({rows} rows, {})",
                    &hash[..hash.len().min(12)]
                )
            }
            Event::RunQueued {
                id,
                experiment,
                model,
            } => {
                format!("run {id} queued (experiment {experiment}, model {model})")
            }
            Event::RunStarted { id, agent } => format!("run {id} started on {agent}"),
            Event::TrialFinished {
                id,
                trial,
                total,
                metric,
                value,
            } => {
                format!("run {id} trial {trial}/{total}: {metric} {value:.4}")
            }
            Event::RunFinished { id, status, detail } => format!("run {id} {status}: {detail}"),
            Event::RunRequeued { id, reason } => format!("run {id} queued again: {reason}"),
            Event::ModelRegistered {
                model,
                version,
                semver,
                run_id,
            } => {
                format!("model {model}@{version} ({semver}) registered from run {run_id}")
            }
            Event::ModelPromoted {
                model,
                version,
                stage,
                archived,
            } => match archived {
                Some(old) => {
                    format!("model {model}@{version} promoted to {stage}; {model}@{old} archived")
                }
                None => format!("model {model}@{version} promoted to {stage}"),
            },
            Event::AliasSet {
                model,
                version,
                alias,
            } => format!("alias {model}@{alias} now points to {model}@{version}"),
            Event::SearchSpread { id, agents } => {
                let names: Vec<String> = agents.iter().map(ToString::to_string).collect();
                format!("run {id}: trials spread over {}", names.join(", "))
            }
            Event::ScheduleFired { id, run, reason } => {
                format!("schedule {id} queued run {run}: {reason}")
            }
            Event::AgentDraining { id } => {
                format!("agent {id} is draining: it finishes its jobs and takes no new ones")
            }
            Event::OperatorAction { operator, action } => format!("operator {operator}: {action}"),
            Event::AliasRemoved {
                model,
                version,
                alias,
            } => format!("alias {alias} taken off {model}@{version}"),
            Event::Deployed {
                model,
                version,
                selector,
            } => format!("{model}@{version} deployed on agents labelled {selector}"),
            Event::Undeployed { model } => format!("{model} undeployed"),
            Event::RolloutDecided {
                model,
                rollout,
                candidate,
                decision,
            } => format!(
                "rollout {rollout} of {model}@{candidate} {}: {}",
                decision.action, decision.reason
            ),
            Event::AlertFired { alert } => format!("alert {} firing: {}", alert.id, alert.line()),
            Event::AlertResolved { alert } => {
                format!("alert {} resolved: {}", alert.id, alert.line())
            }
            Event::RecordQuarantined { table, row, reason } => format!(
                "stored record {table} row {row} did not decode and was quarantined: {reason}"
            ),
            Event::AgentDisagrees {
                model,
                rollout,
                agent,
                detail,
            } => format!("rollout {rollout} of {model} leaves out agent {agent}: {detail}"),
            Event::AgentLeftOut {
                model,
                version,
                agent,
                detail,
            } => format!("monitoring of {model}@{version} leaves out agent {agent}: {detail}"),
        }
    }
}
