//! MLflow 3 logged models under `/api/2.0/mlflow/logged-models`: create, get, finalize,
//! delete, search, params and tags, and the metrics a run logs for a model. A model's files
//! go through the proxied artifact routes under `<experiment>/models/<id>/artifacts`; once
//! finalized READY the model is one content hash in drover's artifact store, with lineage to
//! its run and to the drover dataset its run named by digest.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use drover_protocol::types::unix_ms;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Api;
use super::error::MlflowError;
use super::filter::{Attribute, Attributes, OrderBy, Searchable};
use super::limits;
use super::manifest::manifest;
use super::request::{Reply, body, experiment_id, page, query, search_terms};
use super::wire::{KeyValue, int64, number, pairs};
use crate::store::{LoggedModel, ModelMetric, Point};

/// What a logged-model search may name.
const MODEL_ATTRIBUTES: Attributes = &[
    ("name", false),
    ("model_id", false),
    ("model_type", false),
    ("status", false),
    ("source_run_id", false),
    ("creation_time", true),
    ("creation_timestamp", true),
    ("last_updated_timestamp", true),
];

const PENDING: &str = "LOGGED_MODEL_PENDING";
const READY: &str = "LOGGED_MODEL_READY";
const FAILED: &str = "LOGGED_MODEL_UPLOAD_FAILED";

/// The artifact folder of a logged model, as a path in the proxied artifact routes.
pub fn model_dir(m: &LoggedModel) -> String {
    format!("{}/models/{}/artifacts", m.experiment_id, m.id)
}

/// A logged model as the client reads it.
pub fn model_json(m: &LoggedModel) -> Value {
    let metrics: Vec<Value> = m
        .metrics
        .iter()
        .map(|(key, p)| {
            json!({
                "key": key, "value": number(p.value), "timestamp": p.at_ms, "step": p.step,
                "run_id": p.run_id, "model_id": m.id,
                "dataset_name": p.dataset_name, "dataset_digest": p.dataset_digest,
            })
        })
        .collect();
    json!({
        "info": {
            "model_id": m.id,
            "experiment_id": m.experiment_id.to_string(),
            "name": m.name,
            "creation_timestamp_ms": m.created_ms,
            "last_updated_timestamp_ms": m.updated_ms,
            "artifact_uri": format!("mlflow-artifacts:/{}", model_dir(m)),
            "status": m.status,
            "status_message": m.status_message,
            "model_type": m.model_type,
            "source_run_id": m.source_run_id,
            "tags": pairs(&m.tags),
        },
        "data": {"params": pairs(&m.params), "metrics": metrics},
    })
}

fn missing(id: &str) -> MlflowError {
    MlflowError::not_found(format!("Logged model with ID '{id}' not found."))
}

/// The logged model `id`, not deleted unless `deleted_too`.
pub fn load_model(api: &Api, id: &str, deleted_too: bool) -> Result<LoggedModel, MlflowError> {
    api.store
        .sync()
        .logged_model(id)?
        .filter(|m| deleted_too || !m.deleted)
        .ok_or_else(|| missing(id))
}

fn edit(
    api: &Api,
    id: &str,
    change: impl FnOnce(&mut LoggedModel),
) -> Result<LoggedModel, MlflowError> {
    api.store
        .sync()
        .edit_logged_model(id, unix_ms(), change)?
        .ok_or_else(|| missing(id))
}

fn key_values(list: Vec<KeyValue>) -> Vec<(String, String)> {
    list.into_iter().map(|p| (p.key, p.value)).collect()
}

