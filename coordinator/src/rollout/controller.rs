//! The shell around [`super::machine`]: it reads what agents served, feeds the machine,
//! stores each new state with its decisions before anything acts on them, then puts the
//! rollout's weights on the deployment and sends them to the serving agents. A restarted
//! coordinator reads its active rollouts back and carries on where they were; agents keep
//! serving their last weights meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use drover_protocol::msg::{ApiError, Event};
use drover_protocol::registry::{ModelRef, Selector};
use drover_protocol::rollout::{
    Command, Decision, Phase, Rollout, RolloutSpec, RolloutStatus, Strategy,
};
use drover_protocol::serve::{LoadState, Variant, selects};
use drover_protocol::types::{AgentId, unix_ms};
use tokio_util::sync::CancellationToken;

use super::acting::{self, apply};
use super::agreement::PerAgent;
use super::analysis::Tally;
use super::machine::{self, Observation, Readiness};
use crate::registry;
use crate::state::Shared;
use crate::store::{Store, StoreError};

/// How often every active rollout is looked at, besides when windows arrive.
pub const TICK: Duration = Duration::from_millis(500);
/// Most decisions a listing carries per rollout.
const LISTED_DECISIONS: usize = 1;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// What one rollout's analysis has read so far: each agent's tallies since its step began
/// (per agent, to leave out one whose windows disagree with the others') and the last window
/// row they include. Bounded: two tallies per agent serving an active rollout.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    since: (u64, u64),
    last_row: i64,
    agents: PerAgent,
    /// Whether the rollout's weights were put on its deployment since this started (after a
    /// restart they are put again once; after that only decisions change them).
    applied: bool,
}

/// Runs every active rollout until shutdown: at start (after a restart), whenever agents
/// report windows, and every [`TICK`].
pub async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    shared.blocking(super::recovery::finish_ended).await;
    let mut seen: HashMap<u64, Seen> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        seen = shared
            .blocking(move |shared| {
                advance_all(shared, &mut seen, unix_ms());
                seen
            })
            .await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
            _ = shared.windows_arrived.notified() => {}
        }
    }
}

/// Steps every active rollout once.
pub fn advance_all(shared: &Shared, seen: &mut HashMap<u64, Seen>, now_ms: u64) {
    let active = match shared.store.sync().active_rollouts() {
        Ok(active) => active,
        Err(e) => {
            tracing::error!(cause = %e, "could not read rollouts");
            return;
        }
    };
    seen.retain(|id, _| active.iter().any(|r| r.id == *id));
    shared
        .rollout_checks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|id, _| active.iter().any(|r| r.id == *id));
    let skews: HashMap<AgentId, i64> = shared
        .fleet
        .clock_skews()
        .into_iter()
        .map(|s| (s.agent, s.skew_ms))
        .collect();
    for rollout in active {
        let mine = seen.entry(rollout.id).or_default();
        if let Err(e) = advance(shared, rollout, mine, &skews, now_ms) {
            tracing::error!(cause = %e, "a rollout could not advance");
        }
    }
}

/// Steps one rollout: observe, decide, store, act. `skews` are the agents' clock offsets.
fn advance(
    shared: &Shared,
    r: Rollout,
    seen: &mut Seen,
    skews: &HashMap<AgentId, i64>,
    now_ms: u64,
) -> Result<(), ApiError> {
    let _one_at_a_time = shared.rollouts.lock().unwrap_or_else(|e| e.into_inner());
    // An operator's command may have changed it since the pass read it.
    let current = shared
        .store
        .sync()
        .latest_rollout(&r.model)
        .map_err(internal)?;
    let Some(r) = current.filter(|c| c.id == r.id && !c.phase.is_final()) else {
        return Ok(());
    };
    observe(shared.store.sync(), &r, seen, skews).map_err(internal)?;
    let ((candidate, baseline), apart) = seen.agents.agreed();
    for (agent, detail) in apart {
        tracing::warn!(%agent, rollout = r.id, %detail, "an agent's windows are left out of a rollout");
        shared.events.publish(Event::AgentDisagrees {
            model: r.model.clone(),
            rollout: r.id,
            agent,
            detail,
        });
    }
    let observation = Observation {
        candidate,
        baseline,
        readiness: match (&r.phase, r.spec.strategy) {
            (Phase::Running, Strategy::Bluegreen) => readiness(shared, &r),
            _ => Readiness::Ready,
        },
    };
    let stepped = machine::step(&r, &observation, now_ms);
    shared
        .rollout_checks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(r.id, stepped.checks);
    if stepped.decisions.is_empty() {
        if !seen.applied {
            apply(shared, &r)?;
            seen.applied = true;
        }
        return Ok(());
    }
    commit(shared, &stepped.rollout, stepped.decisions)
}

