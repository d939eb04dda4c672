//! Feature importance on live feedback against training: the ranks of each version's input
//! columns in both, and the condition of an importance rule.

use drover_ml::drift::rank;
use drover_protocol::drift::{AlertKind, DriftReport, ImportanceRank, Reference};

use super::condition::Condition;
use super::config::Rule;

/// Importance below this (a share of accuracy) is noise: such columns' ranks are not judged.
const IMPORTANCE_FLOOR: f64 = 0.01;

/// The version's importance ranks at training time and on live feedback (`live`: per
/// column, with the labelled rows behind it), and those rows.
pub fn live_ranks(
    reference: &Reference,
    live: Option<&(Vec<f64>, u64)>,
) -> Option<(Vec<ImportanceRank>, u64)> {
    let (live, rows) = live?;
    if reference.importance.is_empty() || live.len() != reference.importance.len() || *rows == 0 {
        return None;
    }
    let names: Vec<String> = reference.columns.iter().map(|c| c.name.clone()).collect();
    Some((rank::compare(&names, &reference.importance, live)?, *rows))
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
