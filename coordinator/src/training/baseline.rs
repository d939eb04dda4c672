//! The production version a run is compared with by its no-regression gate.

use drover_protocol::hash::ContentHash;
use drover_protocol::run::Baseline;
use drover_protocol::spec::TrainSpec;

use crate::state::Shared;

/// The production version a spec's no-regression gate compares with, if it has one.
pub fn baseline(shared: &Shared, spec: &TrainSpec) -> Option<Baseline> {
    spec.gates.no_regression.as_ref()?;
    let production = shared
        .store
        .sync()
        .production_version(&spec.model)
        .ok()
        .flatten()?;
    let artifact_hash = ContentHash::parse(&production.artifact_hash).ok()?;
    let size_bytes = std::fs::metadata(shared.artifacts.path(&artifact_hash))
        .ok()?
        .len();
    Some(Baseline {
        version: format!("{}@{}", production.model, production.version),
        artifact_hash,
        size_bytes,
    })
}