#[derive(Deserialize)]
struct Create {
    experiment_id: Option<String>,
    name: Option<String>,
    model_type: Option<String>,
    source_run_id: Option<String>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn create(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: Create = body(&bytes)?;
        let experiment = experiment_id(req.experiment_id.as_deref().unwrap_or("0"))?;
        let found = api.store.sync().experiment(experiment)?.ok_or_else(|| {
            MlflowError::not_found(format!("No Experiment with id={experiment} exists"))
        })?;
        if found.lifecycle == "deleted" {
            return Err(MlflowError::invalid(format!(
                "The experiment {experiment} must be in the 'active' state."
            )));
        }
        let source_run_id = req.source_run_id.unwrap_or_default();
        if !source_run_id.is_empty() && api.store.sync().run_experiment(&source_run_id)?.is_none() {
            return Err(MlflowError::not_found(format!(
                "Run with id={source_run_id} not found"
            )));
        }
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let id = format!("m-{}", drover_protocol::pki::hex(&raw));
        let name = req
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("model-{}", &id[2..10]));
        limits::name("logged model name", &name)?;
        let params = key_values(req.params);
        let tags = key_values(req.tags);
        limits::check(&params, &tags, [])?;
        let now = unix_ms();
        let model = LoggedModel {
            id,
            experiment_id: experiment,
            name,
            source_run_id,
            model_type: req.model_type.unwrap_or_default(),
            status: PENDING.into(),
            status_message: String::new(),
            params: params.into_iter().collect(),
            tags: tags.into_iter().collect(),
            metrics: Default::default(),
            artifact_hash: String::new(),
            dataset: String::new(),
            dataset_hash: String::new(),
            deleted: false,
            created_ms: now,
            updated_ms: now,
        };
        api.store.sync().create_logged_model(&model)?;
        Ok(Json(json!({ "model": model_json(&model) })))
    })
    .await
}

#[derive(Deserialize)]
struct Get {
    allow_deleted: Option<bool>,
}

pub async fn get(State(api): State<Api>, Path(id): Path<String>, uri: Uri) -> Reply {
    api.blocking(move |api| {
        let q: Get = query(&uri)?;
        let model = load_model(api, &id, q.allow_deleted.unwrap_or(false))?;
        Ok(Json(json!({ "model": model_json(&model) })))
    })
    .await
}

#[derive(Deserialize)]
struct Finalize {
    status: Option<String>,
}

/// The drover dataset (`name@version`, hash) the run `run` named as an input, training
/// inputs first.
fn run_dataset(api: &Api, run: &str) -> Result<(String, String), MlflowError> {
    let inputs = api.store.sync().run_inputs(run)?;
    let training = |i: &&crate::store::StoredInput| {
        matches!(
            i.tags.get("mlflow.data.context").map(String::as_str),
            Some("training" | "train")
        )
    };
    let known = inputs.iter().filter(|i| !i.dataset.is_empty());
    Ok(known
        .clone()
        .find(training)
        .or_else(|| known.clone().next())
        .map(|i| (i.dataset.clone(), i.dataset_hash.clone()))
        .unwrap_or_default())
}

/// `PATCH logged-models/<id>`: READY fixes the model's files as one content hash and its
/// lineage; UPLOAD_FAILED records the failure.
pub async fn finalize(State(api): State<Api>, Path(id): Path<String>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: Finalize = body(&bytes)?;
        let status = match req.status.as_deref() {
            Some(READY) => READY,
            Some(FAILED) => FAILED,
            other => {
                return Err(MlflowError::invalid(format!(
                    "a logged model is finalized {READY} or {FAILED}, not {other:?}"
                )));
            }
        };
        let model = load_model(api, &id, false)?;
        let (hash, (dataset, dataset_hash)) = if status == READY {
            (
                manifest(api, &model_dir(&model))?,
                run_dataset(api, &model.source_run_id)?,
            )
        } else {
            Default::default()
        };
        let model = edit(api, &id, |m| {
            m.status = status.into();
            m.artifact_hash = hash;
            m.dataset = dataset;
            m.dataset_hash = dataset_hash;
        })?;
        Ok(Json(json!({ "model": model_json(&model) })))
    })
    .await
}

pub async fn delete(State(api): State<Api>, Path(id): Path<String>) -> Reply {
    api.blocking(move |api| {
        edit(api, &id, |m| m.deleted = true)?;
        Ok(Json(json!({})))
    })
    .await
}

#[derive(Deserialize)]
struct Pairs {
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn log_params(State(api): State<Api>, Path(id): Path<String>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: Pairs = body(&bytes)?;
        let params = key_values(req.params);
        limits::batch(0, params.len(), 0)?;
        limits::check(&params, [], [])?;
        edit(api, &id, |m| m.params.extend(params))?;
        Ok(Json(json!({})))
    })
    .await
}

