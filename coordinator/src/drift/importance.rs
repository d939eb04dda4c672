//! Feature importance on live feedback against training: the ranks of each version's input
//! columns in both, and the condition of an importance rule.

use drover_ml::drift::rank;
use drover_protocol::drift::{AlertKind, DriftReport, ImportanceRank, Reference};

use super::condition::Condition;
use super::config::Rule;
use crate::state::Shared;

/// Importance below this (a share of accuracy) is noise: such columns' ranks are not judged.
const IMPORTANCE_FLOOR: f64 = 0.01;

/// The version's importance ranks at training time and on the live feedback received since
/// `since_ms` (agents' measures weighted by their rows), with the rows behind them.
pub fn live_ranks(
    shared: &Shared,
    reference: &Reference,
    model: &str,
    version: u32,
    since_ms: u64,
) -> Option<(Vec<ImportanceRank>, u64)> {
    if reference.importance.is_empty() {
        return None;
    }
    let windows = shared
        .store
        .sync()
        .importance_since(model, version, since_ms)
        .ok()?;
    let width = reference.importance.len();
    let mut sum = vec![0.0; width];
    let mut rows = 0u64;
    for w in windows.iter().filter(|w| w.importance.len() == width) {
        for (s, v) in sum.iter_mut().zip(&w.importance) {
            *s += v * w.rows as f64;
        }
        rows += w.rows;
    }
    if rows == 0 {
        return None;
    }
    let live: Vec<f64> = sum.iter().map(|s| s / rows as f64).collect();
    let names: Vec<String> = reference.columns.iter().map(|c| c.name.clone()).collect();
    Some((rank::compare(&names, &reference.importance, &live)?, rows))
}

/// Whether a column moved `rule.above` places or more in the importance ranking.
pub fn condition(rule: &Rule, report: &DriftReport, min_rows: u64) -> Condition {
    let moved = rank::largest_move(&report.importance, IMPORTANCE_FLOOR);
    let bound = rule.above.unwrap_or(3.0);
    let (value, detail) = match moved {
        Some((r, by)) => (
            f64::from(by),
            format!(
                "{} moved from rank {} to {} (importance {:.3} -> {:.3}) on {} labelled rows",
                r.column, r.training_rank, r.live_rank, r.training, r.live, report.importance_rows
            ),
        ),
        None => (0.0, "no column matters enough to rank".into()),
    };
    Condition {
        key: (
            rule.name.clone(),
            report.model.clone(),
            Some(report.version),
            None,
        ),
        kind: AlertKind::Importance,
        action: rule.action,
        bad: (report.importance_rows >= min_rows && !report.importance.is_empty())
            .then_some(value >= bound),
        value,
        bound,
        detail,
    }
}
