//! Registry endpoints scripts use beyond registering: searching registered models, the
//! download URI of a version, descriptions and tags of models and versions, renaming, and
//! deleting versions and models. A deployed model (or one in a rollout) is not renamed or
//! deleted; the refusal says what to do first.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use drover_protocol::registry::Selector;
use drover_protocol::types::unix_ms;
use serde::Deserialize;
use serde_json::json;

use super::Api;
use super::error::MlflowError;
use super::filter::{Attribute, Attributes, OrderBy, Searchable};
use super::limits;
use super::registry::{Extras, find, registered_json, version_number};
use super::request::{Reply, body, page, query, required, search_terms};
use crate::store::{Refusal, RegisteredModel, StoreError};

/// What a registered-model search may name.
const MODEL_ATTRIBUTES: Attributes = &[
    ("name", false),
    ("creation_timestamp", true),
    ("last_updated_timestamp", true),
    ("timestamp", true),
];

/// A registered model as searches see it: its record and when it last changed.
struct Listed(RegisteredModel, u64);

impl Searchable for Listed {
    fn metric(&self, _: &str) -> Option<f64> {
        None
    }
    fn param(&self, _: &str) -> Option<&str> {
        None
    }
    fn tag(&self, key: &str) -> Option<&str> {
        self.0.tags.get(key).map(String::as_str)
    }
    fn attribute(&self, name: &str) -> Option<Attribute> {
        match name {
            "name" => Some(Attribute::Text(self.0.name.clone())),
            "creation_timestamp" => Some(Attribute::Number(self.0.created_ms as f64)),
            "last_updated_timestamp" | "timestamp" => Some(Attribute::Number(self.1 as f64)),
            _ => None,
        }
    }
    fn missing_tag_differs(&self) -> bool {
        true
    }
}

/// `registered-models/search` (GET): filter by name (`=`, `LIKE`, `ILIKE`) and tags, order
/// by name or time, paged. `order_by` may repeat.
pub async fn search_models(State(api): State<Api>, uri: Uri) -> Reply {
    api.blocking(move |api| {
        let mut filter_text = String::new();
        let mut order_text = Vec::new();
        let mut max_results = None;
        let mut token = None;
        for (key, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "filter" => filter_text = value.into_owned(),
                "order_by" => order_text.push(value.into_owned()),
                "max_results" => {
                    max_results = Some(value.parse::<i64>().map_err(|_| {
                        MlflowError::invalid(format!("invalid max_results {value:?}"))
                    })?)
                }
                "page_token" => token = Some(value.into_owned()),
                _ => {}
            }
        }
        let (filter, order) = search_terms(
            Some(&filter_text),
            order_text.iter().map(String::as_str),
            MODEL_ATTRIBUTES,
        )?;
        let mut found: Vec<Listed> = api
            .store
            .sync()
            .registered_models()?
            .into_iter()
            .map(|(m, updated)| Listed(m, updated))
            .filter(|m| filter.matches(m))
            .collect();
        found.sort_by(|a, b| {
            OrderBy::compare_all(&order, a, b).then_with(|| a.0.name.cmp(&b.0.name))
        });
        let max = max_results.unwrap_or(100).clamp(1, 1000) as usize;
        let (found, next) = page(found, token.as_deref(), max)?;
        let models = found
            .iter()
            .map(|m| registered_json(api, &m.0.name))
            .collect::<Result<Vec<_>, _>>()?;
        let mut reply = json!({});
        if !models.is_empty() {
            reply["registered_models"] = json!(models);
        }
        if let Some(token) = next {
            reply["next_page_token"] = json!(token);
        }
        Ok(Json(reply))
    })
    .await
}

#[derive(Deserialize)]
struct VersionArgs {
    name: Option<String>,
    version: Option<String>,
    description: Option<String>,
    key: Option<String>,
    value: Option<String>,
}

impl VersionArgs {
    fn target(&self) -> Result<(&str, u32), MlflowError> {
        Ok((
            required(&self.name, "name")?,
            version_number(required(&self.version, "version")?)?,
        ))
    }
}

fn no_version(name: &str, version: u32) -> MlflowError {
    MlflowError::not_found(format!(
        "Model Version (name={name}, version={version}) not found"
    ))
}

fn no_model(name: &str) -> MlflowError {
    MlflowError::not_found(format!("Registered Model with name={name} not found"))
}

/// `model-versions/get-download-uri`: where the client downloads the version's files from.
pub async fn download_uri(State(api): State<Api>, uri: Uri) -> Reply {
    api.blocking(move |api| {
        let q: VersionArgs = query(&uri)?;
        let (name, number) = q.target()?;
        let v = find(api, name, Selector::Number(number))?;
        let source = Extras::load(api, name)?.source(&v);
        let location = if let Some(id) = source.strip_prefix("models:/") {
            let model = super::logged_models::load_model(api, id, false)?;
            format!(
                "mlflow-artifacts:/{}",
                super::logged_models::model_dir(&model)
            )
        } else if let Some(rest) = source.strip_prefix("runs:/") {
            let (run, rel) = rest.split_once('/').unwrap_or((rest, ""));
            let experiment = api
                .store
                .sync()
                .run_experiment(run)?
                .ok_or_else(|| MlflowError::not_found(format!("Run with id={run} not found")))?;
            format!("mlflow-artifacts:/{experiment}/{run}/artifacts/{rel}")
        } else if source.starts_with("drover-artifacts:/") {
            return Err(MlflowError::invalid(format!(
                "{name} version {number} was trained by drover; it is no MLflow model (drover models show {name}@{number})"
            )));
        } else {
            source
        };
        Ok(Json(json!({ "artifact_uri": location })))
    })
    .await
}

