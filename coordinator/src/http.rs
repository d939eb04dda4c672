//! The coordinator's HTTP listener: Prometheus text at `/metrics`, a liveness probe, and the
//! MLflow-compatible API (see [`crate::mlflow`]). A listener reachable beyond loopback requires
//! a bearer token (kept in `<data-dir>/http.token`, created on first need); creating that file
//! requires it on loopback too. `/healthz` stays open for probes.
//!
//! The listener is bounded: at most [`MAX_CONNECTIONS`] at once (more are closed on accept),
//! and a request's headers must arrive within [`drover_protocol::http::HEADER_TIMEOUT`], so idle or half-sent
//! connections cannot take every slot or file descriptor. With [`HttpTls`] it speaks HTTPS,
//! so that a bearer token never crosses the network in clear.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use drover_protocol::http::{Listen, Presented};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Connections served at once; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 256;

use crate::mlflow::error::MlflowError;

/// HTTPS for the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpTls {
    /// A certificate chain and key from PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// A certificate from drover's own CA for these host names and addresses; clients trust
    /// `<data-dir>/pki/ca.pem` (for MLflow clients: `MLFLOW_TRACKING_SERVER_CERT_PATH`).
    OwnCa { names: Vec<String> },
}

/// The TLS acceptor for `tls`, the certificate signed by `ca` when it is drover's own.
pub fn tls_acceptor(
    tls: &HttpTls,
    ca: &drover_protocol::pki::CertifiedKeyPem,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use anyhow::Context;
    let (chain, key) = match tls {
        HttpTls::Files { cert, key } => return drover_protocol::http::tls_from_files(cert, key),
        HttpTls::OwnCa { names } => {
            let issued = drover_protocol::pki::issue_https(ca, names)
                .context("issuing the HTTPS certificate")?;
            (
                format!("{}{}", issued.cert_pem, ca.cert_pem),
                issued.key_pem,
            )
        }
    };
    let config = drover_protocol::tls::https_server_config(&chain, &key)
        .context("the HTTPS certificate and key")?;
    Ok(tokio_rustls::TlsAcceptor::from(config))
}

/// Where the HTTP bearer token lives.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("http.token")
}

/// The bearer token the listener on `addr` requires, if any: the one in `http.token`, or a new
/// one written there when the listener is not loopback.
pub fn bearer_token(data_dir: &Path, addr: SocketAddr) -> std::io::Result<Option<String>> {
    let path = token_path(data_dir);
    let existed = path.exists();
    let token = drover_protocol::http::bearer_token(&path, addr, "drvh_")?;
    if token.is_some() && !existed {
        tracing::info!(
            path = %path.display(),
            "the HTTP listener is not loopback: clients need the bearer token in this file (MLFLOW_TRACKING_TOKEN)"
        );
    }
    Ok(token)
}

async fn require_token(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    match drover_protocol::http::presented(request.headers(), &token) {
        Presented::Right => next.run(request).await,
        Presented::Wrong => {
            MlflowError::unauthenticated("the bearer token is wrong").into_response()
        }
        Presented::Missing => MlflowError::unauthenticated(
            "this listener requires a bearer token (set MLFLOW_TRACKING_TOKEN)",
        )
        .into_response(),
    }
}

/// A body over a limit answers 413 in MLflow's error shape, whichever layer refused it.
async fn mlflow_shaped_413(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    MlflowError::too_large("the request body is over the size limit").into_response()
}

/// How the listener is reached: with the bearer token it requires, if any, and TLS, if on.
pub struct Access {
    pub token: Option<String>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Serves HTTP (or HTTPS) on `listener` until `shutdown` fires; with a token, every route but
/// `/healthz` requires it.
pub async fn serve(
    listener: TcpListener,
    api: crate::mlflow::Api,
    access: Access,
    shutdown: CancellationToken,
) {
    let Access { token, tls } = access;
    let prometheus = drover_protocol::telemetry::prometheus();
    let mut app = crate::mlflow::router(api)
        .route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        )
        .route("/healthz", get(|| std::future::ready("ok\n")))
        .fallback(crate::mlflow::not_found);
    if let Some(token) = token {
        app = app.layer(middleware::from_fn_with_state(
            Arc::from(token),
            require_token,
        ));
    }
    let app = app.layer(middleware::from_fn(mlflow_shaped_413));
    let listen = Listen {
        max_connections: MAX_CONNECTIONS,
        probes: &["/healthz"],
        tls,
    };
    drover_protocol::http::serve(listener, app, listen, shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listeners_beyond_loopback_get_a_token_unless_one_is_on_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let loopback: SocketAddr = "127.0.0.1:7401".parse().expect("addr");
        assert_eq!(bearer_token(dir.path(), loopback).expect("reads"), None);
        let exposed: SocketAddr = "0.0.0.0:7401".parse().expect("addr");
        let token = bearer_token(dir.path(), exposed)
            .expect("creates")
            .expect("token");
        assert!(token.starts_with("drvh_"));
        assert_eq!(
            bearer_token(dir.path(), loopback).expect("reads"),
            Some(token.clone()),
            "a token on file is required on loopback too"
        );
        assert_eq!(
            bearer_token(dir.path(), exposed).expect("reads"),
            Some(token)
        );
        std::fs::write(token_path(dir.path()), "\n").expect("writes");
        assert!(bearer_token(dir.path(), loopback).is_err());
    }
}
