//! The coordinator's HTTP listener: Prometheus text at `/metrics` and a liveness probe.

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves HTTP on `listener` until `shutdown` fires.
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) {
    let prometheus = drover_protocol::telemetry::prometheus();
    let app = Router::new()
        .route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        )
        .route("/healthz", get(|| std::future::ready("ok\n")));
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(cause = %e, "HTTP listener failed");
    }
}
