//! The model registry endpoints under `/api/2.0/mlflow`, mapped onto drover's registry: a
//! version created through MLflow is a drover model version (numbered, with a semantic
//! version, stages, aliases and events) whose lineage is the run it names and the artifacts
//! its source points at.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, Uri};
use drover_protocol::msg::{ApiError, ApiErrorKind};
use drover_protocol::registry::{ModelRef, ModelVersion, Selector, Stage};
use drover_protocol::types::unix_ms;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Api;
use super::error::MlflowError;
use super::filter::{Attribute, Attributes, Filter, Searchable};
use super::request::{body, query, required};
use super::wire::{KeyValue, pairs};
use crate::registry;
use crate::store::VersionNotes;

type Reply = Result<Json<Value>, MlflowError>;

/// What a model-version search may name.
const VERSION_ATTRIBUTES: Attributes = &[
    ("name", false),
    ("run_id", false),
    ("source", false),
    ("version_number", true),
];

pub(super) fn api_error(e: ApiError) -> MlflowError {
    match e.kind {
        ApiErrorKind::NotFound => MlflowError::not_found(e.message),
        ApiErrorKind::Invalid => MlflowError::invalid(e.message),
        ApiErrorKind::Internal => MlflowError::internal(e.message),
    }
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::None => "None",
        Stage::Staging => "Staging",
        Stage::Production => "Production",
        Stage::Archived => "Archived",
    }
}

fn parse_stage(name: &str) -> Result<Stage, MlflowError> {
    match name.to_ascii_lowercase().as_str() {
        "none" => Ok(Stage::None),
        "staging" => Ok(Stage::Staging),
        "production" => Ok(Stage::Production),
        "archived" => Ok(Stage::Archived),
        _ => Err(MlflowError::invalid(format!(
            "invalid stage {name:?}; expected None, Staging, Production or Archived"
        ))),
    }
}

/// What a version's reply holds beyond the version itself: the source URI each version was
/// registered from, and each version's description and tags. Loaded once per model.
pub(super) struct Extras {
    sources: BTreeMap<u32, String>,
    notes: BTreeMap<u32, VersionNotes>,
}

impl Extras {
    pub(super) fn load(api: &Api, model: &str) -> Result<Self, MlflowError> {
        Ok(Self {
            sources: api.store.sync().version_sources(model)?,
            notes: api.store.sync().version_notes(model)?,
        })
    }

    /// The URI `v` was registered from, or its artifact in drover's store when drover
    /// registered it.
    pub(super) fn source(&self, v: &ModelVersion) -> String {
        self.sources
            .get(&v.version)
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| format!("drover-artifacts:/{}", v.artifact_hash))
    }

    pub(super) fn json(&self, v: &ModelVersion) -> Value {
        let notes = self.notes.get(&v.version).cloned().unwrap_or_default();
        let source = self.source(v);
        let tags = pairs(&notes.tags);
        let mut reply = json!({
            "name": v.model,
            "version": v.version.to_string(),
            "creation_timestamp": v.created_ms,
            "last_updated_timestamp": notes.updated_ms.unwrap_or(v.created_ms).max(v.created_ms),
            "current_stage": stage_name(v.stage),
            "description": notes.description,
            "source": source,
            "run_id": v.run_id,
            "status": "READY",
            "run_link": "",
            "tags": tags,
            "aliases": v.aliases,
        });
        if let Some(id) = source
            .strip_prefix("models:/")
            .filter(|id| id.starts_with("m-"))
        {
            reply["model_id"] = json!(id);
        }
        reply
    }
}

/// One version's reply.
pub(super) fn version_reply(api: &Api, v: &ModelVersion) -> Result<Value, MlflowError> {
    Ok(Extras::load(api, &v.model)?.json(v))
}

pub(super) fn find(api: &Api, name: &str, selector: Selector) -> Result<ModelVersion, MlflowError> {
    registry::find(
        api,
        &ModelRef {
            name: name.into(),
            selector,
        },
    )
    .map_err(api_error)
}

pub(super) fn version_number(text: &str) -> Result<u32, MlflowError> {
    text.parse()
        .map_err(|_| MlflowError::invalid(format!("invalid model version {text:?}")))
}

