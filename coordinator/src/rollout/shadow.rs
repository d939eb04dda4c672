//! Shadow: the candidate gets a copy of every request and answers nobody; once its
//! disagreement with the answers given is shown within tolerance it is promoted (or held
//! for the operator with a manual gate); shown beyond it, the analysis fails.

use drover_protocol::rollout::{Action, Decision, Phase, Rollout};

use super::analysis;
use super::machine::{self, Observation};

/// A running shadow comparison.
pub fn running(r: &Rollout, seen: &Observation, now_ms: u64) -> Option<(Rollout, Decision)> {
    let checks = vec![analysis::shadowed(&seen.candidate, &r.spec)];
    machine::judge(r, now_ms, checks, |checks| {
        let reason = format!("the shadow agreed: {}", analysis::summary(&checks));
        if r.spec.manual_gate {
            let reason = format!("{reason}; held for the operator");
            machine::moved(
                r,
                now_ms,
                Phase::Held {
                    reason: reason.clone(),
                },
                r.step,
                Action::Held,
                reason,
                checks,
            )
        } else {
            machine::promote(r, now_ms, reason, checks)
        }
    })
}