/// Adds the windows stored since `seen` last looked to its tallies (starting over when the
/// rollout moved to another step).
///
/// A window counts for a period only if it opened after the period began (on the
/// coordinator's clock, the agent's measured skew taken off): one that straddles a change of
/// weights mixes traffic of both and is left out, as is one that arrived late.
fn observe(
    store: &Store,
    r: &Rollout,
    seen: &mut Seen,
    skews: &HashMap<AgentId, i64>,
) -> Result<(), StoreError> {
    let since = machine::observed_since(r);
    if seen.since != since {
        *seen = Seen {
            since,
            ..Seen::default()
        };
    }
    let from = since.0.min(since.1);
    let windows = store.windows_received(&r.model, from, seen.last_row)?;
    for received in windows {
        seen.last_row = received.row;
        let w = &received.window;
        let skew = skews.get(&received.agent).copied().unwrap_or(0);
        let opened = (w.start_ms as i64).saturating_sub(skew).max(0) as u64;
        let mut one = Tally::default();
        one.add(w);
        if w.version == r.candidate && opened >= since.0 {
            one.compared = received.shadow_rows;
            one.differing = received.shadow_differing.min(received.shadow_rows);
            one.failed = received.shadow_failed.min(received.shadow_rows);
            seen.agents.add(&received.agent, true, &one);
        } else if w.version == r.baseline && opened >= since.1 {
            seen.agents.add(&received.agent, false, &one);
        }
    }
    Ok(())
}

/// Analyses every active rollout once on what `store` holds, as each pass of the controller
/// does (each read again, then only the windows stored since the last pass), without acting
/// on what it decides; how many decisions it took. What `drover bench analysis` times.
pub fn analyse(
    store: &Store,
    seen: &mut HashMap<u64, Seen>,
    now_ms: u64,
) -> Result<usize, StoreError> {
    let mut decided = 0;
    for listed in store.active_rollouts()? {
        let Some(r) = store.latest_rollout(&listed.model)? else {
            continue;
        };
        let mine = seen.entry(r.id).or_default();
        observe(store, &r, mine, &HashMap::new())?;
        let ((candidate, baseline), _) = mine.agents.agreed();
        let observation = Observation {
            candidate,
            baseline,
            readiness: Readiness::Ready,
        };
        decided += machine::step(&r, &observation, now_ms).decisions.len();
    }
    Ok(decided)
}

/// Whether every connected agent the deployment picks has the candidate loaded.
fn readiness(shared: &Shared, r: &Rollout) -> Readiness {
    let Ok(Some(deployment)) = shared
        .store
        .sync()
        .deployments()
        .map(|all| all.into_iter().find(|d| d.model == r.model))
    else {
        return Readiness::Loading;
    };
    let servers: Vec<_> = shared
        .fleet
        .servers()
        .into_iter()
        .filter(|s| s.commands.is_some() && selects(&deployment.selector, &s.labels))
        .collect();
    let mut ready = !servers.is_empty();
    for server in &servers {
        let state = server
            .serving
            .iter()
            .find(|s| s.model == r.model && s.version == r.candidate)
            .map(|s| s.state.clone());
        match state {
            Some(LoadState::Ready) => {}
            Some(LoadState::Failed(why)) => {
                return Readiness::Failed(format!("on {}: {why}", server.id));
            }
            _ => ready = false,
        }
    }
    if ready {
        Readiness::Ready
    } else {
        Readiness::Loading
    }
}

