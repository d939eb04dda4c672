//! The pure core of a rollout: `(rollout, observation, now) -> (rollout, decisions)`, with no
//! clock, store or network. The controller ([`super::controller`]) feeds it what the agents
//! served and persists what it returns; each strategy's own rules are in its own file.

use drover_protocol::rollout::{
    Action, Check, Command, Decision, Phase, Rollout, RolloutSpec, Strategy, Verdict, Weights,
};

use super::analysis;
use super::moves::{decision, elapsed, moved, pause, promote, roll_back};
pub use super::observation::{Observation, Readiness};
use super::{ab, bluegreen, canary, shadow};

/// A new rollout and the decision that started it.
pub fn start(
    id: u64,
    model: &str,
    baseline: u32,
    candidate: u32,
    spec: RolloutSpec,
    now_ms: u64,
) -> (Rollout, Decision) {
    let reason = format!(
        "{} of {model}@{candidate} against {model}@{baseline}",
        spec.strategy
    );
    let rollout = Rollout {
        id,
        model: model.into(),
        baseline,
        candidate,
        spec,
        phase: Phase::Running,
        step: 0,
        since_ms: now_ms,
        started_ms: now_ms,
        updated_ms: now_ms,
    };
    (
        rollout,
        decision(now_ms, Action::Started, reason, Vec::new()),
    )
}

/// From when (coordinator Unix ms) the candidate's and the baseline's windows count for the
/// next analysis: the current step's start; in the guard window, when the baseline no longer
/// serves, its whole rollout.
pub fn observed_since(r: &Rollout) -> (u64, u64) {
    match r.phase {
        Phase::Guard => (r.since_ms, r.started_ms),
        _ => (r.since_ms, r.since_ms),
    }
}

/// The weights `r` puts on the deployment.
pub fn weights(r: &Rollout) -> Weights {
    let split = |candidate: u32| Weights {
        baseline: 100 - candidate.min(100),
        candidate: candidate.min(100),
        shadow: false,
    };
    match &r.phase {
        Phase::Guard | Phase::Succeeded => split(100),
        Phase::RolledBack { .. } => split(0),
        Phase::Running | Phase::Paused { .. } | Phase::Held { .. } => match r.spec.strategy {
            Strategy::Canary => split(canary::weight(r)),
            Strategy::Ab => split(r.spec.ab_weight),
            Strategy::Shadow => Weights {
                shadow: true,
                ..split(0)
            },
            Strategy::Bluegreen => split(0),
        },
    }
}

/// What one step of the machine produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Stepped {
    pub rollout: Rollout,
    /// What it decided; empty when it holds.
    pub decisions: Vec<Decision>,
    /// The analysis it ran, decided on or not (operators see the latest).
    pub checks: Vec<Check>,
}

/// The checks `r`'s current phase runs on what was served.
pub fn checks(r: &Rollout, seen: &Observation) -> Vec<Check> {
    let served = || analysis::served(&seen.candidate, &seen.baseline, &r.spec);
    match (&r.phase, r.spec.strategy) {
        (Phase::Guard, _) => analysis::guarded(&seen.candidate, &seen.baseline, &r.spec),
        (Phase::Running, Strategy::Canary) => served(),
        (Phase::Running, Strategy::Ab) => {
            let mut checks = served();
            checks.push(analysis::winner(&seen.candidate, &seen.baseline, &r.spec));
            checks
        }
        (Phase::Running, Strategy::Shadow) => {
            analysis::shadowed(&seen.candidate, &seen.baseline, &r.spec)
        }
        _ => Vec::new(),
    }
}

/// The next state of `r` given what was served, what it decided, and the analysis.
pub fn step(r: &Rollout, seen: &Observation, now_ms: u64) -> Stepped {
    let checks = checks(r, seen);
    let moved = match r.phase {
        Phase::Running => match r.spec.strategy {
            Strategy::Canary => canary::running(r, checks.clone(), now_ms),
            Strategy::Ab => ab::running(r, checks.clone(), now_ms),
            Strategy::Shadow => shadow::running(r, checks.clone(), now_ms),
            Strategy::Bluegreen => bluegreen::running(r, seen, now_ms),
        },
        Phase::Guard => guard(r, checks.clone(), now_ms),
        _ => None,
    };
    let (rollout, decisions) = match moved {
        Some((next, decision)) => (next, vec![decision]),
        None => (r.clone(), Vec::new()),
    };
    Stepped {
        rollout,
        decisions,
        checks,
    }
}

/// The guard window: a degradation rolls back at once; the window's end succeeds.
fn guard(r: &Rollout, checks: Vec<Check>, now_ms: u64) -> Option<(Rollout, Decision)> {
    if analysis::overall(&checks) == Verdict::Fail {
        let reason = format!("degraded after promotion: {}", analysis::summary(&checks));
        return Some(roll_back(r, now_ms, reason, checks));
    }
    if elapsed(r, now_ms) >= r.spec.guard.as_millis() as u64 {
        let reason = format!("the guard window passed: {}", analysis::summary(&checks));
        return Some(moved(
            r,
            now_ms,
            Phase::Succeeded,
            r.step,
            Action::Succeeded,
            reason,
            checks,
        ));
    }
    None
}

/// Applies an operator's command; an error says why it does not apply now.
pub fn command(r: &Rollout, command: Command, now_ms: u64) -> Result<(Rollout, Decision), String> {
    if r.phase.is_final() {
        return Err(format!("rollout {} is over ({})", r.id, r.phase));
    }
    let by = |what: &str| format!("{what} by the operator");
    match (command, &r.phase) {
        (Command::Pause, Phase::Running | Phase::Guard) => {
            Ok(pause(r, now_ms, by("paused"), Vec::new()))
        }
        (Command::Resume, Phase::Paused { .. }) => {
            let phase = if promoted_step(r) {
                Phase::Guard
            } else {
                Phase::Running
            };
            Ok(moved(
                r,
                now_ms,
                phase,
                r.step,
                Action::Resumed,
                by("resumed"),
                Vec::new(),
            ))
        }
        (Command::Promote, Phase::Guard) => Err(format!(
            "rollout {} already gives the candidate all traffic (guard window)",
            r.id
        )),
        (Command::Promote, _) => Ok(promote(r, now_ms, by("promoted"), Vec::new())),
        (Command::Abort, _) => Ok(roll_back(r, now_ms, by("aborted"), Vec::new())),
        (command, phase) => Err(format!("rollout {} cannot {command} while {phase}", r.id)),
    }
}

/// Whether `r`'s step gives the candidate all traffic.
fn promoted_step(r: &Rollout) -> bool {
    match r.spec.strategy {
        Strategy::Canary => canary::weight(r) >= 100,
        _ => r.step >= 1,
    }
}
