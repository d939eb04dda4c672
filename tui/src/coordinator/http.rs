//! The coordinator's HTTP listener: Prometheus text at `/metrics`, a liveness probe, and the
//! MLflow-compatible tracking API (see [`crate::mlflow`]).

use std::sync::Arc;

use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::store::Store;

/// Serves HTTP on `listener` until `shutdown` fires.
pub async fn serve(listener: TcpListener, store: Arc<Store>, shutdown: CancellationToken) {
    let prometheus = drover_protocol::telemetry::prometheus();
    let app = crate::mlflow::router(crate::mlflow::Api { store })
        .route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        )
        .route("/healthz", get(|| std::future::ready("ok\n")))
        .fallback(crate::mlflow::not_found);
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(cause = %e, "HTTP listener failed");
    }
}
