//! Placement: which queued runs go to which free agents. Free agents are shared out among the
//! waiting runs; a run with several candidates spreads its trials over its share. Pure
//! bookkeeping over the store and the fleet, run on the blocking pool.

use drover_protocol::msg::AgentCommand;
use drover_protocol::run::JobAssignment;
use drover_protocol::spec::MAX_TRIALS;
use drover_protocol::types::{AgentId, unix_ms};
use tokio::sync::mpsc;

use super::baseline::baseline;
use super::spread;
use crate::fleet::Trainer;
use crate::state::Shared;

/// A run marked started, with the jobs to send for it.
pub(super) struct Placement {
    pub run_id: String,
    pub agents: Vec<AgentId>,
    pub jobs: Vec<(mpsc::Sender<AgentCommand>, JobAssignment)>,
}

/// Shares the free agents out among the queued runs and marks each placed run started.
pub(super) fn plan(shared: &Shared) -> Vec<Placement> {
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
    use crate::testing::{self, SPEC, queue};

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
}
