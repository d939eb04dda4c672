//! The monitor: every `every`, each served version's sketches over the sliding window are
//! merged and scored against its reference (thresholds calibrated once per column and
//! window size), the scores stored, and every alert rule evaluated with hysteresis; an
//! alert that fires or resolves is stored with its event in one transaction, so the
//! reactions that act on it (retrain, roll back) and the sinks that deliver it survive a
//! restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use drover_ml::drift::score;
use drover_protocol::drift::{
    Alert, AlertKind, ColumnCounts, ColumnDrift, ColumnReference, DriftReport, Reference, Status,
};
use drover_protocol::types::AgentStatus;

use super::condition::{self, Condition, Key};
use super::config::Monitoring;
use super::hysteresis::{Change, Hysteresis};
use super::references;
use super::thresholds::Thresholds;
use super::{importance, performance};
use crate::state::Shared;
use crate::store::drift::worst_first;

/// The monitor's memory between evaluations: references and calibrated thresholds (both
/// bounded by what is served), each condition's hysteresis, and the alerts firing.
pub struct Monitor {
    pub config: Monitoring,
    references: HashMap<(String, u32), Option<Arc<Reference>>>,
    thresholds: Thresholds,
    conditions: HashMap<Key, Hysteresis>,
    firing: HashMap<Key, Alert>,
}

/// Most time one pass spends calibrating thresholds (a cold start with many served columns
/// spreads over several passes).
const CALIBRATION_BUDGET: Duration = Duration::from_millis(500);

impl Monitor {
    /// A monitor that knows the alerts the store has firing (so a restart neither fires
    /// them again nor forgets to resolve them).
    pub fn new(shared: &Shared, config: Monitoring) -> Self {
        let firing = match shared.store.sync().alerts(true, 100_000) {
            Ok(alerts) => alerts
                .into_iter()
                .map(|a| {
                    (
                        (
                            a.rule.clone(),
                            a.subject.clone(),
                            a.version,
                            a.column.clone(),
                        ),
                        a,
                    )
                })
                .collect(),
            Err(e) => {
                tracing::error!(cause = %e, "could not read the firing alerts");
                HashMap::new()
            }
        };
        Self {
            config,
            references: HashMap::new(),
            thresholds: Thresholds::new(CALIBRATION_BUDGET),
            conditions: HashMap::new(),
            firing,
        }
    }

    fn reference(&mut self, shared: &Shared, model: &str, version: u32) -> Option<Arc<Reference>> {
        self.references
            .entry((model.to_string(), version))
            .or_insert_with(|| references::load(shared, model, version))
            .clone()
    }

    /// Scores one column; `index` is its place in the reference (`usize::MAX` for the
    /// predictions).
    fn judge(
        &mut self,
        model: &str,
        version: u32,
        index: usize,
        reference: &ColumnReference,
        live: &ColumnCounts,
    ) -> ColumnDrift {
        let rule = self.config.columns.get(&reference.name).cloned();
        let n = live.total();
        let method = rule
            .as_ref()
            .and_then(|r| r.method)
            .unwrap_or_else(|| score::default_method(&reference.shape, reference.total()));
        let false_alarm = self.config.false_alarm;
        let threshold = match rule.and_then(|r| r.threshold) {
            Some(fixed) => Some(fixed),
            None => self.thresholds.get(
                &(model.to_string(), version, index, method),
                reference,
                n,
                false_alarm,
            ),
        };
        let judging = self.config.judging();
        let Some(threshold) = threshold else {
            let mut judged = score::judge(reference, live, method, f64::INFINITY, &judging);
            if judged.status == Status::Stable {
                judged.status = Status::Inconclusive;
                judged.reason = "calibrating its threshold".into();
            }
            return judged;
        };
        score::judge(reference, live, method, threshold, &judging)
    }