/// Arguments from the query string (GET) or the JSON body (other methods).
fn args<T: DeserializeOwned>(method: &Method, uri: &Uri, bytes: &Bytes) -> Result<T, MlflowError> {
    if method == Method::GET {
        query(uri)
    } else {
        body(bytes)
    }
}

/// The newest version in each stage (only `stages` when given).
pub(super) fn latest_per_stage(versions: &[ModelVersion], stages: &[Stage]) -> Vec<ModelVersion> {
    let mut latest: Vec<ModelVersion> = Vec::new();
    for v in versions {
        if !stages.is_empty() && !stages.contains(&v.stage) {
            continue;
        }
        match latest.iter_mut().find(|l| l.stage == v.stage) {
            Some(l) if l.version < v.version => *l = v.clone(),
            Some(_) => {}
            None => latest.push(v.clone()),
        }
    }
    latest.sort_by_key(|v| v.version);
    latest
}

pub(super) fn registered_json(api: &Api, name: &str) -> Result<Value, MlflowError> {
    let model = api.store.sync().registered_model(name)?.ok_or_else(|| {
        MlflowError::not_found(format!("Registered Model with name={name} not found"))
    })?;
    let versions = api.store.sync().model_versions(name)?;
    let extras = Extras::load(api, name)?;
    let latest: Vec<Value> = latest_per_stage(&versions, &[])
        .iter()
        .map(|v| extras.json(v))
        .collect();
    let aliases: Vec<Value> = api
        .store
        .sync()
        .model_aliases(name)?
        .into_iter()
        .map(|(alias, version)| json!({"alias": alias, "version": version.to_string()}))
        .collect();
    let tags = pairs(&model.tags);
    let updated = api
        .store
        .sync()
        .model_last_change(name)?
        .unwrap_or(model.created_ms);
    Ok(json!({
        "name": model.name,
        "creation_timestamp": model.created_ms,
        "last_updated_timestamp": updated.max(model.created_ms),
        "description": model.description,
        "latest_versions": latest,
        "tags": tags,
        "aliases": aliases,
    }))
}

#[derive(Deserialize)]
struct CreateModel {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn create_model(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: CreateModel = body(&bytes)?;
        let name = required(&req.name, "name")?;
        drover_protocol::data::version::validate_name(name)
            .map_err(|e| MlflowError::invalid(format!("model name: {e}")))?;
        let tags: Vec<(String, String)> = req.tags.into_iter().map(|t| (t.key, t.value)).collect();
        super::limits::check([], &tags, [])?;
        let tags = tags.into_iter().collect();
        let description = req.description.unwrap_or_default();
        if !api
            .store
            .sync()
            .create_registered_model(name, &description, &tags, unix_ms())?
        {
            return Err(MlflowError::exists(format!(
                "Registered Model (name={name}) already exists."
            )));
        }
        Ok(Json(
            json!({ "registered_model": registered_json(api, name)? }),
        ))
    })
    .await
}

#[derive(Deserialize)]
struct ByName {
    name: Option<String>,
}

pub async fn get_model(State(api): State<Api>, uri: Uri) -> Reply {
    api.blocking(move |api| {
        let q: ByName = query(&uri)?;
        let name = required(&q.name, "name")?;
        Ok(Json(
            json!({ "registered_model": registered_json(api, name)? }),
        ))
    })
    .await
}

#[derive(Deserialize)]
struct VersionRef {
    name: Option<String>,
    version: Option<String>,
}

pub async fn get_version(State(api): State<Api>, uri: Uri) -> Reply {
    api.blocking(move |api| {
        let q: VersionRef = query(&uri)?;
        let name = required(&q.name, "name")?;
        let number = version_number(required(&q.version, "version")?)?;
        let v = find(api, name, Selector::Number(number))?;
        Ok(Json(json!({ "model_version": version_reply(api, &v)? })))
    })
    .await
}

/// A version with its source and tags, as model-version search filters see it.
struct Searched<'a>(&'a ModelVersion, &'a str, Option<&'a VersionNotes>);

