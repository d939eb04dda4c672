//! Blue-green: the candidate is loaded beside the baseline at zero weight; once every
//! serving agent has it ready it takes all traffic at once, and the guard window decides.

use drover_protocol::rollout::{Decision, Rollout};

use super::moves;
use super::observation::{Observation, Readiness};

/// The candidate waiting at zero weight.
pub fn running(r: &Rollout, seen: &Observation, now_ms: u64) -> Option<(Rollout, Decision)> {
    match &seen.readiness {
        Readiness::Ready => Some(moves::promote(
            r,
            now_ms,
            "the candidate is loaded and ready on every serving agent".into(),
            Vec::new(),
        )),
        Readiness::Failed(why) => Some(moves::roll_back(
            r,
            now_ms,
            format!("the candidate could not be loaded: {why}"),
            Vec::new(),
        )),
        Readiness::Loading => moves::overdue(r, now_ms, Vec::new()),
    }
}
