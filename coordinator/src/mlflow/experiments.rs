//! The experiment endpoints under `/api/2.0/mlflow/experiments`: get (by id or name), create,
//! delete, search, rename (`update`) and tags.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use drover_protocol::types::unix_ms;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Api;
use super::error::MlflowError;
use super::filter::{Attribute, EXPERIMENT_ATTRIBUTES, OrderBy, Searchable};
use super::limits;
use super::request::{
    Reply, body, experiment_id, page, query, required, search_terms, view_matches,
};
use super::wire::{KeyValue, int64, pairs};
use crate::store::Experiment;

fn experiment_json(e: &Experiment) -> Value {
    let tags = pairs(&e.tags);
    json!({
        "experiment_id": e.id.to_string(),
        "name": e.name,
        "artifact_location": format!("mlflow-artifacts:/{}", e.id),
        "lifecycle_stage": e.lifecycle,
        "creation_time": e.created_ms,
        "last_update_time": e.updated_ms,
        "tags": tags,
    })
}

impl Searchable for Experiment {
    fn metric(&self, _: &str) -> Option<f64> {
        None
    }
    fn param(&self, _: &str) -> Option<&str> {
        None
    }
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
    fn attribute(&self, name: &str) -> Option<Attribute> {
        match name {
            "name" => Some(Attribute::Text(self.name.clone())),
            "experiment_id" => Some(Attribute::Text(self.id.to_string())),
            "creation_time" => Some(Attribute::Number(self.created_ms as f64)),
            "last_update_time" => Some(Attribute::Number(self.updated_ms as f64)),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct ByName {
    experiment_name: Option<String>,
}

pub async fn experiment_by_name(State(api): State<Api>, uri: Uri) -> Reply {
    api.blocking(move |api| {
        let q: ByName = query(&uri)?;
        let name = required(&q.experiment_name, "experiment_name")?;
        let e = api.store.sync().experiment_by_name(name)?.ok_or_else(|| {
            MlflowError::not_found(format!("Could not find experiment with name '{name}'"))
        })?;
        Ok(Json(json!({ "experiment": experiment_json(&e) })))
    })
    .await
}

#[derive(Deserialize)]
struct ById {
    experiment_id: Option<String>,
}

pub async fn get_experiment(State(api): State<Api>, uri: Uri) -> Reply {
    api.blocking(move |api| {
        let q: ById = query(&uri)?;
        let id = experiment_id(required(&q.experiment_id, "experiment_id")?)?;
        let e =
            api.store.sync().experiment(id)?.ok_or_else(|| {
                MlflowError::not_found(format!("No Experiment with id={id} exists"))
            })?;
        Ok(Json(json!({ "experiment": experiment_json(&e) })))
    })
    .await
}

#[derive(Deserialize)]
struct CreateExperiment {
    name: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn create_experiment(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: CreateExperiment = body(&bytes)?;
        let name = required(&req.name, "name")?;
        limits::name("experiment name", name)?;
        let tags: Vec<(String, String)> = req.tags.into_iter().map(|t| (t.key, t.value)).collect();
        limits::check([], &tags, [])?;
        let tags = tags.into_iter().collect();
        let id = api
            .store
            .sync()
            .create_experiment(name, &tags, unix_ms())?
            .ok_or_else(|| MlflowError::exists(format!("Experiment '{name}' already exists.")))?;
        Ok(Json(json!({ "experiment_id": id.to_string() })))
    })
    .await
}

fn set_lifecycle(api: &Api, bytes: &Bytes, lifecycle: &str) -> Reply {
    let req: ById = body(bytes)?;
    let id = experiment_id(required(&req.experiment_id, "experiment_id")?)?;
    if !api
        .store
        .sync()
        .set_experiment_lifecycle(id, lifecycle, unix_ms())?
    {
        return Err(MlflowError::not_found(format!(
            "No Experiment with id={id} exists"
        )));
    }
    Ok(Json(json!({})))
}

pub async fn delete_experiment(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| set_lifecycle(api, &bytes, "deleted"))
        .await
}

pub async fn restore_experiment(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| set_lifecycle(api, &bytes, "active"))
        .await
}

#[derive(Deserialize)]
struct SearchExperiments {
    #[serde(default, deserialize_with = "int64")]
    max_results: Option<i64>,
    filter: Option<String>,
    #[serde(default)]
    order_by: Vec<String>,
    view_type: Option<String>,
    page_token: Option<String>,
}

pub async fn search_experiments(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: SearchExperiments = body(&bytes)?;
        let (filter, order) = search_terms(
            req.filter.as_deref(),
            req.order_by.iter().map(String::as_str),
            EXPERIMENT_ATTRIBUTES,
        )?;
        let mut found = Vec::new();
        for e in api.store.sync().experiments()? {
            if view_matches(req.view_type.as_deref(), e.lifecycle == "deleted")?
                && filter.matches(&e)
            {
                found.push(e);
            }
        }
        found.sort_by(|a, b| OrderBy::compare_all(&order, a, b).then_with(|| b.id.cmp(&a.id)));
        let max = req.max_results.unwrap_or(1000).clamp(1, 50_000) as usize;
        let (found, next) = page(found, req.page_token.as_deref(), max)?;
        let mut reply =
            json!({ "experiments": found.iter().map(experiment_json).collect::<Vec<_>>() });
        if let Some(token) = next {
            reply["next_page_token"] = json!(token);
        }
        Ok(Json(reply))
    })
    .await
}

#[derive(Deserialize)]
struct Update {
    experiment_id: Option<String>,
    new_name: Option<String>,
}

/// `experiments/update`: renames an experiment (its runs follow it).
pub async fn update_experiment(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: Update = body(&bytes)?;
        let id = experiment_id(required(&req.experiment_id, "experiment_id")?)?;
        let name = required(&req.new_name, "new_name")?;
        limits::name("experiment name", name)?;
        match api.store.sync().rename_experiment(id, name, unix_ms())? {
            Ok(true) => Ok(Json(json!({}))),
            Ok(false) => Err(MlflowError::not_found(format!(
                "No Experiment with id={id} exists"
            ))),
            Err(taken) => Err(MlflowError::exists(taken)),
        }
    })
    .await
}

#[derive(Deserialize)]
struct Tag {
    experiment_id: Option<String>,
    key: Option<String>,
    value: Option<String>,
}

fn experiment_tag(api: &Api, req: &Tag, value: Option<&str>) -> Reply {
    let id = experiment_id(required(&req.experiment_id, "experiment_id")?)?;
    let key = required(&req.key, "key")?;
    if let Some(value) = value {
        limits::check([], &[(key.to_string(), value.to_string())], [])?;
    }
    if !api
        .store
        .sync()
        .set_experiment_tag(id, key, value, unix_ms())?
    {
        return Err(MlflowError::not_found(format!(
            "No Experiment with id={id} exists"
        )));
    }
    Ok(Json(json!({})))
}

pub async fn set_experiment_tag(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: Tag = body(&bytes)?;
        let value = req.value.clone().unwrap_or_default();
        experiment_tag(api, &req, Some(&value))
    })
    .await
}

pub async fn delete_experiment_tag(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: Tag = body(&bytes)?;
        experiment_tag(api, &req, None)
    })
    .await
}