/// Stores `next` with its decisions, their events and (when it ends) the note on its
/// candidate, durably and at once; then acts on them: weights, the registry. What a crash
/// interrupts after the store is done again at start ([`super::recovery`]).
fn commit(shared: &Shared, next: &Rollout, decisions: Vec<Decision>) -> Result<(), ApiError> {
    let note = match &next.phase {
        Phase::Succeeded => Some(format!("promoted to production by rollout {}", next.id)),
        Phase::RolledBack { reason } => {
            Some(format!("rolled back by rollout {}: {reason}", next.id))
        }
        _ => None,
    };
    let records = shared
        .store
        .sync()
        .save_rollout(next, decisions, note.as_deref())
        .map_err(internal)?;
    after_commit(next);
    let acted = apply(shared, next).and_then(|()| match next.phase {
        Phase::Succeeded => acting::settle_registry(shared, next),
        _ => Ok(()),
    });
    // Announced once acted on: whoever reacts to a decision finds its weights in place.
    records
        .into_iter()
        .for_each(|record| shared.events.announce(record));
    acted
}

/// Test-only: the process dies right after a decision that took a rollout to the phase
/// `DROVER_FAULT_DIE_AFTER_DECISION` names (`Succeeded`, say) is stored, before anything
/// acts on it, as a power cut or SIGKILL would take it.
#[cfg(all(feature = "fault-injection", debug_assertions))]
fn after_commit(r: &Rollout) {
    let phase = format!("{:?}", r.phase);
    let named = std::env::var("DROVER_FAULT_DIE_AFTER_DECISION");
    if named.is_ok_and(|named| phase.starts_with(&named)) {
        std::process::abort();
    }
}

#[cfg(not(all(feature = "fault-injection", debug_assertions)))]
fn after_commit(_: &Rollout) {}

/// Starts a rollout of `model` to `candidate`: the baseline is the version its deployment
/// serves.
pub fn start(
    shared: &Shared,
    model: &str,
    candidate: &Selector,
    spec: RolloutSpec,
) -> Result<RolloutStatus, ApiError> {
    spec.validate().map_err(ApiError::invalid)?;
    if let Some(id) = running(shared, model)? {
        return Err(busy(model, id));
    }
    let deployment = shared
        .store
        .sync()
        .deployments()
        .map_err(internal)?
        .into_iter()
        .find(|d| d.model == model)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "{model} is not deployed: deploy its production version first (drover models deploy {model}@N)"
            ))
        })?;
    let serving: Vec<&Variant> = deployment
        .variants
        .iter()
        .filter(|v| !v.shadow && v.weight > 0)
        .collect();
    let [baseline] = serving.as_slice() else {
        return Err(ApiError::invalid(format!(
            "{model} serves {} versions; a rollout starts from one",
            serving.len()
        )));
    };
    let baseline = baseline.version;
    let candidate = registry::find(
        shared,
        &ModelRef {
            name: model.into(),
            selector: candidate.clone(),
        },
    )?;
    crate::servable::check(shared, &candidate)?;
    let candidate = candidate.version;
    if candidate == baseline {
        return Err(ApiError::invalid(format!(
            "{model}@{candidate} is already the deployed version"
        )));
    }
    if spec.strategy == Strategy::Shadow {
        shadow_can_read(shared, model, baseline, candidate)?;
    }
    let _one_at_a_time = shared.rollouts.lock().unwrap_or_else(|e| e.into_inner());
    let now = unix_ms();
    let (rollout, record) = shared
        .store
        .sync()
        .insert_rollout(model, |id| {
            machine::start(id, model, baseline, candidate, spec, now)
        })
        .map_err(internal)?
        .map_err(|id| busy(model, id))?;
    let applied = apply(shared, &rollout);
    shared.events.announce(record);
    applied?;
    status(shared, &rollout)
}

