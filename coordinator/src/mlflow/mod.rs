//! MLflow compatibility: the subset of MLflow's tracking REST API that the official client
//! uses, served on the coordinator's HTTP listener from drover's own store, so scripts that
//! call `mlflow` log into drover unchanged. The contract is `mlflow-tracking-api.md`.

pub mod artifacts;
pub mod error;
pub mod experiments;
pub mod filter;
pub mod inputs;
pub mod limits;
pub mod logged_models;
pub mod logging;
pub mod manifest;
pub mod pages;
pub mod register;
pub mod registry;
pub mod registry_edits;
pub mod request;
pub mod source;
pub mod tracking;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post};

use super::state::Shared;
use error::MlflowError;

/// What the handlers share: the coordinator's state (store, artifacts, events).
#[derive(Clone)]
pub struct Api(pub(crate) Arc<Shared>);

impl Api {
    /// Runs a handler's store work on the blocking pool, off the runtime's worker threads.
    pub async fn blocking<R, F>(&self, work: F) -> R
    where
        F: FnOnce(&Api) -> R + Send + 'static,
        R: Send + 'static,
    {
        let api = self.clone();
        super::store::handle::blocking(move || work(&api)).await
    }
}

impl std::ops::Deref for Api {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The MLflow routes (tracking, proxied artifacts, registry); anything else under them answers 404 `ENDPOINT_NOT_FOUND`, never a 5xx
/// the client would retry.
pub fn router(api: Api) -> Router {
    let base = "/api/2.0/mlflow";
    let routes = [
        (
            "experiments/get-by-name",
            get(experiments::experiment_by_name),
        ),
        ("experiments/get", get(experiments::get_experiment)),
        ("experiments/create", post(experiments::create_experiment)),
        ("experiments/search", post(experiments::search_experiments)),
        ("experiments/delete", post(experiments::delete_experiment)),
        ("experiments/restore", post(experiments::restore_experiment)),
        ("experiments/update", post(experiments::update_experiment)),
        (
            "experiments/set-experiment-tag",
            post(experiments::set_experiment_tag),
        ),
        (
            "experiments/delete-experiment-tag",
            post(experiments::delete_experiment_tag).delete(experiments::delete_experiment_tag),
        ),
        ("runs/create", post(tracking::create_run)),
        ("runs/update", post(tracking::update_run)),
        ("runs/get", get(tracking::get_run)),
        ("runs/log-parameter", post(logging::log_param)),
        ("runs/log-metric", post(logging::log_metric)),
        ("runs/set-tag", post(logging::set_tag)),
        ("runs/delete-tag", post(logging::delete_tag)),
        ("runs/log-batch", post(logging::log_batch)),
        ("runs/search", post(tracking::search_runs)),
        ("runs/delete", post(tracking::delete_run)),
        ("runs/restore", post(tracking::restore_run)),
        ("metrics/get-history", get(tracking::metric_history)),
        ("runs/log-inputs", post(inputs::log_inputs)),
        ("runs/outputs", post(inputs::log_outputs)),
        ("logged-models", post(logged_models::create)),
        ("logged-models/search", post(logged_models::search)),
        (
            "logged-models/{id}",
            get(logged_models::get)
                .patch(logged_models::finalize)
                .delete(logged_models::delete),
        ),
        ("logged-models/{id}/params", post(logged_models::log_params)),
        ("logged-models/{id}/tags", patch(logged_models::set_tags)),
        (
            "logged-models/{id}/tags/{key}",
            delete(logged_models::delete_tag),
        ),
        ("registered-models/create", post(registry::create_model)),
        ("registered-models/get", get(registry::get_model)),
        (
            "registered-models/search",
            get(registry_edits::search_models),
        ),
        (
            "registered-models/update",
            patch(registry_edits::update_model).post(registry_edits::update_model),
        ),
        (
            "registered-models/rename",
            post(registry_edits::rename_model),
        ),
        (
            "registered-models/delete",
            delete(registry_edits::delete_model).post(registry_edits::delete_model),
        ),
        (
            "registered-models/set-tag",
            post(registry_edits::set_model_tag),
        ),
        (
            "registered-models/delete-tag",
            delete(registry_edits::delete_model_tag),
        ),
        (
            "registered-models/alias",
            get(registry::alias)
                .post(registry::alias)
                .delete(registry::alias),
        ),
        (
            "registered-models/get-latest-versions",
            get(registry::latest_versions).post(registry::latest_versions),
        ),
        ("model-versions/create", post(register::create_version)),
        ("model-versions/get", get(registry::get_version)),
        (
            "model-versions/get-download-uri",
            get(registry_edits::download_uri),
        ),
        (
            "model-versions/update",
            patch(registry_edits::update_version).post(registry_edits::update_version),
        ),
        (
            "model-versions/delete",
            delete(registry_edits::delete_version).post(registry_edits::delete_version),
        ),
        (
            "model-versions/set-tag",
            post(registry_edits::set_version_tag),
        ),
        (
            "model-versions/delete-tag",
            delete(registry_edits::delete_version_tag),
        ),
        ("model-versions/search", get(registry::search_versions)),
        (
            "model-versions/transition-stage",
            post(registry::transition_stage),
        ),
    ];
    let mut router = Router::new();
    for (path, route) in routes {
        router = router.route(&format!("{base}/{path}"), route);
    }
    let files = "/api/2.0/mlflow-artifacts/artifacts";
    router
        .route("/api/3.0/mlflow/server-info", get(server_info))
        .route("/", get(pages::index))
        .route("/experiments/{id}", get(pages::experiment))
        .route("/experiments/{id}/runs/{run}", get(pages::run))
        .route(files, get(artifacts::list))
        .route(
            &format!("{files}/{{*path}}"),
            get(artifacts::get)
                .put(artifacts::put)
                .layer(DefaultBodyLimit::disable()),
        )
        .method_not_allowed_fallback(not_found)
        .with_state(api)
}

/// What the client asks before moving artifacts: drover takes each file in one request.
async fn server_info() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "store_type": "drover",
        "workspaces_enabled": false,
        "multipart_uploads_enabled": false,
        "multipart_downloads_enabled": false,
    }))
}

/// The reply to an endpoint drover does not serve.
pub async fn not_found(uri: axum::http::Uri) -> MlflowError {
    MlflowError::no_endpoint(format!("drover does not serve {}", uri.path()))
}
