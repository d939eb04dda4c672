//! Production monitoring: live sketches from serving agents ([`record_sketches`]) scored
//! against each version's reference profile ([`references`]) by the [`monitor`], with
//! thresholds calibrated from the reference and [`hysteresis`]; alerts from the rules of
//! [`config`], acted on by reactions ([`actions`]) and delivered to [`sinks`].

pub mod actions;
#[cfg(test)]
mod agent_lost_tests;
pub mod aggregates;
#[cfg(test)]
mod agreement_tests;
#[cfg(test)]
mod bounds_tests;
pub mod condition;
pub mod config;
pub mod hysteresis;
pub mod importance;
pub mod monitor;
pub mod performance;
pub mod pooled;
pub mod references;
pub mod sinks;
#[cfg(test)]
mod tests;
pub mod thresholds;

use std::sync::Arc;

use drover_protocol::drift::{ImportanceWindow, MAX_SKETCH_COLUMNS, SketchWindow};
use drover_protocol::types::{AgentId, Labels, unix_ms};
use tokio_util::sync::CancellationToken;

use crate::deployments::{holds, plan_for};
use crate::quota::total;
use crate::state::Shared;

/// Stores the sketches of versions the agent's deployments hold; sketches of anything else,
/// beyond the bounds an agent may send, or counting more rows than one agent could have
/// predicted, are dropped.
pub fn record_sketches(
    shared: &Shared,
    agent: &AgentId,
    labels: &Labels,
    sketches: Vec<SketchWindow>,
) {
    let plan = plan_for(shared, labels);
    let limits = shared.reports;
    let kept: Vec<SketchWindow> = sketches
        .into_iter()
        .filter(|s| {
            s.bounded()
                && s.start_ms <= s.end_ms
                && holds(&plan, &s.model, s.version, false)
                && s.columns.iter().chain([&s.predictions]).all(|c| {
                    total(c.counts.iter().copied().chain([c.nulls, c.invalid]))
                        .is_some_and(|rows| limits.predictable(rows, s.start_ms, s.end_ms))
                })
        })
        .collect();
    if kept.is_empty() {
        return;
    }
    if let Err(e) = shared.store.sync().insert_sketches(agent, &kept, unix_ms()) {
        tracing::error!(cause = %e, %agent, "could not store sketches");
    }
}

/// Stores the live feature importance of versions the agent's deployments hold; anything
/// else, or beyond bounds (more rows than one agent could predict in the longest window),
/// is dropped.
pub fn record_importance(
    shared: &Shared,
    agent: &AgentId,
    labels: &Labels,
    windows: Vec<ImportanceWindow>,
) {
    let plan = plan_for(shared, labels);
    let kept: Vec<ImportanceWindow> = windows
        .into_iter()
        .filter(|w| {
            w.importance.len() <= MAX_SKETCH_COLUMNS
                && w.importance.iter().all(|v| v.is_finite())
                && shared
                    .reports
                    .predictable(w.rows, 0, crate::quota::MAX_WINDOW_MS)
                && holds(&plan, &w.model, w.version, false)
        })
        .collect();
    if kept.is_empty() {
        return;
    }
    if let Err(e) = shared
        .store
        .sync()
        .insert_importance(agent, &kept, unix_ms())
    {
        tracing::error!(cause = %e, %agent, "could not store live importance");
    }
}

/// Scores every served version every `config.every`, until shutdown.
pub async fn run(shared: Arc<Shared>, config: config::Monitoring, shutdown: CancellationToken) {
    let every = config.every;
    let mut monitor = shared
        .blocking(move |shared| monitor::Monitor::new(shared, config))
        .await;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        monitor = shared
            .blocking(move |shared| {
                monitor.evaluate(shared, unix_ms());
                monitor
            })
            .await;
    }
}