/// A shadow is fed the requests its baseline answered: refused when the candidate takes an
/// input the baseline's requests do not carry (it would fail every one of them).
fn shadow_can_read(
    shared: &Shared,
    model: &str,
    baseline: u32,
    candidate: u32,
) -> Result<(), ApiError> {
    let store = shared.store.sync();
    let names = |version: u32| -> Result<Option<Vec<String>>, ApiError> {
        let schema = store.feature_schema(model, version).map_err(internal)?;
        Ok(schema.filter(|s| !s.is_empty()).map(|s| {
            s.split(',')
                .map(|input| input.split(':').next().unwrap_or(input).to_string())
                .collect()
        }))
    };
    let (Some(theirs), Some(mine)) = (names(baseline)?, names(candidate)?) else {
        return Ok(());
    };
    let missing: Vec<&str> = mine
        .iter()
        .filter(|name| !theirs.contains(name))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "{model}@{candidate} takes inputs {model}@{baseline}'s requests do not carry ({}): a shadow would fail every request; roll it out as a canary instead",
        missing.join(", ")
    )))
}

fn busy(model: &str, id: u64) -> ApiError {
    ApiError::invalid(format!(
        "{model} already has rollout {id} running; abort it first (drover rollout abort {model})"
    ))
}

/// Applies an operator's command to `model`'s running rollout.
pub fn command(shared: &Shared, model: &str, command: Command) -> Result<RolloutStatus, ApiError> {
    let _one_at_a_time = shared.rollouts.lock().unwrap_or_else(|e| e.into_inner());
    let rollout = active(shared, model)?
        .ok_or_else(|| ApiError::not_found(format!("{model} has no running rollout")))?;
    let (next, decision) =
        machine::command(&rollout, command, unix_ms()).map_err(ApiError::invalid)?;
    commit(shared, &next, vec![decision])?;
    status(shared, &next)
}

/// `r` with its weights, every decision and its latest analysis.
fn status(shared: &Shared, r: &Rollout) -> Result<RolloutStatus, ApiError> {
    let analysis = shared
        .rollout_checks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&r.id)
        .cloned()
        .unwrap_or_default();
    Ok(RolloutStatus {
        rollout: r.clone(),
        weights: machine::weights(r),
        analysis,
        decisions: shared
            .store
            .sync()
            .rollout_decisions(r.id)
            .map_err(internal)?,
    })
}

/// The newest rollout of `model`, or every running one.
pub fn statuses(shared: &Shared, model: Option<&str>) -> Result<Vec<RolloutStatus>, ApiError> {
    let store = shared.store.sync();
    let rollouts = match model {
        Some(model) => vec![
            store
                .latest_rollout(model)
                .map_err(internal)?
                .ok_or_else(|| ApiError::not_found(format!("{model} has had no rollout")))?,
        ],
        None => store.active_rollouts().map_err(internal)?,
    };
    rollouts.iter().map(|r| status(shared, r)).collect()
}

/// The newest rollouts, each with its last decision.
pub fn list(shared: &Shared, limit: u32) -> Result<Vec<RolloutStatus>, ApiError> {
    let rollouts = shared.store.sync().rollouts(limit).map_err(internal)?;
    rollouts
        .iter()
        .map(|r| {
            let mut status = status(shared, r)?;
            let keep = status.decisions.len().saturating_sub(LISTED_DECISIONS);
            status.decisions.drain(..keep);
            Ok(status)
        })
        .collect()
}

/// Whether `model` has a rollout running (its deployment is then the rollout's to change).
pub fn running(shared: &Shared, model: &str) -> Result<Option<u64>, ApiError> {
    Ok(active(shared, model)?.map(|r| r.id))
}

/// `model`'s rollout still running, if any.
fn active(shared: &Shared, model: &str) -> Result<Option<Rollout>, ApiError> {
    let newest = shared
        .store
        .sync()
        .latest_rollout(model)
        .map_err(internal)?;
    Ok(newest.filter(|r| !r.phase.is_final()))
}
