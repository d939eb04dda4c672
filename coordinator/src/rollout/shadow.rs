//! Shadow: the candidate gets a copy of every request and answers nobody; once its
//! disagreement with the answers given is shown within tolerance it is promoted (or held
//! for the operator with a manual gate); shown beyond it, the analysis fails.

use drover_protocol::rollout::{Check, Decision, Rollout};

use super::analysis;
use super::moves;

/// A running shadow comparison, on its disagreement check.
pub fn running(r: &Rollout, checks: Vec<Check>, now_ms: u64) -> Option<(Rollout, Decision)> {
    moves::judge(r, now_ms, checks, |checks| {
        let reason = format!("the shadow agreed: {}", analysis::summary(&checks));
        if r.spec.manual_gate {
            moves::hold(
                r,
                now_ms,
                format!("{reason}; held for the operator"),
                checks,
            )
        } else {
            moves::promote(r, now_ms, reason, checks)
        }
    })
}
