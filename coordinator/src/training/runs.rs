//! Training runs: submission (validated against the dataset before anything is queued), trial
//! progress, completion with validation gates, cancellation, and re-queueing when an agent
//! goes away. Placement is in [`super::placement`], the loop that places runs in
//! [`super::scheduler`], spread searches in [`super::shares`].

use std::sync::Arc;

use drover_protocol::data::content_hash;
use drover_protocol::hash::ContentHash;
use drover_protocol::msg::{AgentCommand, ApiError, Event};
use drover_protocol::run::{DatasetPin, JobOutcome, RunStatus, RunSummary, Trial};
use drover_protocol::spec::{MAX_TRIALS, TrainSpec};
use drover_protocol::types::{AgentId, unix_ms};
use rand::RngCore;
use tokio::sync::mpsc;

use super::ending::{failed, record, succeeded};
use super::shares::{finish_share, stop_shares};
use crate::datasets;
use crate::net::grants::Grants;
use crate::state::Shared;
use crate::store::{FinishedRun, NewRun, StoreError};

fn internal(e: StoreError) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Validates `spec` against its dataset and queues a run.
pub fn submit(shared: &Shared, spec: TrainSpec) -> Result<RunSummary, ApiError> {
    submit_for(shared, spec, None)?
        .ok_or_else(|| ApiError::internal("a run without a cause was taken for a repeat"))
}

/// Queues a run of `spec` for `cause` (see [`NewRun::cause`]); `None` when that cause has
/// already queued one.
pub fn submit_for(
    shared: &Shared,
    spec: TrainSpec,
    cause: Option<&str>,
) -> Result<Option<RunSummary>, ApiError> {
    drover_ml::gates::validate(&spec).map_err(ApiError::invalid)?;
    let reference = spec.dataset_ref().map_err(ApiError::invalid)?;
    let dataset = datasets::find(shared, &reference)?;
    let schema = &dataset.schema;
    let named = std::iter::once(&spec.target)
        .chain(spec.features.iter().flatten())
        .chain(&spec.exclude);
    for column in named {
        if schema.column(column).is_none() {
            let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
            return Err(ApiError::invalid(format!(
                "unknown column {column:?} in {}@{}; it has: {}",
                dataset.name,
                dataset.version,
                names.join(", ")
            )));
        }
    }
    let mut raw = [0u8; 6];
    rand::thread_rng().fill_bytes(&mut raw);
    let id = format!("run-{}", drover_protocol::pki::hex(&raw));
    let spec_json = serde_json::to_vec(&spec).map_err(|e| ApiError::internal(e.to_string()))?;
    let hash = ContentHash::parse(&dataset.hash).map_err(|e| ApiError::internal(e.to_string()))?;
    let pin = DatasetPin {
        name: dataset.name,
        version: dataset.version,
        hash,
        size_bytes: dataset.size_bytes,
    };
    let trials_total =
        drover_ml::search::candidates(&spec.search, spec.seed, MAX_TRIALS).len() as u32;
    let run = NewRun {
        id: &id,
        spec: &spec,
        spec_hash: &content_hash(&spec_json),
        dataset: &pin,
        trials_total,
        created_ms: unix_ms(),
        cause,
    };
    if !shared.store.sync().insert_run(&run).map_err(internal)? {
        return Ok(None);
    }
    shared.events.publish(Event::RunQueued {
        id: id.clone(),
        experiment: spec.experiment.clone(),
        model: spec.model.clone(),
    });
    shared.schedule.notify_one();
    let detail = shared.store.sync().run(&id).map_err(internal)?;
    detail
        .map(|d| Some(d.summary))
        .ok_or_else(|| ApiError::internal("the run vanished after it was stored"))
}

/// Records a finished trial reported by an agent.
pub fn progress(shared: &Shared, run_id: &str, trial: &Trial) {
    metrics::counter!("drover_trials_total").increment(1);
    if let Err(e) = shared.store.sync().record_trial(run_id, trial) {
        tracing::error!(run = run_id, cause = %e, "could not record a trial");
        return;
    }
    let run = shared.store.sync().run(run_id).ok().flatten();
    let total = run.as_ref().map_or(trial.trial, |r| r.summary.trials_total);
    let task = run
        .as_ref()
        .and_then(|r| r.spec.as_ref().map(|s| s.task))
        .unwrap_or(drover_protocol::spec::Task::Classification);
    let metric = drover_ml::metric::selection(task);
    let value = trial.mean.get(metric).copied().unwrap_or(f64::NAN);
    shared.events.publish(Event::TrialFinished {
        id: run_id.into(),
        trial: trial.trial,
        total,
        metric: metric.into(),
        value,
    });
}

