//! Reactions: every cross-domain trigger in one place, driven by the stored event log.
//!
//! | event | reaction |
//! | --- | --- |
//! | `DatasetAdded` | queue a run of each schedule that retrains on that dataset |
//! | `RunFinished` (succeeded, gates passed) | register the next version of its model |
//! | `AlertFired` | its rule's action: retrain the model, or roll back its rollout |
//!
//! An event that does not decode is left out by the reader and quarantined here
//! ([`crate::store::quarantine`]), so one bad record never stops the reactions after it.
//!
//! The log is read through a cursor persisted in the store, and the events that cause
//! reactions commit in the same transaction as their change. So a coordinator killed right
//! after a cause performs its reaction once it is back. A reaction replayed after a crash
//! between reacting and moving the cursor changes nothing twice: registration checks whether
//! the run already has a version, and a triggered run carries its cause, of which the store
//! keeps at most one run.

use std::sync::Arc;
use std::time::Duration;

use drover_protocol::msg::{Event, EventRecord};
use drover_protocol::run::RunStatus;
use tokio_util::sync::CancellationToken;

use crate::registry;
use crate::state::Shared;
use crate::training::schedules;

/// The cursor's name in the store.
const CURSOR: &str = "reactions";
/// Most events read per pass.
const BATCH: u32 = 256;

/// Reacts to every stored event, from where the last process left off, until shutdown.
pub async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    if held() {
        tracing::warn!("reactions held for a test");
        return shutdown.cancelled().await;
    }
    loop {
        let more = shared
            .blocking(|shared| {
                let more = react_pending(shared);
                quarantine(shared);
                more
            })
            .await;
        if more {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.events.stored() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Test-only: reactions never run while `DROVER_FAULT_HOLD_REACTIONS` is set.
#[cfg(all(feature = "fault-injection", debug_assertions))]
fn held() -> bool {
    std::env::var_os("DROVER_FAULT_HOLD_REACTIONS").is_some()
}

#[cfg(not(all(feature = "fault-injection", debug_assertions)))]
fn held() -> bool {
    false
}

/// Reacts to the events after the cursor, moving it past each; true when a full batch was
/// read (more may be waiting).
pub fn react_pending(shared: &Shared) -> bool {
    let store = shared.store.sync();
    let read = store
        .reaction_cursor(CURSOR)
        .and_then(|cursor| store.events_after(cursor, BATCH));
    let events = match read {
        Ok(events) => events,
        Err(e) => {
            tracing::error!(cause = %e, "could not read the event log for reactions");
            return false;
        }
    };
    for record in &events {
        // A reaction that panics is logged and passed over, so that one bad event cannot
        // stop every reaction after it.
        let reacted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            react(shared, record);
        }));
        if reacted.is_err() {
            tracing::error!(
                seq = record.seq,
                kind = record.event.kind(),
                "a reaction panicked; moving past its event"
            );
        }
        if let Err(e) = store.set_reaction_cursor(CURSOR, record.seq) {
            tracing::error!(cause = %e, seq = record.seq, "could not move the reaction cursor");
            return false;
        }
    }
    events.len() == BATCH as usize
}

/// Moves the records readers found undecodable (the event log's included) into the
/// quarantine table, and announces the events that name them.
fn quarantine(shared: &Shared) {
    match shared
        .store
        .sync()
        .quarantine_pending(drover_protocol::types::unix_ms())
    {
        Ok(records) => records.into_iter().for_each(|r| shared.events.announce(r)),
        Err(e) => tracing::error!(cause = %e, "could not quarantine unreadable records"),
    }
}

/// What one event causes.
fn react(shared: &Shared, record: &EventRecord) {
    match &record.event {
        Event::DatasetAdded { name, version, .. } => {
            schedules::on_dataset_added(shared, name, *version, record.seq);
        }
        Event::RunFinished {
            id,
            status: RunStatus::Succeeded,
            ..
        } => registry::on_run_succeeded(shared, id),
        Event::AlertFired { alert } => crate::drift::actions::on_alert(shared, alert),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use drover_protocol::hash::ContentHash;
    use drover_protocol::run::RunFilter;
    use drover_protocol::spec::TrainSpec;

    use super::*;
    use crate::testing;

    /// [`testing::SPEC`] with a gate every run here passes.
    fn gated() -> String {
        format!("{}[gates]\nmin = {{ accuracy = 0.5 }}\n", testing::SPEC)
    }

    fn runs(shared: &Shared) -> Vec<drover_protocol::run::RunSummary> {
        shared
            .store
            .sync()
            .runs(&RunFilter::default(), 100)
            .expect("runs")
    }

    fn rewind(shared: &Shared) {
        shared
            .store
            .sync()
            .set_reaction_cursor(CURSOR, 0)
            .expect("cursor");
    }

    #[test]
    fn a_new_version_queues_one_retrain_per_schedule_even_when_replayed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = testing::shared(dir.path());
        testing::dataset(&shared, "churn", &testing::churn_csv(60));
        let retrain = gated().replace("[search]", "retrain_on_new_data = true\n[search]");
        let spec = TrainSpec::from_toml(&retrain).expect("spec");
        crate::training::schedules::submit_spec(&shared, spec).expect("queued");
        react_pending(&shared);
        assert_eq!(runs(&shared).len(), 1, "version 1 came before the schedule");

        testing::dataset(&shared, "churn", &testing::churn_csv(61));
        react_pending(&shared);
        let after = runs(&shared);
        assert_eq!(after.len(), 2);
        assert_eq!(after[0].dataset, "churn@2");

        rewind(&shared);
        react_pending(&shared);
        assert_eq!(
            runs(&shared).len(),
            2,
            "a replayed reaction queues nothing twice"
        );
    }

    #[test]
    fn a_run_that_passed_its_gates_is_registered_once_one_that_failed_never_and_a_same_model_not_again()
     {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = testing::shared(dir.path());
        testing::dataset(&shared, "churn", &testing::churn_csv(60));
        let spec = TrainSpec::from_toml(&gated()).expect("spec");
        let store = shared.store.sync();
        let artifact = ContentHash::of(b"model").to_string();
        let mut ids = Vec::new();
        for passed in [true, false, true] {
            let run = crate::training::runs::submit(&shared, spec.clone()).expect("queued");
            assert!(testing::succeed(&shared, &run.id, passed, &artifact));
            ids.push(run.id);
        }
        react_pending(&shared);
        rewind(&shared);
        react_pending(&shared);
        let versions = store.model_versions("churn").expect("versions");
        let registered: Vec<&str> = versions.iter().map(|v| v.run_id.as_str()).collect();
        assert_eq!(registered, [ids[0].as_str()]);
        let same = store.run(&ids[2]).expect("read").expect("stored");
        assert_eq!(same.registered.as_deref(), Some("churn@1"));
        assert_eq!(
            same.tags
                .get(drover_protocol::run::SAME_MODEL_TAG)
                .map(String::as_str),
            Some("churn@1")
        );
    }
}
