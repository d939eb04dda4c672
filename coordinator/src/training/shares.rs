//! The ends of a search spread over several agents: each share's result, the refit of the
//! best trial once every share is in, and stopping the shares still running when the run
//! ends early.

use drover_protocol::msg::{AgentCommand, Event};
use drover_protocol::run::{JobAssignment, JobOutcome};
use drover_protocol::types::{AgentId, unix_ms};

use super::baseline::baseline;
use super::ending::{failed, record};
use super::spread::ShareDone;
use crate::state::Shared;

/// One agent's share of a spread search ended: wait for the others, refit the best trial
/// once all are in, or fail the run (and stop the other shares) if this one failed.
pub(super) fn finish_share(shared: &Shared, agent: &AgentId, run_id: &str, outcome: JobOutcome) {
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
pub(super) fn stop_shares(shared: &Shared, run_id: &str) {
    for agent in shared.spreads.forget(run_id) {
        if let Some(commands) = shared.fleet.commands(&agent) {
            shared.stopping.insert(&agent, run_id);
            let _ = commands.try_send(AgentCommand::CancelJob {
                run_id: run_id.into(),
            });
        }
    }
}