/// Records how a job ended on `agent`; a model counts only when that agent's session uploaded
/// it while it held the run.
pub fn finish(
    shared: &Shared,
    agent: &AgentId,
    grants: &Grants,
    run_id: &str,
    outcome: JobOutcome,
) {
    // Whatever panicked while holding it left nothing half-done that this check relies on.
    let _one_at_a_time = shared.finishing.lock().unwrap_or_else(|p| p.into_inner());
    if shared.spreads.contains(run_id) {
        finish_share(shared, agent, run_id, outcome);
        shared.schedule.notify_one();
        return;
    }
    let running_here = shared
        .store
        .sync()
        .running_runs()
        .unwrap_or_default()
        .iter()
        .any(|(r, a)| r == run_id && a == &agent.0);
    if !running_here {
        tracing::warn!(run = run_id, %agent, "ignoring the result of a run this agent is not running");
        return;
    }
    let now = unix_ms();
    let (end, detail) = match &outcome {
        JobOutcome::Succeeded(success) if !grants.uploaded_for(&success.artifact_hash, run_id) => {
            tracing::warn!(run = run_id, %agent, artifact = %success.artifact_hash, "a run finished with an artifact this agent did not upload for it");
            failed(
                "the model artifact was not uploaded by this agent for this run",
                now,
            )
        }
        JobOutcome::Succeeded(success) => succeeded(shared, run_id, success, now),
        JobOutcome::Failed { reason } => failed(reason, now),
        JobOutcome::Searched { .. } => failed("the agent only searched; no model came back", now),
    };
    record(shared, run_id, end, detail);
    shared.schedule.notify_one();
}

/// Queues again every run `agent` was running (its session ended).
pub fn requeue_agent(shared: &Shared, agent: &AgentId, reason: &str) {
    for run in shared.spreads.runs_of(agent) {
        stop_shares(shared, &run);
        if let Ok(true) = shared.store.sync().requeue_run(&run) {
            shared.events.publish(Event::RunRequeued {
                id: run,
                reason: format!("agent {agent} searching a share: {reason}"),
            });
        }
    }
    for (run, _) in shared
        .store
        .sync()
        .running_runs()
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, a)| a == &agent.0)
    {
        match shared.store.sync().requeue_run(&run) {
            Ok(true) => shared.events.publish(Event::RunRequeued {
                id: run,
                reason: format!("agent {agent}: {reason}"),
            }),
            Ok(false) => {}
            Err(e) => tracing::error!(%run, cause = %e, "could not re-queue a run"),
        }
    }
    shared.schedule.notify_one();
}

/// Cancels a queued or running run.
pub async fn cancel(shared: &Arc<Shared>, id: &str) -> Result<String, ApiError> {
    let run_id = id.to_string();
    let stopped = shared
        .blocking(move |shared| cancel_stored(shared, &run_id))
        .await?;
    if let Some((agent, commands)) = stopped {
        let _ = commands
            .send(AgentCommand::CancelJob { run_id: id.into() })
            .await;
        tracing::debug!(%agent, run = id, "asked the agent to stop a cancelled job");
    }
    Ok(id.to_string())
}

/// Stores the cancellation; returns the agent to tell, if one runs the job.
fn cancel_stored(
    shared: &Shared,
    id: &str,
) -> Result<Option<(AgentId, mpsc::Sender<AgentCommand>)>, ApiError> {
    let run = shared
        .store
        .sync()
        .run(id)
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(format!("no run {id}")))?;
    if run.summary.status.is_final() {
        return Err(ApiError::invalid(format!(
            "run {id} already {}",
            run.summary.status
        )));
    }
    let end = FinishedRun {
        status: RunStatus::Cancelled,
        ..failed("cancelled by an operator", unix_ms()).0
    };
    let event = Event::RunFinished {
        id: id.into(),
        status: RunStatus::Cancelled,
        detail: "cancelled by an operator".into(),
    };
    let Some(record) = shared
        .store
        .sync()
        .finish_run(id, &end, event)
        .map_err(internal)?
    else {
        return Ok(None);
    };
    stop_shares(shared, id);
    let agent = run.summary.agent.map(AgentId).and_then(|agent| {
        let commands = shared.fleet.commands(&agent)?;
        shared.stopping.insert(&agent, id);
        Some((agent, commands))
    });
    shared.events.announce(record);
    Ok(agent)
}
