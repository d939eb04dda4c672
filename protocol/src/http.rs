//! The HTTP listener both daemons serve a router on: bounded (at most a set number of
//! connections, a quarter of them per client address, and a small reserve that answers only
//! health probes; more are closed on accept, see [`crate::admission`]), with a deadline on
//! each request's headers (which covers an idle keep-alive connection's wait for its next
//! request) so idle or half-sent connections cannot hold every slot, HTTP/1.1 only, HTTPS when given a TLS
//! acceptor, and the bearer-token rule of every drover listener: required when it is reachable
//! beyond loopback, kept in a file created on first need.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::http::{HeaderMap, Request, header};
use axum::response::Response;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rand::RngCore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::{Admission, Gate};
use crate::head_deadline::HeadDeadline;

/// How long a client may take to send a request's headers (and how long an idle keep-alive
/// connection stays open).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS acceptor for a certificate chain and key in PEM files.
pub fn tls_from_files(cert: &Path, key: &Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use anyhow::Context;
    let chain = crate::files::read_text(cert)
        .with_context(|| format!("reading the HTTPS certificate {}", cert.display()))?;
    let key_pem = crate::files::read_text(key)
        .with_context(|| format!("reading the HTTPS key {}", key.display()))?;
    let config = crate::tls::https_server_config(&chain, &key_pem).with_context(|| {
        format!(
            "the HTTPS certificate {} and key {}",
            cert.display(),
            key.display()
        )
    })?;
    Ok(tokio_rustls::TlsAcceptor::from(config))
}

/// The bearer token a listener on `addr` requires, if any: the one in `path`, or a new one
/// written there when the listener is not loopback.
pub fn bearer_token(
    path: &Path,
    addr: SocketAddr,
    prefix: &str,
) -> std::io::Result<Option<String>> {
    if !path.exists() && addr.ip().is_loopback() {
        return Ok(None);
    }
    token_file(path, prefix).map(Some)
}

/// The token kept in `path`, or a new one (`prefix` and 256 random bits) written there,
/// readable by its owner only.
pub fn token_file(path: &Path, prefix: &str) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is empty; delete it or put a token in it",
                path.display()
            )));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = format!("{prefix}{}", crate::pki::hex(&raw));
    crate::files::write_atomic(path, format!("{token}\n").as_bytes(), true)?;
    Ok(token)
}

/// What a request's `Authorization: Bearer` header says of `token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    Right,
    Wrong,
    Missing,
}

/// Checks a request's bearer token against `token`, in constant time.
pub fn presented(headers: &HeaderMap, token: &str) -> Presented {
    // The scheme is case-insensitive (RFC 9110): `bearer` and `BEARER` are `Bearer`.
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match given {
        // blake3::Hash compares in constant time.
        Some(p) if blake3::hash(p.as_bytes()) == blake3::hash(token.as_bytes()) => Presented::Right,
        Some(_) => Presented::Wrong,
        None => Presented::Missing,
    }
}

/// How a listener is bounded and reached.
#[derive(Clone)]
pub struct Listen {
    /// Connections served at once; more are closed as soon as they are accepted (but for
    /// the probe reserve).
    pub max_connections: usize,
    /// HTTPS when set.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The health probes' paths, which a reserve connection answers.
    pub probes: &'static [&'static str],
}

/// Serves `app` on `listener` until `shutdown` fires, then finishes the requests in progress.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    listen: Listen,
    shutdown: CancellationToken,
) {
    let service = TowerToHyperService::new(app);
    serve_service(listener, move |_| service.clone(), listen, shutdown).await;
}

/// Serves on `listener` until `shutdown` fires, then finishes the requests in progress; each
/// connection is answered by the service (a router, or what answers some requests before
/// one) that `service` makes for its peer's address.
pub async fn serve_service<M, S>(
    listener: TcpListener,
    service: M,
    listen: Listen,
    shutdown: CancellationToken,
) where
    M: Fn(SocketAddr) -> S,
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let admission = Admission::new(listen.max_connections);
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait instead of spinning.
                    tracing::warn!(cause = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = match admission.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(reason) => {
                metrics::counter!("drover_http_connections_refused_total", "reason" => reason)
                    .increment(1);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = Gate {
            inner: service(peer),
            probes_only: slot.reserve.then_some(listen.probes),
        };
        let (shutdown, tls) = (shutdown.clone(), listen.tls.clone());
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
async fn serve_connection<I, S>(io: I, service: S, shutdown: CancellationToken)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let deadline = HeadDeadline::new(HEADER_TIMEOUT);
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(deadline.clone())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = deadline.passed() => tracing::debug!("a request's head did not arrive in time"),
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
        let path = dir.path().join("http.token");
        let loopback: SocketAddr = "127.0.0.1:7401".parse().expect("addr");
        assert_eq!(bearer_token(&path, loopback, "t_").expect("reads"), None);
        let exposed: SocketAddr = "0.0.0.0:7401".parse().expect("addr");
        let token = bearer_token(&path, exposed, "t_")
            .expect("creates")
            .expect("token");
        assert!(token.starts_with("t_"));
        assert_eq!(
            bearer_token(&path, loopback, "t_").expect("reads"),
            Some(token.clone()),
            "a token on file is required on loopback too"
        );
        assert_eq!(
            bearer_token(&path, exposed, "t_").expect("reads"),
            Some(token)
        );
        std::fs::write(&path, "\n").expect("writes");
        assert!(bearer_token(&path, loopback, "t_").is_err());
    }

    #[test]
    fn a_bearer_token_is_checked_whatever_the_scheme_case() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().expect("header"));
            presented(&headers, "s3cret")
        };
        assert_eq!(with("Bearer s3cret"), Presented::Right);
        assert_eq!(with("bearer s3cret"), Presented::Right);
        assert_eq!(with("Bearer nope"), Presented::Wrong);
        assert_eq!(with("Basic s3cret"), Presented::Missing);
        assert_eq!(presented(&HeaderMap::new(), "s3cret"), Presented::Missing);
    }
}
