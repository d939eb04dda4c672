//! The model registry: a run that passes its gates registers the next version of its model,
//! with lineage back to the run and the dataset version; operators move versions between
//! stages and point aliases at them. Every change is an event.

use drover_protocol::msg::{ApiError, Event};
use drover_protocol::registry::{ModelRef, ModelVersion, Selector, Stage};
use drover_protocol::types::unix_ms;

use crate::state::Shared;
use crate::store::{NewModelVersion, StoreError};

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Reaction to a succeeded run: registers its model when it passed its gates and has no
/// version yet.
pub fn on_run_succeeded(shared: &Shared, run_id: &str) {
    let run = match shared.store.sync().run(run_id) {
        Ok(Some(run)) => run,
        Ok(None) => return tracing::warn!(run = run_id, "a finished run vanished"),
        Err(e) => return tracing::error!(run = run_id, cause = %e, "could not read a finished run"),
    };
    if run.summary.gates_passed != Some(true) || run.registered.is_some() {
        return;
    }
    match register(shared, run_id) {
        Ok(version) => {
            tracing::info!(run = run_id, %version, "registered a model that passed its gates")
        }
        Err(e) => tracing::error!(run = run_id, cause = %e.message, "could not register the model"),
    }
}

/// Stores a new version of a model (and the URI it came from, for versions created through
/// the MLflow API) and tells everyone. Every registration goes through here.
pub fn record_version(
    shared: &Shared,
    new: &NewModelVersion<'_>,
    source: Option<&str>,
) -> Result<u32, StoreError> {
    let store = shared.store.sync();
    let (version, semver) = store.register_model(new)?;
    if let Some(source) = source {
        store.set_version_source(new.model, version, source)?;
    }
    shared.events.publish(Event::ModelRegistered {
        model: new.model.into(),
        version,
        semver,
        run_id: new.run_id.into(),
    });
    Ok(version)
}

/// Registers the model trained by succeeded run `run_id`; returns `model@N`.
pub fn register(shared: &Shared, run_id: &str) -> Result<String, ApiError> {
    let run = shared
        .store
        .sync()
        .run(run_id)
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(format!("no run {run_id}")))?;
    let artifact = run
        .artifact_hash
        .as_deref()
        .ok_or_else(|| ApiError::invalid(format!("run {run_id} has no model")))?;
    let spec = run.spec.as_ref().ok_or_else(|| {
        ApiError::invalid(format!(
            "run {run_id} was logged through the MLflow API; it has no drover spec"
        ))
    })?;
    let store = shared.store.sync();
    let same = store
        .model_versions(&spec.model)
        .map_err(internal)?
        .into_iter()
        .find(|v| v.artifact_hash == artifact);
    if let Some(same) = same {
        let version = format!("{}@{}", same.model, same.version);
        store.set_same_model(run_id, &version).map_err(internal)?;
        tracing::info!(run = run_id, %version, "the model is identical to an existing version; nothing new registered");
        return Ok(version);
    }
    let reference = run.summary.dataset.parse().map_err(ApiError::internal)?;
    let dataset = crate::datasets::find(shared, &reference)?;
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
    let version = record_version(shared, &new, None).map_err(internal)?;
    Ok(format!("{}@{version}", spec.model))
}

/// Looks up a version, saying what exists when it does not.
pub fn find(shared: &Shared, reference: &ModelRef) -> Result<ModelVersion, ApiError> {
    if let Some(found) = shared
        .store
        .sync()
        .model_version(&reference.name, &reference.selector)
        .map_err(internal)?
    {
        return Ok(found);
    }
    match shared
        .store
        .sync()
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
    let (version, record) = shared
        .store
        .sync()
        .promote_model(&reference.name, &reference.selector, stage, unix_ms())
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(format!("no {reference}")))?;
    shared.events.announce(record);
    find(
        shared,
        &ModelRef {
            name: reference.name.clone(),
            selector: Selector::Number(version),
        },
    )
}

/// [`promote`], unless a rollout of the model is running (the rollout moves its versions:
/// `drover rollout promote` or `abort`) or a version a rollout rolled back would become
/// production (no agent serves it any more); `ForcePromoteModel` goes past both.
pub fn promote_checked(
    shared: &Shared,
    reference: &ModelRef,
    stage: Stage,
) -> Result<ModelVersion, ApiError> {
    let version = find(shared, reference)?;
    let running = shared
        .store
        .sync()
        .latest_rollout(&version.model)
        .map_err(internal)?
        .filter(|r| !r.phase.is_final());
    if let Some(r) = running
        && (stage == Stage::Production || [r.baseline, r.candidate].contains(&version.version))
    {
        return Err(ApiError::invalid(format!(
            "rollout {} of {}@{} is running and moves {}'s versions: use `drover rollout promote {}` or `drover rollout abort {}` (or --force)",
            r.id, r.model, r.candidate, r.model, r.model, r.model
        )));
    }
    let rolled_back = version
        .rollout
        .as_deref()
        .filter(|note| note.starts_with("rolled back"));
    if let (Stage::Production, Some(note)) = (stage, rolled_back) {
        return Err(ApiError::invalid(format!(
            "{}@{} was {note}; promote it to production anyway with --force",
            version.model, version.version
        )));
    }
    promote(shared, reference, stage)
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
        .sync()
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

/// Takes `alias` of `model` off its version; answers that version.
pub fn remove_alias(shared: &Shared, model: &str, alias: &str) -> Result<ModelVersion, ApiError> {
    let version = shared
        .store
        .sync()
        .remove_alias(model, alias)
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(format!("{model} has no alias {alias}")))?;
    shared.events.publish(Event::AliasRemoved {
        model: model.into(),
        version,
        alias: alias.into(),
    });
    find(
        shared,
        &ModelRef {
            name: model.into(),
            selector: Selector::Number(version),
        },
    )
}