fn version_edit(
    api: &Api,
    q: &VersionArgs,
    change: impl FnOnce(&mut crate::store::VersionNotes),
) -> Result<(String, u32), MlflowError> {
    let (name, number) = q.target()?;
    if !api
        .store
        .sync()
        .edit_version_notes(name, number, unix_ms(), change)?
    {
        return Err(no_version(name, number));
    }
    Ok((name.to_string(), number))
}

/// `model-versions/update`: the description.
pub async fn update_version(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let q: VersionArgs = body(&bytes)?;
        let description = q.description.clone().unwrap_or_default();
        limits::description(&description)?;
        let (name, number) = version_edit(api, &q, |n| n.description = description)?;
        let v = find(api, &name, Selector::Number(number))?;
        Ok(Json(
            json!({ "model_version": Extras::load(api, &name)?.json(&v) }),
        ))
    })
    .await
}

fn tag_pair(q: &VersionArgs) -> Result<(String, String), MlflowError> {
    let pair = (
        required(&q.key, "key")?.to_string(),
        q.value.clone().unwrap_or_default(),
    );
    limits::check([], std::slice::from_ref(&pair), [])?;
    Ok(pair)
}

pub async fn set_version_tag(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let q: VersionArgs = body(&bytes)?;
        let (key, value) = tag_pair(&q)?;
        version_edit(api, &q, |n| {
            n.tags.insert(key, value);
        })?;
        Ok(Json(json!({})))
    })
    .await
}

pub async fn delete_version_tag(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let q: VersionArgs = body(&bytes)?;
        let key = required(&q.key, "key")?.to_string();
        version_edit(api, &q, |n| {
            n.tags.remove(&key);
        })?;
        Ok(Json(json!({})))
    })
    .await
}

/// A store answer that may be a refusal, as MLflow's errors.
fn refused(
    answer: Result<Result<bool, Refusal>, StoreError>,
    missing: MlflowError,
) -> Result<(), MlflowError> {
    match answer? {
        Ok(true) => Ok(()),
        Ok(false) => Err(missing),
        Err(refusal) => Err(MlflowError::invalid(refusal)),
    }
}

pub async fn delete_version(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let q: VersionArgs = body(&bytes)?;
        let (name, number) = q.target()?;
        refused(
            api.store.sync().delete_model_version(name, number),
            no_version(name, number),
        )?;
        Ok(Json(json!({})))
    })
    .await
}

#[derive(Deserialize)]
struct ModelArgs {
    name: Option<String>,
    new_name: Option<String>,
    description: Option<String>,
    key: Option<String>,
    value: Option<String>,
}

/// `registered-models/update`: the description.
pub async fn update_model(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let q: ModelArgs = body(&bytes)?;
        let name = required(&q.name, "name")?;
        let description = q.description.clone().unwrap_or_default();
        limits::description(&description)?;
        if !api
            .store
            .sync()
            .set_model_description(name, &description, unix_ms())?
        {
            return Err(no_model(name));
        }
        Ok(Json(
            json!({ "registered_model": registered_json(api, name)? }),
        ))
    })
    .await
}

pub async fn rename_model(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let q: ModelArgs = body(&bytes)?;
        let name = required(&q.name, "name")?;
        let new = required(&q.new_name, "new_name")?;
        drover_protocol::data::version::validate_name(new)
            .map_err(|e| MlflowError::invalid(format!("model name: {e}")))?;
        refused(
            api.store.sync().rename_model(name, new, unix_ms()),
            no_model(name),
        )?;
        Ok(Json(
            json!({ "registered_model": registered_json(api, new)? }),
        ))
    })
    .await
}

pub async fn delete_model(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let q: ModelArgs = body(&bytes)?;
        let name = required(&q.name, "name")?;
        refused(api.store.sync().delete_model(name), no_model(name))?;
        Ok(Json(json!({})))
    })
    .await
}

fn model_tag(api: &Api, q: &ModelArgs, value: Option<&str>) -> Reply {
    let name = required(&q.name, "name")?;
    let key = required(&q.key, "key")?;
    if let Some(value) = value {
        limits::check([], &[(key.to_string(), value.to_string())], [])?;
    }
    if !api
        .store
        .sync()
        .set_model_tag(name, key, value, unix_ms())?
    {
        return Err(no_model(name));
    }
    Ok(Json(json!({})))
}

pub async fn set_model_tag(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let q: ModelArgs = body(&bytes)?;
        let value = q.value.clone().unwrap_or_default();
        model_tag(api, &q, Some(&value))
    })
    .await
}

pub async fn delete_model_tag(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let q: ModelArgs = body(&bytes)?;
        model_tag(api, &q, None)
    })
    .await
}
