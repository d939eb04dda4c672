//! The model registry: a run that passes its gates registers the next version of its model,
//! with lineage back to the run and the dataset version; operators move versions between
//! stages and point aliases at them. Every change is an event.

use drover_protocol::msg::{ApiError, Event};
use drover_protocol::registry::{ModelRef, ModelVersion, Selector, Stage};
use drover_protocol::types::unix_ms;

use super::state::Shared;
use super::store::NewModelVersion;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Registers the model trained by succeeded run `run_id`; returns `model@N`.
pub fn register(shared: &Shared, run_id: &str) -> Result<String, ApiError> {
    let run = shared
        .store
        .run(run_id)
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(format!("no run {run_id}")))?;
    let artifact = run
        .artifact_hash
        .as_deref()
        .ok_or_else(|| ApiError::invalid(format!("run {run_id} has no model")))?;
    let reference = run.summary.dataset.parse().map_err(ApiError::internal)?;
    let dataset = super::datasets::find(shared, &reference)?;
    let spec = run.spec.as_ref().ok_or_else(|| {
        ApiError::invalid(format!(
            "run {run_id} was logged through the MLflow API; it has no drover spec"
        ))
    })?;
    let mut schema: Vec<String> = dataset
        .schema
        .columns
        .iter()
        .filter(|c| match &spec.features {
            Some(features) => features.contains(&c.name),
            None => c.name != spec.target && !spec.exclude.contains(&c.name),
        })
        .map(|c| format!("{}:{}", c.name, c.kind))
        .collect();
    schema.sort();
    let new = NewModelVersion {
        model: &spec.model,
        run_id,
        dataset_name: &dataset.name,
        dataset_version: dataset.version,
        dataset_hash: &dataset.hash,
        feature_schema: &schema.join(","),
        artifact_hash: artifact,
        algorithm: &run.summary.algorithm,
        metrics: &run.summary.metrics,
        created_ms: unix_ms(),
    };
    let (version, semver) = shared.store.register_model(&new).map_err(internal)?;
    shared.events.publish(Event::ModelRegistered {
        model: spec.model.clone(),
        version,
        semver,
        run_id: run_id.into(),
    });
    Ok(format!("{}@{version}", spec.model))
}

/// Looks up a version, saying what exists when it does not.
pub fn find(shared: &Shared, reference: &ModelRef) -> Result<ModelVersion, ApiError> {
    if let Some(found) = shared
        .store
        .model_version(&reference.name, &reference.selector)
        .map_err(internal)?
    {
        return Ok(found);
    }
    match shared
        .store
        .model_version(&reference.name, &Selector::Latest)
        .map_err(internal)?
    {
        Some(latest) => Err(ApiError::not_found(format!(
            "no {reference}: {} has versions 1 to {}",
            reference.name, latest.version
        ))),
        None => Err(ApiError::not_found(format!(
            "no model named {} (a run registers one when it passes its gates)",
            reference.name
        ))),
    }
}

/// Moves a version to `stage`; promoting to production archives the previous production one.
pub fn promote(
    shared: &Shared,
    reference: &ModelRef,
    stage: Stage,
) -> Result<ModelVersion, ApiError> {
    find(shared, reference)?;
    let (version, archived) = shared
        .store
        .promote_model(&reference.name, &reference.selector, stage)
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(format!("no {reference}")))?;
    shared.events.publish(Event::ModelPromoted {
        model: reference.name.clone(),
        version,
        stage,
        archived,
    });
    find(
        shared,
        &ModelRef {
            name: reference.name.clone(),
            selector: Selector::Number(version),
        },
    )
}

/// Points `alias` at a version.
pub fn alias(shared: &Shared, reference: &ModelRef, alias: &str) -> Result<ModelVersion, ApiError> {
    drover_protocol::data::version::validate_name(alias)
        .map_err(|e| ApiError::invalid(format!("alias: {e}")))?;
    if alias == "latest" || alias.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::invalid(format!(
            "{alias:?} cannot be an alias: it already means a version"
        )));
    }
    find(shared, reference)?;
    let version = shared
        .store
        .set_alias(&reference.name, &reference.selector, alias)
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(format!("no {reference}")))?;
    shared.events.publish(Event::AliasSet {
        model: reference.name.clone(),
        version,
        alias: alias.into(),
    });
    find(
        shared,
        &ModelRef {
            name: reference.name.clone(),
            selector: Selector::Number(version),
        },
    )
}
