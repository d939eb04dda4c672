//! MLflow compatibility: the subset of MLflow's tracking REST API that the official client
//! uses, served on the coordinator's HTTP listener from drover's own store, so scripts that
//! call `mlflow` log into drover unchanged. The contract is `mlflow-tracking-api.md`.

pub mod error;
pub mod filter;
pub mod tracking;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::coordinator::store::Store;
use error::MlflowError;

/// What the handlers share.
#[derive(Clone)]
pub struct Api {
    pub store: Arc<Store>,
}

/// The MLflow routes; anything else under them answers 404 `ENDPOINT_NOT_FOUND`, never a 5xx
/// the client would retry.
pub fn router(api: Api) -> Router {
    let base = "/api/2.0/mlflow";
    let routes = [
        ("experiments/get-by-name", get(tracking::experiment_by_name)),
        ("experiments/get", get(tracking::get_experiment)),
        ("experiments/create", post(tracking::create_experiment)),
        ("experiments/search", post(tracking::search_experiments)),
        ("experiments/delete", post(tracking::delete_experiment)),
        ("runs/create", post(tracking::create_run)),
        ("runs/update", post(tracking::update_run)),
        ("runs/get", get(tracking::get_run)),
        ("runs/log-parameter", post(tracking::log_param)),
        ("runs/log-metric", post(tracking::log_metric)),
        ("runs/set-tag", post(tracking::set_tag)),
        ("runs/log-batch", post(tracking::log_batch)),
        ("runs/search", post(tracking::search_runs)),
        ("runs/delete", post(tracking::delete_run)),
        ("runs/restore", post(tracking::restore_run)),
        ("metrics/get-history", get(tracking::metric_history)),
        ("logged-models/search", post(tracking::search_logged_models)),
    ];
    let mut router = Router::new();
    for (path, route) in routes {
        router = router.route(&format!("{base}/{path}"), route);
    }
    router
        .method_not_allowed_fallback(not_found)
        .with_state(api)
}

/// The reply to an endpoint drover does not serve.
pub async fn not_found(uri: axum::http::Uri) -> MlflowError {
    MlflowError::no_endpoint(format!("drover does not serve {}", uri.path()))
}
