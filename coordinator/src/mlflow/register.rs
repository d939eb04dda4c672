//! `model-versions/create`: registering a version from a source URI. A version made from a
//! logged model (`models:/m-...`) or a run's folder names its files' manifest in the artifact
//! store, and inherits the run that made it and the drover dataset that run named.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use drover_protocol::registry::Selector;
use drover_protocol::types::unix_ms;
use serde::Deserialize;
use serde_json::json;

use super::Api;
use super::error::MlflowError;
use super::logged_models::{load_model, model_dir};
use super::manifest::manifest;
use super::registry::{find, version_reply};
use super::request::{Reply, body, required};
use super::wire::KeyValue;
use crate::store::NewModelVersion;

#[derive(Deserialize)]
struct CreateVersion {
    name: Option<String>,
    source: Option<String>,
    run_id: Option<String>,
    model_id: Option<String>,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

/// What a version registered from a source inherits: its files as one hash, the run that
/// made it, and the drover dataset (`name@version`, hash) it learnt from.
#[derive(Default)]
struct Origin {
    artifact_hash: String,
    run_id: Option<String>,
    dataset: String,
    dataset_hash: String,
}

/// The logged model a source or model id names (`models:/m-...`), if any.
fn logged_model_of(source: &str, model_id: Option<&str>) -> Option<String> {
    model_id
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .or_else(|| {
            source
                .strip_prefix("models:/")
                .filter(|id| id.starts_with("m-") && !id.contains('/'))
                .map(str::to_string)
        })
}

/// Where a source URI's files are and what it inherits; empty when drover holds nothing there.
fn origin(api: &Api, source: &str, model_id: Option<&str>) -> Result<Origin, MlflowError> {
    if let Some(id) = logged_model_of(source, model_id) {
        let model = load_model(api, &id, false)?;
        let artifact_hash = if model.artifact_hash.is_empty() {
            manifest(api, &model_dir(&model))?
        } else {
            model.artifact_hash
        };
        return Ok(Origin {
            artifact_hash,
            run_id: Some(model.source_run_id).filter(|r| !r.is_empty()),
            dataset: model.dataset,
            dataset_hash: model.dataset_hash,
        });
    }
    let path = if let Some(rest) = source.strip_prefix("mlflow-artifacts:/") {
        rest.trim_start_matches('/').to_string()
    } else if let Some(rest) = source.strip_prefix("runs:/") {
        let (run, rel) = rest.split_once('/').unwrap_or((rest, ""));
        let Some(found) = api.store.sync().tracked_run(run)? else {
            return Ok(Origin::default());
        };
        format!("{}/{run}/artifacts/{rel}", found.experiment_id)
    } else {
        return Ok(Origin::default());
    };
    Ok(Origin {
        artifact_hash: manifest(api, &path)?,
        ..Origin::default()
    })
}

pub async fn create_version(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: CreateVersion = body(&bytes)?;
        let name = required(&req.name, "name")?;
        let source = req.source.clone().unwrap_or_default();
        super::source::check(&source)?;
        if api.store.sync().registered_model(name)?.is_none() {
            return Err(MlflowError::not_found(format!(
                "Registered Model with name={name} not found"
            )));
        }
        let tags: Vec<(String, String)> = req.tags.into_iter().map(|t| (t.key, t.value)).collect();
        super::limits::check([], &tags, [])?;
        let origin = origin(api, &source, req.model_id.as_deref())?;
        let run_id = req
            .run_id
            .clone()
            .filter(|r| !r.is_empty())
            .or(origin.run_id.clone());
        let metrics = match &run_id {
            Some(run) => {
                let found = api.store.sync().tracked_run(run)?.ok_or_else(|| {
                    MlflowError::not_found(format!("Run with id={run} not found"))
                })?;
                found
                    .metrics
                    .into_iter()
                    .filter(|(_, p)| p.value.is_finite())
                    .map(|(k, p)| (k, p.value))
                    .collect()
            }
            None => Default::default(),
        };
        let (dataset_name, dataset_version) = origin
            .dataset
            .rsplit_once('@')
            .and_then(|(n, v)| Some((n, v.parse().ok()?)))
            .unwrap_or(("", 0));
        let new = NewModelVersion {
            model: name,
            run_id: run_id.as_deref().unwrap_or(""),
            dataset_name,
            dataset_version,
            dataset_hash: &origin.dataset_hash,
            feature_schema: "",
            artifact_hash: &origin.artifact_hash,
            algorithm: "mlflow",
            metrics: &metrics,
            created_ms: unix_ms(),
        };
        let version = crate::registry::record_version(api, &new, Some(&source))?;
        let description = req.description.unwrap_or_default();
        if !description.is_empty() || !tags.is_empty() {
            api.store
                .sync()
                .edit_version_notes(name, version, unix_ms(), |n| {
                    n.description = description;
                    n.tags.extend(tags);
                })?;
        }
        let created = find(api, name, Selector::Number(version))?;
        Ok(Json(
            json!({ "model_version": version_reply(api, &created)? }),
        ))
    })
    .await
}
