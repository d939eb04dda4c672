//! Repeating training: a spec with `schedule` (a cron pattern, UTC) or `retrain_on_new_data`
//! is stored as a schedule when submitted; the coordinator queues a run of it whenever the
//! pattern comes due or a new version of its dataset is added.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::Cron;
use drover_protocol::msg::{ApiError, Event};
use drover_protocol::run::RunSummary;
use drover_protocol::spec::TrainSpec;
use drover_protocol::types::unix_ms;
use rand::RngCore;

use crate::state::Shared;
use crate::training::runs;

/// Queues a run of `spec`; a repeating spec also becomes a schedule that queues more.
pub fn submit_spec(shared: &Shared, spec: TrainSpec) -> Result<RunSummary, ApiError> {
    if !spec.repeats() {
        return runs::submit(shared, spec);
    }
    if let Some(pattern) = &spec.schedule {
        parse(pattern)?;
    }
    let run = runs::submit(shared, spec.once())?;
    create(shared, &spec)?;
    Ok(run)
}

/// Parses a five-field cron pattern, with a clear error.
pub fn parse(pattern: &str) -> Result<Cron, ApiError> {
    Cron::from_str(pattern)
        .map_err(|e| ApiError::invalid(format!("schedule {pattern:?} is not a cron pattern: {e}")))
}

/// The first time after `after_ms` that `cron` matches.
fn next_after(cron: &Cron, after_ms: u64) -> Option<u64> {
    let start: DateTime<Utc> = DateTime::from_timestamp_millis(after_ms as i64)?;
    cron.find_next_occurrence(&start, false)
        .ok()
        .map(|t| t.timestamp_millis() as u64)
}

/// Stores the schedule of a repeating spec; returns its id.
pub fn create(shared: &Shared, spec: &TrainSpec) -> Result<String, ApiError> {
    let now = unix_ms();
    let next =
        match &spec.schedule {
            Some(pattern) => Some(next_after(&parse(pattern)?, now).ok_or_else(|| {
                ApiError::invalid(format!("schedule {pattern:?} never comes due"))
            })?),
            None => None,
        };
    let dataset = spec.dataset_ref().map_err(ApiError::invalid)?.name;
    let mut raw = [0u8; 4];
    rand::thread_rng().fill_bytes(&mut raw);
    let id = format!("sched-{}", drover_protocol::pki::hex(&raw));
    shared
        .store
        .sync()
        .insert_schedule(&id, spec, &dataset, next, now)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(id)
}

/// Queues a run of schedule `id`; `cause` names the event it reacts to, if any.
fn fire(
    shared: &Shared,
    id: &str,
    spec: TrainSpec,
    reason: &str,
    next: Option<u64>,
    cause: Option<&str>,
) {
    let now = unix_ms();
    match runs::submit_for(shared, spec, cause) {
        Ok(None) => tracing::debug!(schedule = id, ?cause, "this cause already queued its run"),
        Ok(Some(run)) => {
            if let Err(e) = shared.store.sync().schedule_fired(id, &run.id, now, next) {
                tracing::error!(schedule = id, cause = %e, "could not record a firing");
            }
            shared.events.publish(Event::ScheduleFired {
                id: id.into(),
                run: run.id,
                reason: reason.into(),
            });
        }
        Err(e) => {
            tracing::warn!(schedule = id, cause = %e.message, "a schedule could not queue its run");
            let _ = shared.store.sync().schedule_fired(id, "-", now, next);
        }
    }
}

/// Queues the runs of every schedule that has come due.
pub fn tick(shared: &Shared) {
    let now = unix_ms();
    for (info, spec) in shared.store.sync().due_schedules(now).unwrap_or_default() {
        let Some(pattern) = info.cron.as_deref() else {
            continue;
        };
        let next = parse(pattern).ok().and_then(|c| next_after(&c, now));
        fire(
            shared,
            &info.id,
            spec,
            &format!("cron {pattern}"),
            next,
            None,
        );
    }
}

/// Reaction to event `seq`, a new version of `dataset`: queues a run on that version for each
/// schedule that retrains on the dataset and existed before the event, at most one per
/// schedule and event.
pub fn on_dataset_added(shared: &Shared, dataset: &str, version: u32, seq: u64) {
    for (info, spec) in shared
        .store
        .sync()
        .data_triggers(dataset, seq)
        .unwrap_or_default()
    {
        // The version that was new then, even if more have come since.
        let spec = TrainSpec {
            dataset: format!("{dataset}@{version}"),
            ..spec
        };
        let cause = format!("{}@event:{seq}", info.id);
        fire(
            shared,
            &info.id,
            spec,
            &format!("new data {dataset}@{version}"),
            None,
            Some(&cause),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_occurrence_follows_the_pattern() {
        let cron = parse("0 3 * * *").expect("pattern");
        // 2026-01-01T00:00:00Z -> 03:00 the same day.
        assert_eq!(
            next_after(&cron, 1_767_225_600_000),
            Some(1_767_225_600_000 + 3 * 3_600_000)
        );
        assert!(parse("every day").is_err());
    }

    #[test]
    fn a_due_cron_schedule_queues_one_run_and_moves_to_its_next_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = crate::testing::shared(dir.path());
        crate::testing::dataset(&shared, "churn", &crate::testing::churn_csv(60));
        let nightly =
            crate::testing::SPEC.replace("[search]", "schedule = \"0 3 * * *\"\n[search]");
        let spec = TrainSpec::from_toml(&nightly).expect("spec");
        let store = shared.store.sync();
        let past = unix_ms() - 1000;
        store
            .insert_schedule("sched-1", &spec, "churn", Some(past), past)
            .expect("schedule");
        tick(&shared);
        tick(&shared);
        let runs = store
            .runs(&drover_protocol::run::RunFilter::default(), 10)
            .expect("runs");
        assert_eq!(runs.len(), 1, "fired once: the next time is tomorrow");
        let (info, _) = store.schedules().expect("schedules").remove(0);
        assert_eq!(info.last_run_id.as_deref(), Some(runs[0].id.as_str()));
        assert!(info.next_run_ms.expect("next") > unix_ms());
    }
}
