//! A run's inputs and outputs: `runs/log-inputs` (datasets, each matched by digest to the
//! drover dataset version it names, if any) and `runs/outputs` (the logged models it made),
//! and how `runs/get` shows them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use drover_protocol::types::unix_ms;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Api;
use super::error::MlflowError;
use super::limits::within;
use super::logged_models::load_model;
use super::request::{Reply, RunRef, body};
use super::wire::{KeyValue, int64, pairs};
use crate::store::StoredInput;

/// MLflow's own limits on a dataset input's fields, in characters.
const MAX_NAME: usize = 500;
const MAX_DIGEST: usize = 36;
const MAX_SOURCE: usize = 65_535;
const MAX_SCHEMA: usize = 1_048_575;
const MAX_PROFILE: usize = 16_384;
const MAX_TAG_KEY: usize = 255;
const MAX_TAG_VALUE: usize = 500;
/// Datasets or models in one request.
const MAX_ITEMS: usize = 1000;

#[derive(Deserialize)]
struct Dataset {
    name: Option<String>,
    digest: Option<String>,
    source_type: Option<String>,
    source: Option<String>,
    schema: Option<String>,
    profile: Option<String>,
}

#[derive(Deserialize)]
struct DatasetInput {
    #[serde(default)]
    tags: Vec<KeyValue>,
    dataset: Option<Dataset>,
}

#[derive(Deserialize)]
struct ModelRef {
    model_id: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    step: Option<i64>,
}

#[derive(Deserialize)]
struct LogInputs {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    datasets: Vec<DatasetInput>,
    #[serde(default)]
    models: Vec<ModelRef>,
}

fn input(api: &Api, d: DatasetInput) -> Result<StoredInput, MlflowError> {
    let dataset = d
        .dataset
        .ok_or_else(|| MlflowError::invalid("a dataset input names no dataset"))?;
    let name = dataset.name.filter(|n| !n.is_empty()).ok_or_else(|| {
        MlflowError::invalid("missing value for required parameter 'dataset.name'")
    })?;
    let digest = dataset.digest.filter(|n| !n.is_empty()).ok_or_else(|| {
        MlflowError::invalid("missing value for required parameter 'dataset.digest'")
    })?;
    let source = dataset.source.unwrap_or_default();
    let schema = dataset.schema.unwrap_or_default();
    let profile = dataset.profile.unwrap_or_default();
    within("dataset name", &name, MAX_NAME)?;
    within("dataset digest", &digest, MAX_DIGEST)?;
    within("dataset source", &source, MAX_SOURCE)?;
    within("dataset schema", &schema, MAX_SCHEMA)?;
    within("dataset profile", &profile, MAX_PROFILE)?;
    for tag in &d.tags {
        within("input tag key", &tag.key, MAX_TAG_KEY)?;
        within("input tag value", &tag.value, MAX_TAG_VALUE)?;
    }
    let (known, known_hash) = api.store.sync().dataset_by_digest(&digest)?.unzip();
    Ok(StoredInput {
        name,
        digest,
        source_type: dataset.source_type.unwrap_or_default(),
        source,
        schema,
        profile,
        tags: d.tags.into_iter().map(|t| (t.key, t.value)).collect(),
        dataset: known.unwrap_or_default(),
        dataset_hash: known_hash.unwrap_or_default(),
    })
}

fn known_run(api: &Api, id: &str) -> Result<(), MlflowError> {
    match api.store.sync().run_experiment(id)? {
        Some(_) => Ok(()),
        None => Err(MlflowError::not_found(format!(
            "Run with id={id} not found"
        ))),
    }
}

/// The models of a request as (id, step), each known to drover.
fn models(api: &Api, models: Vec<ModelRef>) -> Result<Vec<(String, i64)>, MlflowError> {
    models
        .into_iter()
        .map(|m| {
            let id = m.model_id.unwrap_or_default();
            load_model(api, &id, false)?;
            Ok((id, m.step.unwrap_or(0)))
        })
        .collect()
}

pub async fn log_inputs(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: LogInputs = body(&bytes)?;
        let run = req.run.id()?.to_string();
        if req.datasets.len() > MAX_ITEMS || req.models.len() > MAX_ITEMS {
            return Err(MlflowError::invalid(format!(
                "at most {MAX_ITEMS} datasets and {MAX_ITEMS} models per request"
            )));
        }
        known_run(api, &run)?;
        let inputs = req
            .datasets
            .into_iter()
            .map(|d| input(api, d))
            .collect::<Result<Vec<_>, _>>()?;
        models(api, req.models)?;
        api.store.sync().add_run_inputs(&run, &inputs, unix_ms())?;
        Ok(Json(json!({})))
    })
    .await
}

#[derive(Deserialize)]
struct LogOutputs {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    models: Vec<ModelRef>,
}

pub async fn log_outputs(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: LogOutputs = body(&bytes)?;
        let run = req.run.id()?.to_string();
        if req.models.len() > MAX_ITEMS {
            return Err(MlflowError::invalid(format!(
                "at most {MAX_ITEMS} models per request"
            )));
        }
        known_run(api, &run)?;
        let models = models(api, req.models)?;
        api.store.sync().add_run_outputs(&run, &models)?;
        Ok(Json(json!({})))
    })
    .await
}

/// `inputs` and `outputs` of a run as `runs/get` answers them.
pub fn run_io(api: &Api, run: &str) -> Result<(Value, Value), MlflowError> {
    let inputs: Vec<Value> = api
        .store
        .sync()
        .run_inputs(run)?
        .into_iter()
        .map(|i| {
            json!({
                "tags": pairs(&i.tags),
                "dataset": {
                    "name": i.name, "digest": i.digest, "source_type": i.source_type,
                    "source": i.source, "schema": i.schema, "profile": i.profile,
                },
            })
        })
        .collect();
    let outputs: Vec<Value> = api
        .store
        .sync()
        .run_logged_models(run)?
        .into_iter()
        .filter(|m| !m.deleted)
        .map(|m| json!({"model_id": m.id, "step": 0}))
        .collect();
    let inputs = if inputs.is_empty() {
        json!({})
    } else {
        json!({ "dataset_inputs": inputs })
    };
    let outputs = if outputs.is_empty() {
        json!({})
    } else {
        json!({ "model_outputs": outputs })
    };
    Ok((inputs, outputs))
}