impl Searchable for Searched<'_> {
    fn metric(&self, _: &str) -> Option<f64> {
        None
    }
    fn param(&self, _: &str) -> Option<&str> {
        None
    }
    fn tag(&self, key: &str) -> Option<&str> {
        self.2?.tags.get(key).map(String::as_str)
    }
    fn attribute(&self, name: &str) -> Option<Attribute> {
        match name {
            "name" => Some(Attribute::Text(self.0.model.clone())),
            "run_id" => Some(Attribute::Text(self.0.run_id.clone())),
            "source" => Some(Attribute::Text(self.1.to_string())),
            "version_number" => Some(Attribute::Number(self.0.version.into())),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct SearchVersions {
    filter: Option<String>,
    #[serde(default, deserialize_with = "super::wire::int64")]
    max_results: Option<i64>,
}

pub async fn search_versions(State(api): State<Api>, uri: Uri) -> Reply {
    api.blocking(move |api| {
        let q: SearchVersions = query(&uri)?;
        let filter = Filter::parse_with(q.filter.as_deref().unwrap_or(""), VERSION_ATTRIBUTES)
            .map_err(|e| MlflowError::invalid(e.0))?;
        let max = q.max_results.unwrap_or(10_000).clamp(1, 200_000) as usize;
        let mut found = Vec::new();
        for name in api.store.sync().model_names()? {
            let extras = Extras::load(api, &name)?;
            for v in api.store.sync().model_versions(&name)? {
                let source = extras.source(&v);
                if filter.matches(&Searched(&v, &source, extras.notes.get(&v.version))) {
                    found.push(extras.json(&v));
                }
            }
        }
        found.truncate(max);
        Ok(Json(json!({ "model_versions": found })))
    })
    .await
}

#[derive(Deserialize)]
struct AliasArgs {
    name: Option<String>,
    alias: Option<String>,
    version: Option<String>,
}

/// `registered-models/alias`: POST sets, GET reads, DELETE removes.
pub async fn alias(State(api): State<Api>, method: Method, uri: Uri, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let a: AliasArgs = args(&method, &uri, &bytes)?;
        let name = required(&a.name, "name")?;
        let alias = required(&a.alias, "alias")?;
        match method {
            Method::POST => {
                let number = version_number(required(&a.version, "version")?)?;
                let reference = ModelRef {
                    name: name.into(),
                    selector: Selector::Number(number),
                };
                registry::alias(api, &reference, alias).map_err(api_error)?;
                Ok(Json(json!({})))
            }
            Method::DELETE => {
                if !api.store.sync().delete_alias(name, alias)? {
                    return Err(MlflowError::not_found(format!(
                        "Registered model alias {alias} not found."
                    )));
                }
                Ok(Json(json!({})))
            }
            _ => {
                let v = find(api, name, Selector::Alias(alias.into()))?;
                Ok(Json(json!({ "model_version": version_reply(api, &v)? })))
            }
        }
    })
    .await
}

#[derive(Deserialize)]
struct Transition {
    name: Option<String>,
    version: Option<String>,
    stage: Option<String>,
}

/// Moves a version between stages; promoting to Production archives the previous production
/// version, as drover always does.
pub async fn transition_stage(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: Transition = body(&bytes)?;
        let name = required(&req.name, "name")?;
        let number = version_number(required(&req.version, "version")?)?;
        let stage = parse_stage(required(&req.stage, "stage")?)?;
        let reference = ModelRef {
            name: name.into(),
            selector: Selector::Number(number),
        };
        let v = registry::promote_checked(api, &reference, stage).map_err(api_error)?;
        Ok(Json(json!({ "model_version": version_reply(api, &v)? })))
    })
    .await
}

#[derive(Deserialize)]
struct Latest {
    name: Option<String>,
    #[serde(default)]
    stages: Vec<String>,
}

pub async fn latest_versions(
    State(api): State<Api>,
    method: Method,
    uri: Uri,
    bytes: Bytes,
) -> Reply {
    api.blocking(move |api| {
        let req: Latest = args(&method, &uri, &bytes)?;
        let name = required(&req.name, "name")?;
        if api.store.sync().registered_model(name)?.is_none() {
            return Err(MlflowError::not_found(format!(
                "Registered Model with name={name} not found"
            )));
        }
        let stages = req
            .stages
            .iter()
            .map(|s| parse_stage(s))
            .collect::<Result<Vec<_>, _>>()?;
        let versions = api.store.sync().model_versions(name)?;
        let latest = latest_per_stage(&versions, &stages)
            .iter()
            .map(|v| version_reply(api, v))
            .collect::<Result<Vec<_>, MlflowError>>()?;
        Ok(Json(json!({ "model_versions": latest })))
    })
    .await
}
