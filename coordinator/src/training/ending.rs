//! How a run ends: its end and the event reporting it stored together (registering a model
//! that passed its gates is a reaction to that event), with the gates judged on success.

use drover_protocol::msg::Event;
use drover_protocol::run::{JobSuccess, RunStatus};

use crate::state::Shared;
use crate::store::FinishedRun;

/// Stores the end of a run with its event, and tells everyone; registering a model that
/// passed its gates is a reaction to that event (see `reactions`).
pub fn record(shared: &Shared, run_id: &str, end: FinishedRun<'_>, detail: String) {
    let event = Event::RunFinished {
        id: run_id.into(),
        status: end.status,
        detail,
    };
    match shared.store.sync().finish_run(run_id, &end, event) {
        Ok(Some(record)) => {
            shared.events.announce(record);
            observe_end(shared, run_id, &end);
        }
        Ok(None) => {}
        Err(e) => tracing::error!(run = run_id, cause = %e, "could not record the end of a run"),
    }
}

/// The `/metrics` series of a run that ended: how long it waited and ran, by status.
fn observe_end(shared: &Shared, run_id: &str, end: &FinishedRun<'_>) {
    let status = end.status.to_string();
    metrics::counter!("drover_runs_finished_total", "status" => status.clone()).increment(1);
    let Ok(Some(run)) = shared.store.sync().run(run_id) else {
        return;
    };
    let seconds = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1000.0;
    if let Some(started) = run.summary.started_ms {
        metrics::histogram!("drover_run_queue_wait_seconds")
            .record(seconds(run.summary.created_ms, started));
        metrics::histogram!("drover_run_duration_seconds", "status" => status)
            .record(seconds(started, end.finished_ms));
    }
}

pub fn failed(reason: &str, now: u64) -> (FinishedRun<'_>, String) {
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

pub fn succeeded<'a>(
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
        .map(|(k, v)| format!("{k} {}", drover_ml::metric::display(k, *v)))
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
