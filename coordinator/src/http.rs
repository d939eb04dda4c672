//! The coordinator's HTTP listener: Prometheus text at `/metrics`, a liveness probe, and the
//! MLflow-compatible API (see [`crate::mlflow`]). A listener reachable beyond loopback requires
//! a bearer token (kept in `<data-dir>/http.token`, created on first need); creating that file
//! requires it on loopback too. `/healthz` stays open for probes.
//!
//! The listener is bounded: at most [`MAX_CONNECTIONS`] at once (more are closed on accept),
//! and a request's headers must arrive within [`HEADER_TIMEOUT`], so idle or half-sent
//! connections cannot take every slot or file descriptor. With [`HttpTls`] it speaks HTTPS,
//! so that a bearer token never crosses the network in clear.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Connections served at once; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a client may take to send a request's headers (and how long an idle
/// keep-alive connection stays open).
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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
        HttpTls::Files { cert, key } => (
            drover_protocol::files::read_text(cert)?,
            drover_protocol::files::read_text(key)?,
        ),
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
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(Some(text.trim().to_string())),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is empty; delete it or put a token in it",
                path.display()
            )));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    if addr.ip().is_loopback() {
        return Ok(None);
    }
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = format!("drvh_{}", drover_protocol::pki::hex(&raw));
    drover_protocol::files::write_atomic(&path, format!("{token}\n").as_bytes(), true)?;
    tracing::info!(
        path = %path.display(),
        "the HTTP listener is not loopback: clients need the bearer token in this file (MLFLOW_TRACKING_TOKEN)"
    );
    Ok(Some(token))
}

async fn require_token(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    // The scheme is case-insensitive (RFC 9110): `bearer` and `BEARER` are `Bearer`.
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match presented {
        // blake3::Hash compares in constant time.
        Some(p) if blake3::hash(p.as_bytes()) == blake3::hash(token.as_bytes()) => {
            next.run(request).await
        }
        Some(_) => MlflowError::unauthenticated("the bearer token is wrong").into_response(),
        None => MlflowError::unauthenticated(
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
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let connections = TaskTracker::new();
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait instead of spinning.
                    tracing::warn!(cause = %e, "HTTP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("drover_http_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let (shutdown, tls) = (shutdown.clone(), tls.clone());
        connections.spawn(async move {
            let _slot = slot;
            match tls {
                None => serve_connection(stream, service, shutdown).await,
                Some(tls) => match tokio::time::timeout(HEADER_TIMEOUT, tls.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(stream, service, shutdown).await,
                    Ok(Err(e)) => tracing::debug!(cause = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                },
            }
        });
    }
    connections.close();
    connections.wait().await;
}

/// Serves HTTP/1.1 on one connection until the client goes or `shutdown` fires (then the
/// request in progress is finished first).
async fn serve_connection<I>(
    io: I,
    service: TowerToHyperService<axum::Router>,
    shutdown: CancellationToken,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
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
