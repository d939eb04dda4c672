//! `drover-agent join`: redeem a join token for a signed certificate. The coordinator is
//! trusted only if its CA matches the fingerprint in the token; nothing is written to the
//! state dir unless enrollment succeeds.

use std::path::Path;

use drover_protocol::conn::{ConnError, open_bi};
use drover_protocol::dial::{self, DialError};
use drover_protocol::msg::{EnrollRequest, Hello, HelloOutcome, HelloReply, Intent};
use drover_protocol::pki::{self, CertifiedKeyPem, PkiError};
use drover_protocol::tls::{self, PIN_MISMATCH, TlsError};
use drover_protocol::token::{JoinToken, TokenError};
use drover_protocol::types::{AgentId, Labels};
use drover_protocol::{DROVER_VERSION, PROTOCOL_VERSION};

use crate::state::AgentState;

/// Why joining failed; each says what to do in one line.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("this state dir already belongs to agent {0}; remove it to join again")]
    AlreadyJoined(AgentId),
    #[error("{PIN_MISMATCH}: refusing to enroll with it")]
    PinMismatch,
    #[error(transparent)]
    Dial(DialError),
    #[error("the coordinator refused to enroll this agent: {0}")]
    Refused(String),
    #[error("enrollment failed: {0}")]
    Stream(#[from] ConnError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("the coordinator answered an enrollment with something else")]
    Unexpected,
    #[error("cannot read or write the state dir: {0}")]
    State(String),
}

/// Joins the coordinator named in `token` (or at `address`, when given) and stores the new
/// identity in `state_dir`.
pub async fn join(
    token: &str,
    state_dir: &Path,
    address: Option<&str>,
    hostname: &str,
) -> Result<AgentState, JoinError> {
    join_labelled(token, state_dir, address, hostname, &Labels::new()).await
}

/// As [`join`], asking for `labels` (when not empty): the coordinator fixes them at
/// enrollment unless the token carries labels of its own. They are kept in the state dir as
/// the labels `drover-agent run` claims when none are configured.
pub async fn join_labelled(
    token: &str,
    state_dir: &Path,
    address: Option<&str>,
    hostname: &str,
    labels: &Labels,
) -> Result<AgentState, JoinError> {
    let token = JoinToken::decode(token)?;
    if let Some(existing) =
        AgentState::load(state_dir).map_err(|e| JoinError::State(e.to_string()))?
    {
        return Err(JoinError::AlreadyJoined(existing.agent_id));
    }
    let coordinator = address.unwrap_or(&token.address).to_string();
    let addr = dial::resolve(&coordinator).await.map_err(JoinError::Dial)?;
    let (csr_pem, key_pem) = pki::new_request(hostname)?;
    let endpoint = dial::endpoint_for(addr).map_err(JoinError::Dial)?;
    let outcome = exchange(&endpoint, &token, addr, csr_pem, hostname, labels).await;
    endpoint.close(0u32.into(), b"enrollment done");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), endpoint.wait_idle()).await;
    let enrolled = match outcome? {
        HelloOutcome::Enrolled(enrolled) => enrolled,
        HelloOutcome::Refused(reason) => return Err(JoinError::Refused(reason)),
        HelloOutcome::Welcome(_) => return Err(JoinError::Unexpected),
    };
    if pki::sha256(&pki::cert_der(&enrolled.ca_pem)?) != token.ca_sha256 {
        return Err(JoinError::PinMismatch);
    }
    let state = AgentState {
        agent_id: enrolled.agent_id,
        coordinator,
        ca_pem: enrolled.ca_pem,
        identity: CertifiedKeyPem {
            cert_pem: enrolled.cert_pem,
            key_pem,
        },
        labels: (!labels.is_empty()).then(|| labels.clone()),
    };
    state
        .save(state_dir)
        .map_err(|e| JoinError::State(e.to_string()))?;
    Ok(state)
}

async fn exchange(
    endpoint: &quinn::Endpoint,
    token: &JoinToken,
    addr: std::net::SocketAddr,
    csr_pem: String,
    hostname: &str,
    labels: &Labels,
) -> Result<HelloOutcome, JoinError> {
    let config = tls::pinned_client_config(token.ca_sha256)?;
    let conn = dial::connect(endpoint, config, addr)
        .await
        .map_err(|e| match e {
            DialError::Connect { reason, .. } if reason.contains(PIN_MISMATCH) => {
                JoinError::PinMismatch
            }
            other => JoinError::Dial(other),
        })?;
    let (mut send, mut recv) = open_bi(&conn).await?;
    let request = EnrollRequest {
        token_id: token.token_id.clone(),
        secret: token.secret.clone(),
        csr_pem,
        hostname: hostname.to_string(),
    };
    let hello = Hello {
        proto_version: PROTOCOL_VERSION,
        drover_version: DROVER_VERSION.into(),
        intent: match labels.is_empty() {
            true => Intent::Enroll(request),
            false => Intent::EnrollLabelled {
                request,
                labels: labels.clone(),
            },
        },
    };
    send.send(&hello).await?;
    let reply: HelloReply = recv.expect_versioned().await?;
    conn.close(0u32.into(), b"enrolled");
    Ok(reply.outcome)
}
