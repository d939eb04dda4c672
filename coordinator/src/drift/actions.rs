//! What a fired alert makes the coordinator do, run by [`crate::reactions`] from the stored
//! event log (so a restart loses none): retrain the model on the newest version of its
//! dataset, roll back its running rollout, or nothing beyond notifying.

use drover_protocol::drift::{Alert, AlertAction};
use drover_protocol::registry::Selector;
use drover_protocol::rollout::Command;

use crate::rollout::controller;
use crate::state::Shared;
use crate::training::runs;

/// Performs `alert`'s action. Replayed after a crash it does nothing twice: a retrain's
/// cause is the alerted version (the store keeps one run per cause), and a rollout once
/// rolled back is no longer running.
pub fn on_alert(shared: &Shared, alert: &Alert) {
    match alert.action {
        AlertAction::Notify => {}
        AlertAction::Retrain => retrain(shared, alert),
        AlertAction::Rollback => {
            match controller::command(shared, &alert.subject, Command::Abort) {
                Ok(_) => {
                    tracing::warn!(model = %alert.subject, alert = alert.id, "rolled back on an alert")
                }
                Err(e) => {
                    tracing::info!(model = %alert.subject, alert = alert.id, "alert asks for a rollback: {}", e.message)
                }
            }
        }
    }
}

fn retrain(shared: &Shared, alert: &Alert) {
    let model = &alert.subject;
    let store = shared.store.sync();
    let selector = alert.version.map_or(Selector::Latest, Selector::Number);
    let spec = store
        .model_version(model, &selector)
        .ok()
        .flatten()
        .and_then(|v| store.run(&v.run_id).ok().flatten())
        .and_then(|run| run.spec);
    let Some(mut spec) = spec else {
        tracing::warn!(
            model,
            alert = alert.id,
            "alert asks for a retrain, but no training spec of the version is known"
        );
        return;
    };
    let dataset = spec
        .dataset
        .split('@')
        .next()
        .unwrap_or_default()
        .to_string();
    spec.dataset = dataset.clone();
    let cause = format!("alert:{model}@{}", alert.version.unwrap_or(0));
    match runs::submit_for(shared, spec, Some(&cause)) {
        Ok(Some(run)) => {
            tracing::warn!(model, run = %run.id, "retraining on the newest {dataset} after alert {}", alert.id)
        }
        Ok(None) => tracing::info!(model, "this version's retrain is already queued"),
        Err(e) => {
            tracing::error!(model, cause = %e.message, "could not queue the retrain an alert asked for")
        }
    }
}
