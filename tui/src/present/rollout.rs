//! Rollouts as listings, status pages and the console show them: where a rollout stands,
//! its weights, and each decision with the checks behind it.

use drover_protocol::rollout::{Check, Decision, Phase, RolloutStatus, Strategy};
use drover_protocol::serve::SeriesPoint;

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

/// `values` as a line of block characters from the lowest to the highest (a blank for a
/// gap; a flat line when they are all equal).
pub fn spark(values: &[Option<f64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let known = values.iter().flatten().copied();
    let low = known.clone().fold(f64::INFINITY, f64::min);
    let high = known.fold(f64::NEG_INFINITY, f64::max);
    values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if high <= low => BARS[0],
            Some(v) => BARS[((v - low) / (high - low) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

/// A check in a few words: what, its verdict, both values with their samples, the interval.
pub fn check_short(c: &Check) -> String {
    let interval = match (c.low, c.high) {
        (Some(l), Some(h)) => format!(" [{l:+.3}, {h:+.3}]"),
        _ => String::new(),
    };
    format!(
        "{:<20} {:<12} {:.3} vs {:.3} (n {}/{}){interval} tol {}",
        clipped(&c.metric, 20),
        c.verdict.to_string(),
        c.candidate_value,
        c.baseline_value,
        c.candidate_n,
        c.baseline_n,
        c.tolerance
    )
}

/// One version's series as two sparkline lines (requests per second and error rate, then p99
/// and live accuracy), each with its latest value, over the slices every version shares;
/// each sparkline `width` wide.
pub fn version_sparks(history: &[SeriesPoint], version: u32, width: usize) -> Vec<String> {
    let mut slices: Vec<u64> = history.iter().map(|p| p.at_ms).collect();
    slices.sort_unstable();
    slices.dedup();
    let keep = slices.len().saturating_sub(width);
    let slices = &slices[keep..];
    let at = |t: u64| {
        history
            .iter()
            .find(|p| p.version == version && p.at_ms == t)
    };
    let series = |f: &dyn Fn(&SeriesPoint) -> Option<f64>| -> Vec<Option<f64>> {
        slices.iter().map(|t| at(*t).and_then(f)).collect()
    };
    let last = |values: &[Option<f64>]| values.iter().rev().flatten().next().copied();
    let rate = series(&|p| Some(p.requests_per_second));
    let errors = series(&|p| Some(p.error_rate * 100.0));
    let p99 = series(&|p| p.p99_us.map(|us| us as f64 / 1000.0));
    let accuracy = series(&|p| p.accuracy);
    let show = |v: Option<f64>, unit: &str, digits: usize| {
        v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}{unit}"))
    };
    let label = format!("@{version}");
    vec![
        format!(
            "{label:<4} req/s {:<width$} {:<9} errors   {:<width$} {}",
            spark(&rate),
            show(last(&rate), "/s", 1),
            spark(&errors),
            show(last(&errors), "%", 2)
        ),
        format!(
            "{:<4} p99   {:<width$} {:<9} accuracy {:<width$} {}",
            "",
            spark(&p99),
            show(last(&p99), " ms", 1),
            spark(&accuracy),
            show(last(&accuracy), "", 3)
        ),
    ]
}

/// `■■□□ 5 25 50 100`: a canary's steps, those reached filled.
pub fn progress(status: &RolloutStatus) -> String {
    let r = &status.rollout;
    match r.spec.strategy {
        Strategy::Canary => {
            let reached = match r.phase {
                Phase::Succeeded => r.spec.steps.len(),
                _ => r.step + 1,
            };
            let boxes: String = (0..r.spec.steps.len())
                .map(|i| if i < reached { '■' } else { '□' })
                .collect();
            let steps: Vec<String> = r.spec.steps.iter().map(|s| format!("{s}%")).collect();
            format!("{boxes} {}", steps.join(" → "))
        }
        strategy => format!("{strategy}"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_span_lowest_to_highest_and_show_gaps() {
        assert_eq!(spark(&[Some(0.0), Some(1.0), None, Some(0.5)]), "▁█ ▅");
        assert_eq!(spark(&[Some(0.0), Some(0.0)]), "▁▁");
        let history = vec![
            SeriesPoint {
                version: 1,
                at_ms: 1_000,
                requests_per_second: 10.0,
                error_rate: 0.0,
                p99_us: Some(2_000),
                accuracy: Some(0.8),
            },
            SeriesPoint {
                version: 2,
                at_ms: 2_000,
                requests_per_second: 5.0,
                error_rate: 0.01,
                p99_us: None,
                accuracy: None,
            },
        ];
        let lines = version_sparks(&history, 2, 3);
        assert_eq!(
            lines[0], "@2   req/s  ▁  5.0/s     errors    ▁  1.00%",
            "no traffic in the first slice"
        );
        assert_eq!(lines[1], "     p99       -         accuracy     -");
    }
}
