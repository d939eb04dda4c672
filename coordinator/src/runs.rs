//! Training runs: submission (validated against the dataset before anything is queued),
//! scheduling onto ready agents labelled `train` with a free job slot, trial progress,
//! completion with validation gates, cancellation, and re-queueing when an agent goes away.
//! With more free agents than waiting runs, a run's search is spread over several (see
//! [`super::spread`]).

use std::sync::Arc;
use std::time::Duration;

use drover_protocol::data::content_hash;
use drover_protocol::hash::ContentHash;
use drover_protocol::msg::{AgentCommand, ApiError, Event};
use drover_protocol::run::{
    Baseline, DatasetPin, JobAssignment, JobOutcome, JobSuccess, RunStatus, RunSummary, Trial,
};
use drover_protocol::spec::{MAX_TRIALS, TrainSpec};
use drover_protocol::types::{AgentId, unix_ms};
use rand::RngCore;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::datasets;
use super::fleet::Trainer;
use super::grants::Grants;
use super::spread::{self, ShareDone};
use super::state::Shared;
use super::store::{FinishedRun, NewRun, StoreError};

fn internal(e: StoreError) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Queues a run of `spec`; a repeating spec also becomes a schedule that queues more.
pub fn submit_spec(shared: &Shared, spec: TrainSpec) -> Result<RunSummary, ApiError> {
    if !spec.repeats() {
        return submit(shared, spec);
    }
    if let Some(pattern) = &spec.schedule {
        super::schedules::parse(pattern)?;
    }
    let run = submit(shared, spec.once())?;
    super::schedules::create(shared, &spec)?;
    Ok(run)
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

/// The production version a spec's no-regression gate compares with, if it has one.
fn baseline(shared: &Shared, spec: &TrainSpec) -> Option<Baseline> {
    spec.gates.no_regression.as_ref()?;
    let production = shared
        .store
        .sync()
        .production_version(&spec.model)
        .ok()
        .flatten()?;
    let artifact_hash = ContentHash::parse(&production.artifact_hash).ok()?;
    let size_bytes = std::fs::metadata(shared.artifacts.path(&artifact_hash))
        .ok()?
        .len();
    Some(Baseline {
        version: format!("{}@{}", production.model, production.version),
        artifact_hash,
        size_bytes,
    })
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

/// Stores the end of a run with its event, and tells everyone; registering a model that
/// passed its gates is a reaction to that event (see `reactions`).
fn record(shared: &Shared, run_id: &str, end: FinishedRun<'_>, detail: String) {
    let event = Event::RunFinished {
        id: run_id.into(),
        status: end.status,
        detail,
    };
    match shared.store.sync().finish_run(run_id, &end, event) {
        Ok(Some(record)) => shared.events.announce(record),
        Ok(None) => {}
        Err(e) => tracing::error!(run = run_id, cause = %e, "could not record the end of a run"),
    }
}

/// One agent's share of a spread search ended: wait for the others, refit the best trial
/// once all are in, or fail the run (and stop the other shares) if this one failed.
fn finish_share(shared: &Shared, agent: &AgentId, run_id: &str, outcome: JobOutcome) {
    let reason = match outcome {
        JobOutcome::Searched { .. } => match shared.spreads.share_done(run_id, agent) {
            ShareDone::NotShared => {
                tracing::warn!(run = run_id, %agent, "ignoring a search share this agent does not hold");
                return;
            }
            ShareDone::Waiting => return,
            ShareDone::Complete(job) => match refit(shared, agent, *job) {
                Ok(()) => return,
                Err(reason) => reason,
            },
        },
        JobOutcome::Failed { reason } => format!("agent {agent}: {reason}"),
        JobOutcome::Succeeded(_) => format!("agent {agent} refitted instead of searching"),
    };
    stop_shares(shared, run_id);
    let (end, detail) = failed(&reason, unix_ms());
    record(shared, run_id, end, detail);
}

/// Sends the refit of the best trial of a completed spread search to `agent`.
fn refit(shared: &Shared, agent: &AgentId, job: JobAssignment) -> Result<(), String> {
    let run = shared
        .store
        .sync()
        .run(&job.run_id)
        .map_err(|e| e.to_string())?
        .ok_or("the run vanished")?;
    if run.trials.is_empty() {
        return Err("no trial finished".into());
    }
    let task = run
        .spec
        .as_ref()
        .map(|s| s.task)
        .ok_or("the run has no spec")?;
    let best = run.trials[drover_ml::search::best_trial(task, &run.trials)].trial;
    if !shared
        .store
        .sync()
        .reassign_run(&job.run_id, &agent.0)
        .map_err(|e| e.to_string())?
    {
        return Ok(());
    }
    let job = JobAssignment {
        baseline: baseline(shared, &job.spec),
        trials: Some(vec![best]),
        search_only: false,
        ..job
    };
    let run_id = job.run_id.clone();
    let sent = shared
        .fleet
        .commands(agent)
        .is_some_and(|c| c.try_send(AgentCommand::AssignJob(Box::new(job))).is_ok());
    if !sent && let Ok(true) = shared.store.sync().requeue_run(&run_id) {
        shared.events.publish(Event::RunRequeued {
            id: run_id,
            reason: format!("agent {agent} went away before refitting trial {best}"),
        });
    }
    Ok(())
}

/// Stops tracking a spread search and cancels the shares still running.
fn stop_shares(shared: &Shared, run_id: &str) {
    for agent in shared.spreads.forget(run_id) {
        if let Some(commands) = shared.fleet.commands(&agent) {
            shared.stopping.insert(&agent, run_id);
            let _ = commands.try_send(AgentCommand::CancelJob {
                run_id: run_id.into(),
            });
        }
    }
}

fn failed(reason: &str, now: u64) -> (FinishedRun<'_>, String) {
    let end = FinishedRun {
        status: RunStatus::Failed,
        params: None,
        metrics: None,
        gates_passed: None,
        gate_failures: Vec::new(),
        artifact_hash: None,
        rows: None,
        error: Some(reason),
        finished_ms: now,
    };
    (end, reason.to_string())
}

fn succeeded<'a>(
    shared: &Shared,
    run_id: &str,
    success: &'a JobSuccess,
    now: u64,
) -> (FinishedRun<'a>, String) {
    let gates = shared
        .store
        .sync()
        .run(run_id)
        .ok()
        .flatten()
        .and_then(|r| r.spec.map(|s| s.gates))
        .unwrap_or_default();
    let failures = drover_ml::gates::failures(&gates, &success.test_metrics);
    let summary = success
        .test_metrics
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ");
    let detail = if failures.is_empty() {
        format!("{summary}; gates passed")
    } else {
        format!("{summary}; gates failed: {}", failures.join("; "))
    };
    let end = FinishedRun {
        status: RunStatus::Succeeded,
        params: Some(&success.params),
        metrics: Some(&success.test_metrics),
        gates_passed: Some(failures.is_empty()),
        gate_failures: failures,
        artifact_hash: Some(success.artifact_hash.as_str()),
        rows: Some((success.rows_train, success.rows_test)),
        error: None,
        finished_ms: now,
    };
    (end, detail)
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

/// Hands queued runs to agents whenever something changes, and at least every second.
pub async fn scheduler(shared: Arc<Shared>, shutdown: CancellationToken) {
    shared.blocking(requeue_orphans).await;
    loop {
        let placements = shared
            .blocking(|shared| {
                super::schedules::tick(shared);
                plan(shared)
            })
            .await;
        for placement in placements {
            dispatch(&shared, placement).await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.schedule.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Sessions do not survive a coordinator restart: runs that were running go back to the queue.
fn requeue_orphans(shared: &Shared) {
    for (run, agent) in shared.store.sync().running_runs().unwrap_or_default() {
        if let Ok(true) = shared.store.sync().requeue_run(&run) {
            shared.events.publish(Event::RunRequeued {
                id: run,
                reason: format!("coordinator restarted while {agent} ran it"),
            });
        }
    }
}

/// A run marked started, with the jobs to send for it.
struct Placement {
    run_id: String,
    agents: Vec<AgentId>,
    jobs: Vec<(mpsc::Sender<AgentCommand>, JobAssignment)>,
}

/// Shares the free agents out among the queued runs and marks each placed run started.
fn plan(shared: &Shared) -> Vec<Placement> {
    let queued = match shared.store.sync().queued_runs() {
        Ok(q) => q,
        Err(e) => {
            tracing::error!(cause = %e, "could not read the run queue");
            return Vec::new();
        }
    };
    if queued.is_empty() {
        return Vec::new();
    }
    let mut trainers = shared.fleet.trainers();
    for agent in busy_agents(shared) {
        if let Some(t) = trainers.iter_mut().find(|t| t.id == agent) {
            t.busy += 1;
        }
    }
    let mut placements = Vec::new();
    let mut waiting = queued.len();
    for (run_id, spec, dataset) in queued {
        let mut free: Vec<&mut Trainer> =
            trainers.iter_mut().filter(|t| t.busy < t.slots).collect();
        if free.is_empty() {
            break;
        }
        free.sort_by_key(|t| (t.busy, t.id.clone()));
        // Free agents are shared out among the waiting runs; a run with several candidates
        // spreads its trials over its share.
        let trials = drover_ml::search::candidates(&spec.search, spec.seed, MAX_TRIALS)
            .len()
            .max(1);
        let take = (free.len() / waiting).clamp(1, trials);
        waiting -= 1;
        free.truncate(take);
        let job = JobAssignment {
            run_id,
            spec,
            dataset,
            baseline: None,
            trials: None,
            search_only: false,
        };
        placements.extend(place(shared, job, trials as u32, free));
    }
    placements
}

/// Marks `job` started on `trainers`: the whole run on one, or a share of its `trials` on each.
fn place(
    shared: &Shared,
    job: JobAssignment,
    trials: u32,
    trainers: Vec<&mut Trainer>,
) -> Option<Placement> {
    let first = trainers.first().map(|t| t.id.clone())?;
    match shared
        .store
        .sync()
        .start_run(&job.run_id, &first.0, unix_ms())
    {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            tracing::error!(run = %job.run_id, cause = %e, "could not mark a run started");
            return None;
        }
    }
    let run_id = job.run_id.clone();
    let agents: Vec<AgentId> = trainers.iter().map(|t| t.id.clone()).collect();
    let assignments: Vec<JobAssignment> = if trainers.len() > 1 {
        shared.spreads.start(job.clone(), agents.clone());
        spread::shares(trials, trainers.len())
            .into_iter()
            .map(|share| JobAssignment {
                trials: Some(share),
                search_only: true,
                ..job.clone()
            })
            .collect()
    } else {
        vec![JobAssignment {
            baseline: baseline(shared, &job.spec),
            ..job
        }]
    };
    let jobs = trainers
        .into_iter()
        .zip(assignments)
        .map(|(trainer, assignment)| {
            trainer.busy += 1;
            (trainer.commands.clone(), assignment)
        })
        .collect();
    Some(Placement {
        run_id,
        agents,
        jobs,
    })
}

/// Sends a placement's jobs; if a session ended meanwhile, the run goes back to the queue.
async fn dispatch(shared: &Arc<Shared>, placement: Placement) {
    let Placement {
        run_id,
        agents,
        jobs,
    } = placement;
    for (commands, assignment) in jobs {
        let sent = commands
            .send(AgentCommand::AssignJob(Box::new(assignment)))
            .await;
        if sent.is_err() {
            let run_id = run_id.clone();
            shared
                .blocking(move |shared| {
                    stop_shares(shared, &run_id);
                    let _ = shared.store.sync().requeue_run(&run_id);
                })
                .await;
            return;
        }
    }
    shared.events.publish(Event::RunStarted {
        id: run_id.clone(),
        agent: agents[0].clone(),
    });
    if agents.len() > 1 {
        shared
            .events
            .publish(Event::SearchSpread { id: run_id, agents });
    }
}

/// Agents by job they are running: one entry per running run (or search share).
fn busy_agents(shared: &Shared) -> Vec<AgentId> {
    let running = shared.store.sync().running_runs().unwrap_or_default();
    running
        .into_iter()
        .filter(|(run, _)| !shared.spreads.contains(run))
        .map(|(_, agent)| AgentId(agent))
        .chain(shared.spreads.busy().into_iter().map(|(_, agent)| agent))
        .chain(shared.stopping.busy())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    const SPEC: &str = r#"
experiment = "churn"
model = "churn"
dataset = "churn@latest"
target = "churned"
task = "classification"
algorithm = "logistic_regression"
[search]
params = { alpha = [0.0, 0.1, 1.0, 3.0] }
"#;

    fn queue(shared: &Shared, spec: &str) -> String {
        let spec = TrainSpec::from_toml(spec).expect("spec");
        submit(shared, spec).expect("queued").id
    }

    #[test]
    fn free_agents_are_shared_out_and_a_lone_search_spreads_over_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = testing::shared(dir.path());
        testing::dataset(&shared, "churn", &testing::churn_csv(60));
        let _a = testing::agent(&shared, "ag-a", 1);
        let _b = testing::agent(&shared, "ag-b", 1);

        let single = SPEC.replace("[0.0, 0.1, 1.0, 3.0]", "[0.0]");
        let (first, second) = (queue(&shared, &single), queue(&shared, &single));
        let placed = plan(&shared);
        let mut runs: Vec<&str> = placed.iter().map(|p| p.run_id.as_str()).collect();
        runs.sort();
        let mut queued = [first.as_str(), second.as_str()];
        queued.sort();
        assert_eq!(runs, queued, "one agent each");
        let mut agents: Vec<AgentId> = placed.iter().flat_map(|p| p.agents.clone()).collect();
        agents.sort();
        assert_eq!(agents, [AgentId("ag-a".into()), AgentId("ag-b".into())]);
        assert!(plan(&shared).is_empty(), "both agents are busy now");

        let dir = tempfile::tempdir().expect("tempdir");
        let shared = testing::shared(dir.path());
        testing::dataset(&shared, "churn", &testing::churn_csv(60));
        let _a = testing::agent(&shared, "ag-a", 1);
        let _b = testing::agent(&shared, "ag-b", 1);
        let search = queue(&shared, SPEC);
        let placed = plan(&shared);
        assert_eq!(placed.len(), 1);
        assert_eq!(placed[0].run_id, search);
        let shares: Vec<Option<Vec<u32>>> = placed[0]
            .jobs
            .iter()
            .map(|(_, job)| {
                assert!(job.search_only);
                job.trials.clone()
            })
            .collect();
        assert_eq!(shares, [Some(vec![1, 3]), Some(vec![2, 4])]);
        assert!(shared.spreads.contains(&search));
    }

    #[test]
    fn a_job_that_cannot_be_sent_goes_back_to_the_queue() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = testing::shared(dir.path());
        testing::dataset(&shared, "churn", &testing::churn_csv(60));
        let gone = testing::agent(&shared, "ag-gone", 1);
        drop(gone);
        let run = queue(&shared, &SPEC.replace("[0.0, 0.1, 1.0, 3.0]", "[0.0]"));
        let placed = plan(&shared);
        assert_eq!(placed.len(), 1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let shared = Arc::new(shared);
        runtime.block_on(dispatch(&shared, placed.into_iter().next().expect("one")));
        let status = shared.store.sync().run(&run).expect("run").expect("stored");
        assert_eq!(status.summary.status, RunStatus::Queued);
    }
}
