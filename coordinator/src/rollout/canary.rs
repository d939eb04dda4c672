//! Canary: the candidate's weight rises through the spec's steps; each step is analysed
//! against the baseline and passes to the next, the last (100%) being the promotion.

use drover_protocol::rollout::{Action, Check, Decision, Phase, Rollout};

use super::analysis;
use super::moves;

/// The candidate's weight at `r`'s step.
pub fn weight(r: &Rollout) -> u32 {
    r.spec.steps.get(r.step).copied().unwrap_or(100)
}

/// A running canary step, on the analysis of what it served.
pub fn running(r: &Rollout, checks: Vec<Check>, now_ms: u64) -> Option<(Rollout, Decision)> {
    moves::judge(r, now_ms, checks, |checks| {
        let next = r.step + 1;
        let reason = format!(
            "step {} ({}%) passed: {}",
            r.step + 1,
            weight(r),
            analysis::summary(&checks)
        );
        match r.spec.steps.get(next) {
            Some(&100) | None => moves::promote(r, now_ms, reason, checks),
            Some(&weight) => moves::moved(
                r,
                now_ms,
                Phase::Running,
                next,
                Action::Advanced { step: next, weight },
                reason,
                checks,
            ),
        }
    })
}