    /// Merges `model@version`'s sketches received since `since_ms` and scores each column.
    pub fn drift(
        &mut self,
        shared: &Shared,
        model: &str,
        version: u32,
        since_ms: u64,
        now_ms: u64,
    ) -> Option<DriftReport> {
        let reference = self.reference(shared, model, version)?;
        let sketches = match shared.store.sync().sketches_since(model, version, since_ms) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(cause = %e, model, version, "could not read sketches");
                return None;
            }
        };
        let mut columns: Vec<ColumnCounts> = reference
            .columns
            .iter()
            .map(|c| ColumnCounts::empty(c.counts.len()))
            .collect();
        let mut predictions = ColumnCounts::empty(reference.predictions.counts.len());
        for sketch in &sketches {
            if sketch.columns.len() != columns.len() {
                continue;
            }
            for (merged, live) in columns.iter_mut().zip(&sketch.columns) {
                merged.merge(live);
            }
            predictions.merge(&sketch.predictions);
        }
        let mut judged: Vec<ColumnDrift> = reference
            .columns
            .iter()
            .zip(&columns)
            .enumerate()
            .map(|(i, (r, live))| self.judge(model, version, i, r, live))
            .collect();
        judged.push(self.judge(
            model,
            version,
            usize::MAX,
            &reference.predictions,
            &predictions,
        ));
        judged.sort_by(worst_first);
        let (importance, importance_rows) =
            importance::live_ranks(shared, &reference, model, version, since_ms)
                .unwrap_or_default();
        Some(DriftReport {
            model: model.into(),
            version,
            at_ms: now_ms,
            columns: judged,
            importance,
            importance_rows,
        })
    }

    /// One pass: every served version scored and stored, every rule evaluated.
    pub fn evaluate(&mut self, shared: &Shared, now_ms: u64) {
        self.thresholds.start_pass();
        let window_ms = self.config.window.as_millis() as u64;
        let since_ms = now_ms.saturating_sub(window_ms);
        let deployments = match shared.store.sync().deployments() {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(cause = %e, "could not read deployments for monitoring");
                return;
            }
        };
        let rules = self.config.rules();
        let mut conditions = Vec::new();
        let mut served = Vec::new();
        for deployment in &deployments {
            for variant in &deployment.variants {
                served.push((deployment.model.clone(), variant.version));
                let Some(report) =
                    self.drift(shared, &deployment.model, variant.version, since_ms, now_ms)
                else {
                    continue;
                };
                if let Err(e) = shared.store.sync().insert_drift(&report) {
                    tracing::error!(cause = %e, "could not store drift scores");
                }
                if !report.importance.is_empty()
                    && let Err(e) = shared.store.sync().insert_ranks(&report)
                {
                    tracing::error!(cause = %e, "could not store importance ranks");
                }
                for rule in rules
                    .iter()
                    .filter(|r| r.kind == AlertKind::Importance && r.watches(&report.model))
                {
                    conditions.push(importance::condition(
                        rule,
                        &report,
                        self.config.min_samples,
                    ));
                }
                for rule in rules
                    .iter()
                    .filter(|r| r.kind == AlertKind::Drift && r.watches(&report.model))
                {
                    conditions.extend(
                        report
                            .columns
                            .iter()
                            .map(|c| condition::drift(rule, &report, c)),
                    );
                }
            }
            conditions.extend(performance::conditions(
                shared,
                &rules,
                &deployment.model,
                since_ms,
                self.config.min_samples,
            ));
        }
        self.references.retain(|k, _| served.contains(k));
        self.thresholds.retain(&served);
        if let Err(e) = shared.store.sync().forget_drift_except(&served) {
            tracing::error!(cause = %e, "could not forget the drift of versions no longer served");
        }
        for rule in rules.iter().filter(|r| r.kind == AlertKind::AgentLost) {
            // An agent that joined but never connected was never there to be lost.
            let known = shared
                .fleet
                .list()
                .into_iter()
                .filter(|a| a.last_heartbeat_ms.is_some());
            for agent in known {
                conditions.push(Condition {
                    key: (rule.name.clone(), agent.id.to_string(), None, None),
                    kind: AlertKind::AgentLost,
                    action: rule.action,
                    bad: Some(agent.status == AgentStatus::Lost),
                    value: 0.0,
                    bound: 0.0,
                    detail: format!(
                        "agent {} ({}) is {}",
                        agent.id, agent.hostname, agent.status
                    ),
                });
            }
        }
        for condition in conditions {
            self.apply(shared, condition, now_ms);
        }
        let keep_ms = now_ms.saturating_sub(2 * window_ms);
        let history_ms = now_ms.saturating_sub(7 * 24 * 3_600_000);
        if let Err(e) = shared.store.sync().prune_drift(keep_ms, history_ms) {
            tracing::error!(cause = %e, "could not prune drift history");
        }
    }

    /// Feeds one evaluation to its hysteresis; fires or resolves the alert when it says so.
    fn apply(&mut self, shared: &Shared, c: Condition, now_ms: u64) {
        let firing = self.firing.contains_key(&c.key);
        let (fire_after, resolve_after) = (self.config.fire_after, self.config.resolve_after);
        let change = self.conditions.entry(c.key.clone()).or_default().observe(
            c.bad,
            firing,
            fire_after,
            resolve_after,
        );
        let store = shared.store.sync();
        match change {
            Some(Change::Fire) => {
                let (rule, subject, version, column) = c.key.clone();
                let alert = Alert {
                    id: 0,
                    rule,
                    kind: c.kind,
                    subject,
                    version,
                    column,
                    action: c.action,
                    firing: true,
                    fired_ms: now_ms,
                    resolved_ms: None,
                    value: c.value,
                    bound: c.bound,
                    detail: c.detail,
                };
                match store.fire_alert(alert) {
                    Ok((alert, record)) => {
                        tracing::warn!(id = alert.id, "alert firing: {}", alert.line());
                        metrics::counter!("drover_alerts_fired_total", "kind" => alert.kind.to_string()).increment(1);
                        shared.events.announce(record);
                        self.firing.insert(c.key, alert);
                    }
                    Err(e) => tracing::error!(cause = %e, "could not store an alert"),
                }
            }
            Some(Change::Resolve) => {
                let Some(alert) = self.firing.get(&c.key) else {
                    return;
                };
                match store.resolve_alert(alert, now_ms) {
                    Ok((alert, record)) => {
                        tracing::info!(id = alert.id, "alert resolved: {}", alert.line());
                        shared.events.announce(record);
                        self.firing.remove(&c.key);
                    }
                    Err(e) => tracing::error!(cause = %e, "could not resolve an alert"),
                }
            }
            None => {}
        }
    }
}
