//! The scheduler loop: whenever something changes (and at least every second) it fires due
//! schedules, plans placements on the blocking pool and sends the jobs.

use std::sync::Arc;
use std::time::Duration;

use drover_protocol::msg::{AgentCommand, Event};
use tokio_util::sync::CancellationToken;

use super::placement::{Placement, plan};
use super::shares::stop_shares;
use crate::state::Shared;

/// Hands queued runs to agents whenever something changes, and at least every second.
pub async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    shared.blocking(requeue_orphans).await;
    loop {
        let placements = shared
            .blocking(|shared| {
                crate::training::schedules::tick(shared);
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

#[cfg(test)]
mod tests {
    use drover_protocol::run::RunStatus;

    use super::*;
    use crate::testing::{self, SPEC, queue};

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
