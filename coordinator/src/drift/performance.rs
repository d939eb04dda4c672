//! Performance conditions of a model over the window: latency, error rate and live accuracy
//! against test accuracy, per version, from the serving windows agents sent.

use drover_protocol::drift::AlertKind;
use drover_protocol::registry::Selector;
use drover_protocol::serve::{LATENCY_BUCKETS_US, latency_quantile_us};

use super::condition::Condition;
use super::config::Rule;
use crate::rollout::analysis::Tally;
use crate::state::Shared;

/// The bound of the slowest latency bucket, microseconds.
const LAST_BUCKET_US: u64 = LATENCY_BUCKETS_US[LATENCY_BUCKETS_US.len() - 1];

/// Latency, error rate and live accuracy of each version of `model` over the window, from
/// what it served (`versions`, pooled over the agents that agree); inconclusive below `min`
/// requests (or labels).
pub fn conditions(
    shared: &Shared,
    rules: &[Rule],
    model: &str,
    versions: &[(u32, Tally)],
    min: u64,
) -> Vec<Condition> {
    let watching: Vec<&Rule> = rules
        .iter()
        .filter(|r| {
            r.watches(model)
                && matches!(
                    r.kind,
                    AlertKind::Latency | AlertKind::ErrorRate | AlertKind::Accuracy
                )
        })
        .collect();
    if watching.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (version, t) in versions {
        let version = *version;
        let tested = test_accuracy(shared, model, version);
        for rule in &watching {
            let bound = rule.above.unwrap_or(f64::INFINITY);
            let (bad, value, detail) = match rule.kind {
                AlertKind::ErrorRate => {
                    let rate = t.errors as f64 / t.requests.max(1) as f64;
                    (
                        (t.requests >= min).then_some(rate > bound),
                        rate,
                        format!("{:.1}% of {} requests failed", rate * 100.0, t.requests),
                    )
                }
                AlertKind::Latency => {
                    // Beyond the last bucket the p99 is only known to be over its bound:
                    // that bound is the value, never an infinity no record could hold.
                    let (p99_us, over) = match latency_quantile_us(&t.latency, 0.99) {
                        Some(us) => (us, ""),
                        None => (LAST_BUCKET_US, "over "),
                    };
                    let p99_ms = p99_us as f64 / 1000.0;
                    (
                        (t.requests >= min).then_some(p99_ms > bound),
                        p99_ms,
                        format!("p99 {over}{p99_ms:.1} ms over {} requests", t.requests),
                    )
                }
                _ => {
                    let live = t.correct as f64 / t.feedback.max(1) as f64;
                    let drop = tested.map_or(0.0, |a| a - live);
                    (
                        (t.feedback >= min && tested.is_some()).then_some(drop > bound),
                        drop,
                        format!(
                            "live accuracy {live:.3} on {} labels, test accuracy {:.3}",
                            t.feedback,
                            tested.unwrap_or(f64::NAN)
                        ),
                    )
                }
            };
            out.push(Condition {
                key: (rule.name.clone(), model.to_string(), Some(version), None),
                kind: rule.kind,
                action: rule.action,
                bad,
                value,
                bound,
                detail,
            });
        }
    }
    out
}

/// The version's accuracy on its test rows, from its registry entry.
fn test_accuracy(shared: &Shared, model: &str, version: u32) -> Option<f64> {
    let found = shared
        .store
        .sync()
        .model_version(model, &Selector::Number(version));
    found.ok().flatten()?.metrics.get("accuracy").copied()
}
