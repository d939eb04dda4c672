//! The agent's HTTP listener: liveness, readiness (connected to the coordinator), Prometheus
//! `/metrics`, and the prediction API over the models loaded here ([`crate::serve`]). Bound
//! beyond loopback it requires a bearer token on every route but the two health probes; with
//! a certificate it speaks HTTPS.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use drover_protocol::http::{Listen, Presented};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::serve::catalog::Catalog;

/// Connections served at once; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 1024;
/// Where the listener's bearer token is kept, in the state dir.
pub const TOKEN_FILE: &str = "http.token";

/// How the listener is reached: the bearer token it requires, if any, and TLS, if on.
#[derive(Clone, Default)]
pub struct Access {
    pub token: Option<String>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Refuses a request without the listener's token, except the health probes.
async fn require_token(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/v2/health/") {
        return next.run(request).await;
    }
    let message = match drover_protocol::http::presented(request.headers(), &token) {
        Presented::Right => return next.run(request).await,
        Presented::Wrong => "the bearer token is wrong",
        Presented::Missing => {
            "this listener requires a bearer token (Authorization: Bearer <the agent's http.token>)"
        }
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

/// Serves until `shutdown` fires; ready while `connected` is true.
pub async fn serve(
    listener: TcpListener,
    connected: watch::Receiver<bool>,
    catalog: Arc<Catalog>,
    access: Access,
    shutdown: CancellationToken,
) {
    let prometheus = drover_protocol::telemetry::prometheus();
    let mut app = Router::new()
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
    if let Some(token) = access.token {
        app = app.layer(middleware::from_fn_with_state(
            Arc::from(token),
            require_token,
        ));
    }
    let listen = Listen {
        max_connections: MAX_CONNECTIONS,
        tls: access.tls,
    };
    drover_protocol::http::serve(listener, app, listen, shutdown).await;
}