pub async fn set_tags(State(api): State<Api>, Path(id): Path<String>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: Pairs = body(&bytes)?;
        let tags = key_values(req.tags);
        limits::batch(0, 0, tags.len())?;
        limits::check([], &tags, [])?;
        edit(api, &id, |m| m.tags.extend(tags))?;
        Ok(Json(json!({})))
    })
    .await
}

pub async fn delete_tag(State(api): State<Api>, Path((id, key)): Path<(String, String)>) -> Reply {
    api.blocking(move |api| {
        edit(api, &id, |m| {
            m.tags.remove(&key);
        })?;
        Ok(Json(json!({})))
    })
    .await
}

/// A metric value a run logged for a logged model.
pub struct ModelPoint {
    pub model: String,
    pub key: String,
    pub point: Point,
    pub dataset_name: String,
    pub dataset_digest: String,
}

/// Keeps each model's latest value of each metric (by step, then time). A model drover does
/// not know is skipped: the run has the value anyway.
pub fn record_model_points(
    api: &Api,
    run: &str,
    points: Vec<ModelPoint>,
) -> Result<(), MlflowError> {
    let mut by_model: std::collections::BTreeMap<String, Vec<ModelPoint>> = Default::default();
    for p in points {
        by_model.entry(p.model.clone()).or_default().push(p);
    }
    for (model, points) in by_model {
        api.store.sync().edit_logged_model(&model, unix_ms(), |m| {
            for p in points {
                let newer = m
                    .metrics
                    .get(&p.key)
                    .is_none_or(|old| (p.point.step, p.point.at_ms) >= (old.step, old.at_ms));
                if newer {
                    m.metrics.insert(
                        p.key,
                        ModelMetric {
                            value: p.point.value,
                            step: p.point.step,
                            at_ms: p.point.at_ms,
                            run_id: run.into(),
                            dataset_name: p.dataset_name,
                            dataset_digest: p.dataset_digest,
                        },
                    );
                }
            }
        })?;
    }
    Ok(())
}

impl Searchable for LoggedModel {
    fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.get(key).map(|m| m.value)
    }
    fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
    fn attribute(&self, name: &str) -> Option<Attribute> {
        let text = |t: &str| Some(Attribute::Text(t.to_string()));
        match name {
            "name" => text(&self.name),
            "model_id" => text(&self.id),
            "model_type" => text(&self.model_type),
            "status" => text(self.status.trim_start_matches("LOGGED_MODEL_")),
            "source_run_id" => text(&self.source_run_id),
            "creation_time" | "creation_timestamp" => {
                Some(Attribute::Number(self.created_ms as f64))
            }
            "last_updated_timestamp" => Some(Attribute::Number(self.updated_ms as f64)),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Order {
    field_name: Option<String>,
    ascending: Option<bool>,
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    experiment_ids: Vec<String>,
    filter: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    max_results: Option<i64>,
    #[serde(default)]
    order_by: Vec<Order>,
    page_token: Option<String>,
}

pub async fn search(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: Search = body(&bytes)?;
        let order_by: Vec<String> = req
            .order_by
            .iter()
            .map(|o| {
                let field = o.field_name.as_deref().unwrap_or("");
                let ascending = o.ascending.unwrap_or(true);
                format!("{field} {}", if ascending { "ASC" } else { "DESC" })
            })
            .collect();
        let (filter, order) = search_terms(
            req.filter.as_deref(),
            order_by.iter().map(String::as_str),
            MODEL_ATTRIBUTES,
        )?;
        let ids = req
            .experiment_ids
            .iter()
            .map(|id| experiment_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        let mut found: Vec<LoggedModel> = api
            .store
            .sync()
            .logged_models(&ids)?
            .into_iter()
            .filter(|m| filter.matches(m))
            .collect();
        found.sort_by(|a, b| {
            OrderBy::compare_all(&order, a, b)
                .then_with(|| b.created_ms.cmp(&a.created_ms))
                .then_with(|| a.id.cmp(&b.id))
        });
        let max = req.max_results.unwrap_or(100).clamp(1, 50_000) as usize;
        let (found, next) = page(found, req.page_token.as_deref(), max)?;
        let mut reply = json!({ "models": found.iter().map(model_json).collect::<Vec<_>>() });
        if let Some(token) = next {
            reply["next_page_token"] = json!(token);
        }
        Ok(Json(reply))
    })
    .await
}
