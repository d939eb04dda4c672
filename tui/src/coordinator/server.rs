//! The QUIC listener: accepts connections, reads who the peer is from its certificate and its
//! `Hello`, and hands the connection to the enrollment, agent or operator handler. An error on
//! one connection ends that connection only.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use drover_protocol::conn::{ConnError, FramedSend, accept_bi};
use drover_protocol::msg::{Hello, HelloOutcome, HelloReply, Intent};
use drover_protocol::pki::{self, Identity, Role};
use drover_protocol::{MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};
use rustls::pki_types::CertificateDer;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::state::Shared;
use super::{agent_session, enroll, operator_session};

/// How long a new connection may take to send its `Hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refused peer gets to read the reason before the connection is closed.
const REFUSAL_GRACE: Duration = Duration::from_secs(2);

/// Accepts connections until `shutdown` fires, at most `max_connections` at a time.
pub async fn serve(
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    max_connections: usize,
    shutdown: CancellationToken,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let incoming = tokio::select! {
            _ = shutdown.cancelled() => break,
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
        };
        if open.load(Ordering::Relaxed) >= max_connections {
            metrics::counter!("drover_connections_refused_total", "reason" => "capacity")
                .increment(1);
            incoming.refuse();
            continue;
        }
        let remote = incoming.remote_address();
        let (shared, open, shutdown) = (shared.clone(), open.clone(), shutdown.clone());
        open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(
            async move {
                if let Err(e) = handle(incoming, shared, shutdown).await {
                    tracing::info!(cause = %e, "connection ended");
                }
                open.fetch_sub(1, Ordering::Relaxed);
            }
            .instrument(tracing::info_span!("conn", %remote)),
        );
    }
    endpoint.close(0u32.into(), b"coordinator shutting down");
}

/// Why a connection was dropped.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("handshake failed: {0}")]
    Handshake(#[from] quinn::ConnectionError),
    #[error(transparent)]
    Stream(#[from] ConnError),
    #[error("no hello within {0:?}")]
    HelloTimeout(Duration),
    #[error("refused: {0}")]
    Refused(String),
}

async fn handle(
    incoming: quinn::Incoming,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> Result<(), ConnectionError> {
    let conn = incoming.await.inspect_err(|_| {
        metrics::counter!("drover_connections_refused_total", "reason" => "handshake").increment(1);
    })?;
    let identity = peer_identity(&conn);
    let (mut send, mut recv) = tokio::time::timeout(HELLO_TIMEOUT, accept_bi(&conn))
        .await
        .map_err(|_| ConnectionError::HelloTimeout(HELLO_TIMEOUT))??;
    let hello: Hello = match tokio::time::timeout(HELLO_TIMEOUT, recv.expect_versioned()).await {
        Err(_) => return Err(ConnectionError::HelloTimeout(HELLO_TIMEOUT)),
        Ok(Err(ConnError::VersionMismatch { theirs, .. })) => {
            let reason = format!(
                "protocol version mismatch: the coordinator speaks versions {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}, this peer speaks {theirs}; upgrade the older side"
            );
            return refuse(&conn, &mut send, reason, "version").await;
        }
        Ok(Err(e)) => {
            metrics::counter!("drover_frames_rejected_total").increment(1);
            conn.close(1u32.into(), b"bad frame");
            return Err(e.into());
        }
        Ok(Ok(hello)) => hello,
    };
    metrics::counter!("drover_frames_received_total").increment(1);
    let Hello {
        drover_version,
        intent,
        ..
    } = hello;
    match (identity, intent) {
        (Err(reason), _) => refuse(&conn, &mut send, reason, "certificate").await,
        (Ok(None), Intent::Enroll(request)) => {
            let outcome = enroll::enroll(&shared, request, conn.remote_address()).await;
            reply(&conn, &mut send, outcome).await
        }
        (Ok(None), _) => {
            refuse(
                &conn,
                &mut send,
                "a client certificate is required; join with a token first".into(),
                "certificate",
            )
            .await
        }
        (Ok(Some(id)), Intent::Agent(agent)) if id.role == Role::Agent => {
            let arrival = agent_session::Arrival {
                name: id.name,
                drover_version,
                hello: agent,
            };
            agent_session::run(shared, conn, arrival, send, recv, shutdown).await
        }
        (Ok(Some(id)), Intent::Operator) if id.role == Role::Operator => {
            operator_session::run(shared, conn, send, shutdown).await
        }
        (Ok(Some(id)), Intent::Operator) => {
            let reason = format!(
                "the {} certificate of {} cannot use the operator API",
                id.role, id.name
            );
            refuse(&conn, &mut send, reason, "role").await
        }
        (Ok(Some(id)), _) => {
            let reason = format!(
                "the {} certificate of {} cannot open that kind of session",
                id.role, id.name
            );
            refuse(&conn, &mut send, reason, "role").await
        }
    }
}

/// The identity in the peer's verified certificate: `Ok(None)` when it sent none.
fn peer_identity(conn: &quinn::Connection) -> Result<Option<Identity>, String> {
    let Some(chain) = certificate_chain(conn) else {
        return Ok(None);
    };
    let leaf = chain.first().ok_or("empty client certificate chain")?;
    pki::identity_of(leaf).map(Some).map_err(|e| e.to_string())
}

/// SHA-256 of the peer's leaf certificate, hex.
pub fn peer_fingerprint(conn: &quinn::Connection) -> Option<String> {
    certificate_chain(conn).and_then(|c| c.first().map(|leaf| pki::hex(&pki::sha256(leaf))))
}

/// Sends the outcome of a hello and lets the peer read it before the connection goes.
pub(super) async fn reply(
    conn: &quinn::Connection,
    send: &mut FramedSend,
    outcome: HelloOutcome,
) -> Result<(), ConnectionError> {
    let refused = match &outcome {
        HelloOutcome::Refused(reason) => Some(reason.clone()),
        _ => None,
    };
    send.send(&HelloReply {
        proto_version: PROTOCOL_VERSION,
        outcome,
    })
    .await?;
    send.finish();
    // The peer closes once it has read the reply; if it does not, close after a grace period.
    let _ = tokio::time::timeout(REFUSAL_GRACE, conn.closed()).await;
    conn.close(0u32.into(), b"done");
    match refused {
        Some(reason) => Err(ConnectionError::Refused(reason)),
        None => Ok(()),
    }
}

async fn refuse(
    conn: &quinn::Connection,
    send: &mut FramedSend,
    reason: String,
    kind: &'static str,
) -> Result<(), ConnectionError> {
    metrics::counter!("drover_connections_refused_total", "reason" => kind).increment(1);
    tracing::warn!(%reason, "refusing connection");
    reply(conn, send, HelloOutcome::Refused(reason)).await
}

/// The peer's certificate chain, if it presented one (rustls has verified it already).
fn certificate_chain(conn: &quinn::Connection) -> Option<Vec<CertificateDer<'static>>> {
    conn.peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()
        .map(|b| *b)
}
