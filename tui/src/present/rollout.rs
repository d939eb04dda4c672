//! Rollouts as listings, status pages and the console show them: where a rollout stands,
//! its weights, and each decision with the checks behind it.

use drover_protocol::rollout::{Check, Decision, Phase, RolloutStatus, Strategy};

use super::{age, table};

/// `step 2/4 (25%)`, `guard`, `paused: ...`: where a rollout is.
pub fn stage(status: &RolloutStatus) -> String {
    let r = &status.rollout;
    match (&r.phase, r.spec.strategy) {
        (Phase::Running, Strategy::Canary) => format!(
            "step {}/{} ({}%)",
            r.step + 1,
            r.spec.steps.len(),
            status.weights.candidate
        ),
        (Phase::Running, Strategy::Bluegreen) => "loading the candidate at 0%".into(),
        (Phase::Running, Strategy::Shadow) => "shadowing".into(),
        (Phase::Running, Strategy::Ab) => format!("comparing at {}%", status.weights.candidate),
        (phase, _) => phase.to_string(),
    }
}

/// `@1 75%, @2 25%` or `@1 100%, @2 shadow`.
pub fn weights(status: &RolloutStatus) -> String {
    let r = &status.rollout;
    let w = status.weights;
    let candidate = if w.shadow {
        "shadow".to_string()
    } else {
        format!("{}%", w.candidate)
    };
    format!(
        "@{} {}%, @{} {candidate}",
        r.baseline, w.baseline, r.candidate
    )
}

/// One line per rollout.
pub fn list(rollouts: &[RolloutStatus], now_ms: u64) -> String {
    let rows: Vec<Vec<String>> = rollouts
        .iter()
        .map(|s| {
            let r = &s.rollout;
            vec![
                r.id.to_string(),
                r.model.clone(),
                format!("@{} -> @{}", r.baseline, r.candidate),
                r.spec.strategy.to_string(),
                clipped(&stage(s), 60),
                weights(s),
                age(Some(r.updated_ms), now_ms),
            ]
        })
        .collect();
    table(
        &[
            "ID", "MODEL", "VERSIONS", "STRATEGY", "STAGE", "WEIGHTS", "UPDATED",
        ],
        &rows,
    )
}

/// `text` cut to `width` characters, an ellipsis marking the cut.
pub fn clipped(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A check as one line: verdict, values, samples, interval and tolerance.
pub fn check(c: &Check) -> String {
    let interval = match (c.low, c.high) {
        (Some(l), Some(h)) => format!("  diff [{l:+.4}, {h:+.4}]"),
        _ => String::new(),
    };
    format!(
        "{:<44} {:<12} {:.4} (n={}) vs {:.4} (n={}){interval}  tol {}  {}",
        c.metric,
        c.verdict.to_string(),
        c.candidate_value,
        c.candidate_n,
        c.baseline_value,
        c.baseline_n,
        c.tolerance,
        c.test
    )
}

/// A decision's headline: time, action and reason.
pub fn decision(d: &Decision, now_ms: u64) -> String {
    format!(
        "{:>8}  {:<14} {}",
        age(Some(d.at_ms), now_ms),
        d.action.to_string(),
        d.reason
    )
}

/// A rollout's status page: where it is, its weights and every decision with its checks.
pub fn page(status: &RolloutStatus, now_ms: u64) -> String {
    let r = &status.rollout;
    let mut out = format!(
        "rollout {} of {}: @{} -> @{}, {}, {}\nweights: {}\nstarted {}\n\n",
        r.id,
        r.model,
        r.baseline,
        r.candidate,
        r.spec.strategy,
        stage(status),
        weights(status),
        age(Some(r.started_ms), now_ms),
    );
    if !status.rollout.phase.is_final() && !status.analysis.is_empty() {
        out.push_str("now:\n");
        for c in &status.analysis {
            out.push_str("          ");
            out.push_str(&check(c));
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str("decisions:\n");
    for d in &status.decisions {
        out.push_str(&decision(d, now_ms));
        out.push('\n');
        for c in &d.checks {
            out.push_str("          ");
            out.push_str(&check(c));
            out.push('\n');
        }
    }
    out
}
