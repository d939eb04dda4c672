//! The monitor: every `every`, each served version's sketches over the sliding window (kept
//! as running sums per agent, [`Aggregates`], and pooled over the agents that agree) are
//! merged and scored against its reference (thresholds calibrated once per column and
//! window size), the scores stored, and every alert rule evaluated with hysteresis; an
//! alert that fires or resolves is stored with its event in one transaction, so the
//! reactions that act on it (retrain, roll back) and the sinks that deliver it survive a
//! restart.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use drover_ml::drift::score;
use drover_protocol::drift::{
    Alert, AlertKind, ColumnCounts, ColumnDrift, ColumnReference, DriftReport, Reference, Status,
};
use drover_protocol::msg::Event;
use drover_protocol::types::{AgentId, AgentStatus};

use super::aggregates::Aggregates;
use super::condition::{self, Condition, Key};
use super::config::Monitoring;
use super::hysteresis::{Change, Hysteresis};
use super::pooled::{Pooled, pool};
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
    /// What agents reported over the window, per agent and version.
    aggregates: Aggregates,
    /// The agents left out of a version's evidence, announced once each time they are.
    apart: HashSet<(String, u32, AgentId)>,
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
            aggregates: Aggregates::default(),
            apart: HashSet::new(),
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

    /// Scores each column of `model@version` on what the agents that agree sketched over
    /// the window (`pooled`).
    fn drift(
        &mut self,
        model: &str,
        version: u32,
        reference: &Reference,
        pooled: &Pooled,
        now_ms: u64,
    ) -> DriftReport {
        let sketch = pooled
            .evidence
            .sketch
            .as_ref()
            .filter(|s| super::pooled::fits(s, reference));
        let empty = |c: &ColumnReference| ColumnCounts::empty(c.counts.len());
        let mut judged: Vec<ColumnDrift> = reference
            .columns
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let live = sketch.map_or_else(|| empty(r), |s| s.columns[i].clone());
                self.judge(model, version, i, r, &live)
            })
            .collect();
        let predictions =
            sketch.map_or_else(|| empty(&reference.predictions), |s| s.predictions.clone());
        judged.push(self.judge(
            model,
            version,
            usize::MAX,
            &reference.predictions,
            &predictions,
        ));
        judged.sort_by(worst_first);
        let (importance, importance_rows) =
            importance::live_ranks(reference, pooled.importance.as_ref()).unwrap_or_default();
        DriftReport {
            model: model.into(),
            version,
            at_ms: now_ms,
            columns: judged,
            importance,
            importance_rows,
        }
    }

    /// Each version of `model` with evidence in the window (and `served`), pooled over the
    /// agents that agree; an agent newly found disagreeing is announced once.
    fn pooled(
        &mut self,
        shared: &Shared,
        model: &str,
        served: &[u32],
    ) -> Vec<(u32, Option<Arc<Reference>>, Pooled)> {
        let mut versions = self.aggregates.versions(model);
        versions.extend(served);
        versions.sort_unstable();
        versions.dedup();
        let mut out = Vec::new();
        for version in versions {
            let reference = match served.contains(&version) {
                true => self.reference(shared, model, version),
                false => None,
            };
            let pooled = pool(
                self.aggregates.evidence(model, version),
                reference.as_deref(),
            );
            self.apart.retain(|(m, v, agent)| {
                (m.as_str(), *v) != (model, version) || pooled.apart.iter().any(|(a, _)| a == agent)
            });
            for (agent, detail) in &pooled.apart {
                if self
                    .apart
                    .insert((model.to_string(), version, agent.clone()))
                {
                    tracing::warn!(%agent, model, version, %detail, "an agent's evidence is left out of monitoring");
                    shared.events.publish(Event::AgentLeftOut {
                        model: model.to_string(),
                        version,
                        agent: agent.clone(),
                        detail: detail.clone(),
                    });
                }
            }
            out.push((version, reference, pooled));
        }
        out
    }

    /// One pass: every served version scored and stored, every rule evaluated.
    pub fn evaluate(&mut self, shared: &Shared, now_ms: u64) {
        self.thresholds.start_pass();
        let window_ms = self.config.window.as_millis() as u64;
        let since_ms = now_ms.saturating_sub(window_ms);
        if let Err(e) = self
            .aggregates
            .update(shared.store.sync(), since_ms, window_ms)
        {
            tracing::error!(cause = %e, "could not read what agents reported");
            return;
        }
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
            let model = &deployment.model;
            let variants: Vec<u32> = deployment.variants.iter().map(|v| v.version).collect();
            served.extend(variants.iter().map(|v| (model.clone(), *v)));
            let mut tallies = Vec::new();
            for (version, reference, pooled) in self.pooled(shared, model, &variants) {
                tallies.push((version, pooled.evidence.tally.clone()));
                let Some(reference) = reference else {
                    continue;
                };
                let report = self.drift(model, version, &reference, &pooled, now_ms);
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
                model,
                &tallies,
                self.config.min_samples,
            ));
        }
        self.references.retain(|k, _| served.contains(k));
        self.thresholds.retain(&served);
        self.apart
            .retain(|(m, v, _)| served.contains(&(m.clone(), *v)));
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
