//! A/B: a fixed split until the comparison names a winner: the candidate is promoted (or
//! held for the operator with a manual gate), a better baseline rolls it back, and no winner
//! by the maximum duration ends it with the baseline kept.

use drover_protocol::rollout::{Check, Decision, Rollout, Verdict};

use super::analysis;
use super::moves;

/// A running A/B comparison, on the safety checks followed by the winner check.
pub fn running(r: &Rollout, checks: Vec<Check>, now_ms: u64) -> Option<(Rollout, Decision)> {
    let (safety, winner) = checks.split_at(checks.len().saturating_sub(1));
    if analysis::overall(safety) == Verdict::Fail {
        return Some(moves::failed(r, now_ms, checks));
    }
    let verdict = winner.first().map_or(Verdict::Inconclusive, |w| w.verdict);
    let long_enough = moves::elapsed(r, now_ms) >= r.spec.step_duration.as_millis() as u64;
    let reason = || analysis::summary(&checks[checks.len() - 1..]);
    match verdict {
        Verdict::Pass if long_enough && r.spec.manual_gate => {
            let reason = format!("the candidate won, held for the operator: {}", reason());
            Some(moves::hold(r, now_ms, reason, checks))
        }
        Verdict::Pass if long_enough => {
            let reason = format!("the candidate won: {}", reason());
            Some(moves::promote(r, now_ms, reason, checks))
        }
        Verdict::Fail if long_enough => {
            let reason = format!("the baseline won: {}", reason());
            Some(moves::roll_back(r, now_ms, reason, checks))
        }
        _ if moves::elapsed(r, now_ms) >= r.spec.max_duration.as_millis() as u64 => {
            let reason = format!(
                "no winner after {}; the baseline stays: {}",
                humantime::format_duration(r.spec.max_duration),
                reason()
            );
            Some(moves::roll_back(r, now_ms, reason, checks))
        }
        _ => None,
    }
}
