//! The agent's HTTP listener: liveness, readiness (connected to the coordinator), Prometheus
//! `/metrics`, and the prediction API over the models loaded here ([`crate::serve`]). Bound
//! beyond loopback it requires a bearer token on every route but the two health probes; with
//! a certificate it speaks HTTPS.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use drover_protocol::http::{Listen, Presented};
use hyper::body::Incoming;
use hyper::service::{Service, service_fn};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;

use crate::serve::catalog::Catalog;
use crate::serve::direct;
use crate::serve::feedback_route::{Peer, is_feedback};
use crate::serve::reply::{request_id, with_request_id};
use crate::serve::routes;
use crate::serve::serving::Serving;

/// Connections served at once; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 1024;
/// Where the listener's bearer token is kept, in the state dir.
pub const TOKEN_FILE: &str = "http.token";
/// Where the feedback token is kept, in the state dir.
pub const FEEDBACK_TOKEN_FILE: &str = "feedback.token";

/// How the listener is reached: the bearer token it requires, if any, TLS, if on, and the
/// token feedback requires (none: feedback is refused).
#[derive(Clone, Default)]
pub struct Access {
    pub token: Option<String>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub feedback_token: Option<String>,
}

/// The feedback token of the agent with state dir `state_dir`: the one on file, or a new one
/// written there (mode 0600).
pub fn feedback_token(state_dir: &std::path::Path) -> std::io::Result<String> {
    drover_protocol::http::token_file(&state_dir.join(FEEDBACK_TOKEN_FILE), "drvf_")
}

/// The answer to a request without the listener's `token`, if it lacks it.
/// Every answer of the router carries `x-request-id`: the client's (at most 128
/// characters) or a new one, 404s and 401s included.
async fn echo_request_id(request: Request, next: Next) -> Response {
    let id = request_id(request.headers());
    with_request_id(next.run(request).await, &id)
}

fn refused(headers: &HeaderMap, token: &str) -> Option<Response> {
    let message = match drover_protocol::http::presented(headers, token) {
        Presented::Right => return None,
        Presented::Wrong => "the bearer token is wrong",
        Presented::Missing => {
            "this listener requires a bearer token (Authorization: Bearer <the agent's http.token>)"
        }
    };
    let answer = (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(serde_json::json!({ "error": message })),
    );
    Some(answer.into_response())
}

/// Refuses a request without the listener's token, except the health probes and feedback
/// (which requires a token of its own).
async fn require_token(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.starts_with("/v2/health/") || is_feedback(path) {
        return next.run(request).await;
    }
    match refused(request.headers(), &token) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
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
    let serving = Serving::start(catalog, access.feedback_token.map(Arc::from));
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
        .merge(routes::router(&serving));
    let token: Option<Arc<str>> = access.token.map(Arc::from);
    if let Some(token) = &token {
        app = app.layer(middleware::from_fn_with_state(token.clone(), require_token));
    }
    let app = app.layer(middleware::from_fn(echo_request_id));
    let router = TowerToHyperService::new(app);
    // Predictions skip the router (see `direct`); everything else, and the token check of
    // every other route, is the router's, told the peer's address. Each way's future is kept
    // as it is, not boxed.
    let service = move |peer: SocketAddr| {
        let (router, serving, token) = (router.clone(), serving.clone(), token.clone());
        service_fn(move |mut request: hyper::Request<Incoming>| {
            let Some(route) = direct::route(request.method(), request.uri().path()) else {
                request.extensions_mut().insert(Peer(peer));
                return Either::Right(router.call(request));
            };
            if let Some(refusal) = token.as_deref().and_then(|t| refused(request.headers(), t)) {
                let id = request_id(request.headers());
                let refusal = with_request_id(refusal, &id);
                return Either::Left(Either::Left(std::future::ready(Ok(refusal))));
            }
            let answer = direct::answer(serving.clone(), route, request);
            Either::Left(Either::Right(async move { Ok(answer.await) }))
        })
    };
    let listen = Listen {
        max_connections: MAX_CONNECTIONS,
        probes: &["/v2/health/live", "/v2/health/ready"],
        tls: access.tls,
    };
    drover_protocol::http::serve_service(listener, service, listen, shutdown).await;
}
