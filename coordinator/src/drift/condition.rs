//! One evaluation of one alert condition, and the condition of a drift column: what the
//! monitor feeds to each condition's hysteresis.

use drover_protocol::drift::{AlertAction, AlertKind, ColumnDrift, DriftReport, Status};

use super::config::Rule;

/// What an alert condition is about: rule, subject, version and column.
pub type Key = (String, String, Option<u32>, Option<String>);

/// One evaluation of one condition.
pub struct Condition {
    pub key: Key,
    pub kind: AlertKind,
    pub action: AlertAction,
    /// `None` when inconclusive.
    pub bad: Option<bool>,
    pub value: f64,
    pub bound: f64,
    pub detail: String,
}

/// A drift column's condition under `rule`: bad when drifted, good when stable.
pub fn drift(rule: &Rule, report: &DriftReport, c: &ColumnDrift) -> Condition {
    Condition {
        key: (
            rule.name.clone(),
            report.model.clone(),
            Some(report.version),
            Some(c.column.clone()),
        ),
        kind: AlertKind::Drift,
        action: rule.action,
        bad: match c.status {
            Status::Drifted => Some(true),
            Status::Stable => Some(false),
            Status::Inconclusive => None,
        },
        value: c.score,
        bound: c.threshold,
        detail: if c.reason.is_empty() {
            format!(
                "{} {:.4} (threshold {:.4}, {} values)",
                c.method, c.score, c.threshold, c.samples
            )
        } else {
            format!("{} ({} values)", c.reason, c.samples)
        },
    }
}
