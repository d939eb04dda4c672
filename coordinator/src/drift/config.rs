//! How models are monitored: the drift window and its judging, per-column overrides, the
//! alert rules with their actions, and where alerts are delivered. Every field has a
//! default; `config/coordinator.toml` documents them under `[monitoring]`.

use std::collections::BTreeMap;
use std::time::Duration;

use drover_ml::drift::score::Judging;
use drover_protocol::drift::{AlertAction, AlertKind, Method};
use drover_protocol::rollout::text_duration;
use serde::Deserialize;

/// The `[monitoring]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    /// Sketches received this long ago or less are scored together (a sliding window).
    #[serde(with = "text_duration")]
    pub window: Duration,
    /// How often every served version is scored.
    #[serde(with = "text_duration")]
    pub every: Duration,
    /// Fewest live values for a verdict; fewer is inconclusive.
    pub min_samples: u64,
    /// Share of evaluations of an unchanged column allowed to exceed its calibrated
    /// threshold.
    pub false_alarm: f64,
    /// Evaluations in a row a condition must hold before its alert fires, and clear before
    /// it resolves (hysteresis: a flapping column alerts once).
    pub fire_after: u32,
    pub resolve_after: u32,
    /// Largest live share of NaN, infinite or unseen values that is no drift.
    pub invalid_share: f64,
    /// Largest rise of the share of missing values over the training data's.
    pub null_rise: f64,
    /// Per column name: a method and, optionally, a fixed threshold instead of the
    /// calibrated one.
    pub columns: BTreeMap<String, ColumnRule>,
    /// Alert rules; the defaults of [`default_rules`] when none are given.
    pub rules: Vec<Rule>,
    /// Alerts are POSTed as JSON to this `http://` URL (retried with backoff).
    pub webhook: Option<String>,
    /// Alerts are piped as JSON to this command's standard input (`sh -c`).
    pub command: Option<String>,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            every: Duration::from_secs(10),
            min_samples: 200,
            false_alarm: 0.01,
            fire_after: 2,
            resolve_after: 3,
            invalid_share: 0.01,
            null_rise: 0.05,
            columns: BTreeMap::new(),
            rules: Vec::new(),
            webhook: None,
            command: None,
        }
    }
}

/// A column's method and threshold, overriding the defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRule {
    pub method: Option<Method>,
    pub threshold: Option<f64>,
}

/// One alert rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub kind: AlertKind,
    /// Only this model (every model when absent).
    pub model: Option<String>,
    /// The bound: p99 milliseconds (latency), a share of requests (error_rate), a drop of
    /// live accuracy below test accuracy (accuracy), places a column moves in the ranking of
    /// feature importance (importance); unused for drift and agent_lost.
    pub above: Option<f64>,
    #[serde(default)]
    pub action: AlertAction,
}

impl Rule {
    /// Whether the rule watches `model`.
    pub fn watches(&self, model: &str) -> bool {
        self.model.as_deref().is_none_or(|m| m == model)
    }
}

/// The rules used when the config names none: notify on drift, an accuracy drop of 0.1,
/// 5% errors, a p99 over one second, a lost agent, and a column moving three places in the
/// ranking of feature importance.
pub fn default_rules() -> Vec<Rule> {
    let rule = |name: &str, kind, above| Rule {
        name: name.into(),
        kind,
        model: None,
        above,
        action: AlertAction::Notify,
    };
    vec![
        rule("drift", AlertKind::Drift, None),
        rule("accuracy", AlertKind::Accuracy, Some(0.1)),
        rule("errors", AlertKind::ErrorRate, Some(0.05)),
        rule("latency", AlertKind::Latency, Some(1_000.0)),
        rule("agent-lost", AlertKind::AgentLost, None),
        rule("importance", AlertKind::Importance, Some(3.0)),
    ]
}

impl Monitoring {
    /// The rules in force.
    pub fn rules(&self) -> Vec<Rule> {
        if self.rules.is_empty() {
            default_rules()
        } else {
            self.rules.clone()
        }
    }

    /// How columns are judged.
    pub fn judging(&self) -> Judging {
        Judging {
            min_samples: self.min_samples,
            invalid_share: self.invalid_share,
            null_rise: self.null_rise,
        }
    }

    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..0.5).contains(&self.false_alarm) || self.false_alarm == 0.0 {
            return Err(format!(
                "monitoring.false_alarm must be in (0, 0.5), not {}",
                self.false_alarm
            ));
        }
        if self.every.is_zero() || self.window < self.every {
            return Err(
                "monitoring.every must be positive and no longer than monitoring.window".into(),
            );
        }
        if self.fire_after == 0 || self.resolve_after == 0 {
            return Err("monitoring.fire_after and resolve_after must be at least 1".into());
        }
        if let Some(url) = &self.webhook
            && !url.starts_with("http://")
        {
            return Err(format!(
                "monitoring.webhook must be an http:// URL, not {url:?}"
            ));
        }
        for rule in &self.rules {
            let needs_bound = matches!(
                rule.kind,
                AlertKind::Latency
                    | AlertKind::ErrorRate
                    | AlertKind::Accuracy
                    | AlertKind::Importance
            );
            if needs_bound && rule.above.is_none_or(|b| !b.is_finite() || b < 0.0) {
                return Err(format!(
                    "alert rule {:?} ({}) needs a non-negative `above`",
                    rule.name, rule.kind
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitoring_settings_parse_with_defaults_and_refuse_nonsense() {
        let parsed: Monitoring = toml::from_str(
            r#"
window = "1m"
columns.monthly_charges = { method = "psi", threshold = 0.3 }
[[rules]]
name = "retrain-on-drift"
kind = "drift"
model = "churn"
action = "retrain"
"#,
        )
        .expect("parses");
        assert_eq!(parsed.window, Duration::from_secs(60));
        assert_eq!(parsed.every, Duration::from_secs(10));
        assert_eq!(parsed.columns["monthly_charges"].method, Some(Method::Psi));
        assert_eq!(parsed.rules()[0].action, AlertAction::Retrain);
        assert!(parsed.validate().is_ok());
        assert_eq!(Monitoring::default().rules().len(), 6);
        let bad: Monitoring =
            toml::from_str("[[rules]]\nname = \"l\"\nkind = \"latency\"\n").expect("parses");
        assert!(bad.validate().expect_err("no bound").contains("above"));
        assert!(
            toml::from_str::<Monitoring>("windw = \"1m\"").is_err(),
            "unknown keys are refused"
        );
    }
}
