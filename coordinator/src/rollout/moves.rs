//! The moves every strategy makes: to another step or phase with the decision that says why,
//! promotion, rollback, the usual judgement of a step, and a step's deadline.

use drover_protocol::rollout::{
    Action, Check, Decision, OnFailure, Phase, Rollout, Strategy, Verdict,
};

use super::analysis;

/// Milliseconds since the current step or phase began.
pub fn elapsed(r: &Rollout, now_ms: u64) -> u64 {
    now_ms.saturating_sub(r.since_ms)
}

/// A decision taken at `at_ms`.
pub fn decision(at_ms: u64, action: Action, reason: String, checks: Vec<Check>) -> Decision {
    Decision {
        at_ms,
        action,
        reason,
        checks,
    }
}

/// `r` in `phase` at `step` from `now_ms`, and the decision that put it there.
pub fn moved(
    r: &Rollout,
    now_ms: u64,
    phase: Phase,
    step: usize,
    action: Action,
    reason: String,
    checks: Vec<Check>,
) -> (Rollout, Decision) {
    let next = Rollout {
        phase,
        step,
        since_ms: now_ms,
        updated_ms: now_ms,
        ..r.clone()
    };
    (next, decision(now_ms, action, reason, checks))
}

/// All traffic to the candidate, with a guard window.
pub fn promote(
    r: &Rollout,
    now_ms: u64,
    reason: String,
    checks: Vec<Check>,
) -> (Rollout, Decision) {
    let step = match r.spec.strategy {
        Strategy::Canary => r.spec.steps.len() - 1,
        _ => 1,
    };
    moved(
        r,
        now_ms,
        Phase::Guard,
        step,
        Action::Promoted,
        reason,
        checks,
    )
}

/// All traffic back to the baseline.
pub fn roll_back(
    r: &Rollout,
    now_ms: u64,
    reason: String,
    checks: Vec<Check>,
) -> (Rollout, Decision) {
    let phase = Phase::RolledBack {
        reason: reason.clone(),
    };
    moved(r, now_ms, phase, r.step, Action::RolledBack, reason, checks)
}

/// What a failed analysis does: roll back, or pause where the spec says so.
pub fn failed(r: &Rollout, now_ms: u64, checks: Vec<Check>) -> (Rollout, Decision) {
    let reason = format!("analysis failed: {}", analysis::summary(&checks));
    match r.spec.on_failure {
        OnFailure::Rollback => roll_back(r, now_ms, reason, checks),
        OnFailure::Pause => pause(r, now_ms, reason, checks),
    }
}

/// `r` held at its weights until the operator resumes, promotes or aborts it.
pub fn pause(r: &Rollout, now_ms: u64, reason: String, checks: Vec<Check>) -> (Rollout, Decision) {
    let phase = Phase::Paused {
        reason: reason.clone(),
    };
    moved(r, now_ms, phase, r.step, Action::Paused, reason, checks)
}

/// `r`'s candidate reported the winner and held for the operator to promote.
pub fn hold(r: &Rollout, now_ms: u64, reason: String, checks: Vec<Check>) -> (Rollout, Decision) {
    let phase = Phase::Held {
        reason: reason.clone(),
    };
    moved(r, now_ms, phase, r.step, Action::Held, reason, checks)
}

/// A step still undecided past its deadline pauses for the operator.
pub fn overdue(r: &Rollout, now_ms: u64, checks: Vec<Check>) -> Option<(Rollout, Decision)> {
    if elapsed(r, now_ms) < r.spec.step_deadline.as_millis() as u64 {
        return None;
    }
    let reason = format!(
        "still inconclusive after {}: {}",
        humantime::format_duration(r.spec.step_deadline),
        analysis::summary(&checks)
    );
    Some(pause(r, now_ms, reason, checks))
}

/// The usual rule of a step serving traffic: fail at once, pass once the step has lasted
/// long enough, pause past the deadline; `passed` says where a pass leads.
pub fn judge(
    r: &Rollout,
    now_ms: u64,
    checks: Vec<Check>,
    passed: impl FnOnce(Vec<Check>) -> (Rollout, Decision),
) -> Option<(Rollout, Decision)> {
    match analysis::overall(&checks) {
        Verdict::Fail => Some(failed(r, now_ms, checks)),
        Verdict::Pass if elapsed(r, now_ms) >= r.spec.step_duration.as_millis() as u64 => {
            Some(passed(checks))
        }
        _ => overdue(r, now_ms, checks),
    }
}
