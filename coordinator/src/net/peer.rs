//! What every QUIC session handler shares: who the peer is (from its verified certificate),
//! how a hello is answered or refused, and why a connection ended.

use std::time::Duration;

use drover_protocol::PROTOCOL_VERSION;
use drover_protocol::conn::{ConnError, FramedSend};
use drover_protocol::msg::{HelloOutcome, HelloReply};
use drover_protocol::pki::{self, Identity};
use rustls::pki_types::CertificateDer;

/// How long a refused peer gets to read the reason before the connection is closed.
const REFUSAL_GRACE: Duration = Duration::from_secs(2);

/// How long a QUIC handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection was dropped.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("handshake failed: {0}")]
    Handshake(#[from] quinn::ConnectionError),
    #[error("handshake not finished within {HANDSHAKE_TIMEOUT:?}")]
    HandshakeTimeout,
    #[error("the coordinator serves its most connections")]
    Capacity,
    #[error(transparent)]
    Stream(#[from] ConnError),
    #[error("no hello within {0:?}")]
    HelloTimeout(Duration),
    #[error("refused: {0}")]
    Refused(String),
}

/// The identity in the peer's verified certificate: `Ok(None)` when it sent none.
pub fn peer_identity(conn: &quinn::Connection) -> Result<Option<Identity>, String> {
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
pub async fn reply(
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

pub async fn refuse(
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
