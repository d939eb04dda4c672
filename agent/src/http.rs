//! The agent's HTTP listener: liveness, readiness (connected to the coordinator), Prometheus
//! `/metrics`, and the prediction API over the models loaded here ([`crate::serve`]).

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::serve::catalog::Catalog;

/// Serves until `shutdown` fires; ready while `connected` is true.
pub async fn serve(
    listener: TcpListener,
    connected: watch::Receiver<bool>,
    catalog: Arc<Catalog>,
    shutdown: CancellationToken,
) {
    let prometheus = drover_protocol::telemetry::prometheus();
    let app = Router::new()
        .route(
            "/v2/health/live",
            get(|| std::future::ready(StatusCode::OK)),
        )
        .route(
            "/v2/health/ready",
            get(move || {
                let ready = *connected.borrow();
                std::future::ready(if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                })
            }),
        )
        .route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        )
        .merge(crate::serve::routes::router(catalog));
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(cause = %e, "agent HTTP listener failed");
    }
}
