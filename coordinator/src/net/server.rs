//! The QUIC listener: accepts connections, reads who the peer is from its certificate and its
//! `Hello`, and hands the connection to the enrollment, agent or operator handler. An error on
//! one connection ends that connection only. Handshakes are admitted by [`crate::net::admission`]
//! and must finish within [`HANDSHAKE_TIMEOUT`]; failed ones are summarised in one log line
//! per interval, since anyone can cause them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use drover_protocol::conn::{ConnError, accept_bi};
use drover_protocol::msg::{Hello, Intent};
use drover_protocol::pki::Role;
use drover_protocol::{MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::peer::{ConnectionError, HANDSHAKE_TIMEOUT, peer_identity, refuse, reply};
use super::{agent_session, enroll, operator_session};
use crate::net::admission::{Admission, Admit, Handshaking};
use crate::state::Shared;
use crate::throttle::Throttle;

/// How often failed handshakes are summarised in the log.
const HANDSHAKE_LOG_EVERY: Duration = Duration::from_secs(10);

/// How long a new connection may take to send its `Hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` fires: at most `max_connections` established at a
/// time, and handshakes as [`Admission`] allows.
pub async fn serve(
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    max_connections: usize,
    shutdown: CancellationToken,
) {
    let established = Arc::new(AtomicUsize::new(0));
    let admission = Arc::new(Admission::default());
    let failed = Arc::new(Throttle::new(HANDSHAKE_LOG_EVERY));
    loop {
        let incoming = tokio::select! {
            _ = shutdown.cancelled() => break,
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
        };
        let remote = incoming.remote_address();
        match admission.decide(remote.ip(), incoming.remote_address_validated()) {
            Admit::Handshake => {}
            Admit::Retry => {
                metrics::counter!("drover_handshakes_retried_total").increment(1);
                if let Err(e) = incoming.retry() {
                    e.into_incoming().refuse();
                }
                continue;
            }
            Admit::Refuse => {
                metrics::counter!("drover_connections_refused_total", "reason" => "handshakes")
                    .increment(1);
                incoming.refuse();
                continue;
            }
        }
        let handshaking = admission.start(remote.ip());
        let (shared, established, failed, shutdown) = (
            shared.clone(),
            established.clone(),
            failed.clone(),
            shutdown.clone(),
        );
        tokio::spawn(
            async move {
                let limit = Limit {
                    established: &established,
                    max: max_connections,
                };
                match handle(incoming, handshaking, limit, shared, shutdown).await {
                    Err(ConnectionError::Handshake(_) | ConnectionError::HandshakeTimeout) => {
                        if let Some(suppressed) = failed.allow() {
                            tracing::info!(
                                earlier = suppressed,
                                "a QUIC handshake failed or timed out (and this many others since the last such line)"
                            );
                        }
                    }
                    Err(e) => tracing::info!(cause = %e, "connection ended"),
                    Ok(()) => {}
                }
            }
            .instrument(tracing::info_span!("conn", %remote)),
        );
    }
    endpoint.close(0u32.into(), b"coordinator shutting down");
}

/// Established connections and their most.
struct Limit<'a> {
    established: &'a AtomicUsize,
    max: usize,
}

/// Counts one established connection until dropped.
struct Established<'a>(&'a AtomicUsize);

impl Drop for Established<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn handle(
    incoming: quinn::Incoming,
    handshaking: Handshaking,
    limit: Limit<'_>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> Result<(), ConnectionError> {
    let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await {
        Ok(Ok(conn)) => conn,
        outcome => {
            metrics::counter!("drover_connections_refused_total", "reason" => "handshake")
                .increment(1);
            return Err(match outcome {
                Ok(Err(e)) => ConnectionError::Handshake(e),
                _ => ConnectionError::HandshakeTimeout,
            });
        }
    };
    drop(handshaking);
    if limit.established.fetch_add(1, Ordering::Relaxed) >= limit.max {
        limit.established.fetch_sub(1, Ordering::Relaxed);
        metrics::counter!("drover_connections_refused_total", "reason" => "capacity").increment(1);
        conn.close(3u32.into(), b"the coordinator serves its most connections");
        return Err(ConnectionError::Capacity);
    }
    let _established = Established(limit.established);
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
        proto_version,
    } = hello;
    match (identity, intent) {
        (Err(reason), _) => refuse(&conn, &mut send, reason, "certificate").await,
        (Ok(None), Intent::Enroll(request)) => {
            let outcome = enroll::enroll(&shared, request, None, conn.remote_address()).await;
            reply(&conn, &mut send, outcome).await
        }
        (Ok(None), Intent::EnrollLabelled { request, labels }) => {
            let outcome =
                enroll::enroll(&shared, request, Some(labels), conn.remote_address()).await;
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
                proto_version,
            };
            agent_session::run(shared, conn, arrival, send, recv, shutdown).await
        }
        (Ok(Some(id)), Intent::Operator) if id.role == Role::Operator => {
            operator_session::run(shared, id.name, conn, send, shutdown).await
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
