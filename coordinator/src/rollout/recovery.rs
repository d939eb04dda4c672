//! What a rollout's last decision implies beyond the store, done again at start. A decision
//! is stored (with its events and the note on the candidate) before anything acts on it; a
//! coordinator that died right after can have left the deployment on the old weights, or the
//! registry short of the new production version. Both are re-derived from the rollout's
//! final phase, unless an operator changed them since.

use drover_protocol::msg::ApiError;
use drover_protocol::registry::{ModelRef, Selector, Stage};
use drover_protocol::rollout::{Phase, Rollout};

use super::acting::{apply, settle_registry};
use crate::registry;
use crate::state::Shared;

/// For every deployed model whose last rollout has ended: its final weights, unless the
/// deployment changed after the final decision; and a succeeded rollout's registry change,
/// unless another version became production since.
pub fn finish_ended(shared: &Shared) {
    let deployments = match shared.store.sync().deployments() {
        Ok(deployments) => deployments,
        Err(e) => {
            tracing::error!(cause = %e, "could not read deployments to finish ended rollouts");
            return;
        }
    };
    for deployment in deployments {
        let r = match shared.store.sync().latest_rollout(&deployment.model) {
            Ok(Some(r)) if r.phase.is_final() => r,
            Ok(_) => continue,
            Err(e) => {
                tracing::error!(cause = %e, model = %deployment.model, "could not read its last rollout");
                continue;
            }
        };
        let finished = finish(shared, &r, deployment.updated_ms <= r.updated_ms);
        if let Err(e) = finished {
            tracing::error!(cause = %e, model = %r.model, rollout = r.id, "could not finish an ended rollout");
        }
    }
}

/// Finishes ended rollout `r`: its weights when `weights`, and its registry change.
fn finish(shared: &Shared, r: &Rollout, weights: bool) -> Result<(), ApiError> {
    if weights {
        apply(shared, r)?;
    }
    if r.phase != Phase::Succeeded {
        return Ok(());
    }
    let candidate = registry::find(
        shared,
        &ModelRef {
            name: r.model.clone(),
            selector: Selector::Number(r.candidate),
        },
    )?;
    let production = shared
        .store
        .sync()
        .production_version(&r.model)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let unsettled = !matches!(candidate.stage, Stage::Production | Stage::Archived)
        && production.is_none_or(|p| p.version == r.baseline);
    if unsettled {
        tracing::info!(model = %r.model, rollout = r.id, "finishing the registry change of a rollout that succeeded before a restart");
        settle_registry(shared, r)?;
    }
    Ok(())
}
