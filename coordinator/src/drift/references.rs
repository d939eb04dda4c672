//! The reference profile of a served version, read once from its model artifact in the
//! content-addressed store (the artifact carries it; the coordinator reads only that field).

use std::sync::Arc;

use drover_protocol::drift::Reference;
use drover_protocol::hash::ContentHash;
use drover_protocol::registry::Selector;
use serde::Deserialize;

use crate::state::Shared;

/// The part of a model artifact the coordinator reads.
#[derive(Deserialize)]
struct WithReference {
    reference: Option<Reference>,
}

/// The reference of `model@version`; `None` when the version or its artifact is unknown,
/// or the artifact has no reference (an older agent trained it).
pub fn load(shared: &Shared, model: &str, version: u32) -> Option<Arc<Reference>> {
    let found = shared
        .store
        .sync()
        .model_version(model, &Selector::Number(version));
    let version_info = match found {
        Ok(Some(v)) => v,
        Ok(None) => return None,
        Err(e) => {
            tracing::error!(cause = %e, model, version, "could not read a model version");
            return None;
        }
    };
    let hash: ContentHash = version_info.artifact_hash.parse().ok()?;
    let bytes = match std::fs::read(shared.artifacts.path(&hash)) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(cause = %e, model, version, "the model artifact cannot be read: no drift for it");
            return None;
        }
    };
    match serde_json::from_slice::<WithReference>(&bytes) {
        Ok(artifact) => artifact.reference.map(Arc::new),
        Err(e) => {
            tracing::warn!(cause = %e, model, version, "the model artifact has no readable reference profile");
            None
        }
    }
}
