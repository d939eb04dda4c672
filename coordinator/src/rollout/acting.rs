//! What a rollout's decision does beyond the store: the weights it implies put on the
//! model's deployment, and, when the candidate succeeded, the registry change. The
//! controller does both right after storing a decision; [`super::recovery`] does them again
//! after a crash that came between.

use drover_protocol::msg::ApiError;
use drover_protocol::registry::{ModelRef, Selector, Stage};
use drover_protocol::rollout::{Phase, Rollout};
use drover_protocol::serve::Variant;

use super::machine;
use crate::state::Shared;
use crate::{deployments, registry};

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Puts `r`'s weights on its deployment and sends it to the agents, unless it has them.
/// Both versions stay loaded until the rollout is over, so any move is a weight change.
pub fn apply(shared: &Shared, r: &Rollout) -> Result<(), ApiError> {
    let weights = machine::weights(r);
    let variant = |version: u32, weight: u32, shadow: bool| -> Result<Variant, ApiError> {
        let found = registry::find(
            shared,
            &ModelRef {
                name: r.model.clone(),
                selector: Selector::Number(version),
            },
        )?;
        Ok(Variant {
            version,
            artifact_hash: drover_protocol::hash::ContentHash::parse(&found.artifact_hash)
                .map_err(internal)?,
            weight,
            shadow,
        })
    };
    let variants = match &r.phase {
        Phase::Succeeded => vec![variant(r.candidate, 100, false)?],
        Phase::RolledBack { .. } => vec![variant(r.baseline, 100, false)?],
        _ => vec![
            variant(r.baseline, weights.baseline, false)?,
            variant(r.candidate, weights.candidate, weights.shadow)?,
        ],
    };
    deployments::set_variants(shared, &r.model, variants)
}

/// The candidate becomes production and the baseline archived.
pub fn settle_registry(shared: &Shared, r: &Rollout) -> Result<(), ApiError> {
    let version = |v: u32| ModelRef {
        name: r.model.clone(),
        selector: Selector::Number(v),
    };
    registry::promote(shared, &version(r.candidate), Stage::Production)?;
    if registry::find(shared, &version(r.baseline))?.stage != Stage::Archived {
        registry::promote(shared, &version(r.baseline), Stage::Archived)?;
    }
    Ok(())
}
