//! Enrollment: a join token's secret and a certificate request in, a signed agent certificate
//! out. The token use and the agent record are written in one transaction, after signing, so
//! a refused or failed enrollment stores nothing.

use std::net::SocketAddr;

use drover_protocol::msg::{EnrollRequest, Enrolled, Event, HelloOutcome};
use drover_protocol::pki::{self, Role};
use drover_protocol::types::{AgentId, Labels, unix_ms};
use rand::RngCore;

use crate::state::Shared;
use crate::store::AgentRecord;

/// Redeems the token in `request` and signs the agent's certificate. `labels` asked for at
/// join are fixed at enrollment, unless the token carries labels of its own, which win.
pub async fn enroll(
    shared: &Shared,
    request: EnrollRequest,
    labels: Option<Labels>,
    remote: SocketAddr,
) -> HelloOutcome {
    if let Err(e) = drover_protocol::types::check_hostname(&request.hostname) {
        return HelloOutcome::Refused(e);
    }
    if let Some(Err(e)) = labels.as_ref().map(drover_protocol::types::check_labels) {
        return HelloOutcome::Refused(format!("labels: {e}"));
    }
    let mut raw = [0u8; 6];
    rand::thread_rng().fill_bytes(&mut raw);
    let id = AgentId(format!("ag-{}", pki::hex(&raw)));
    let cert_pem = match pki::sign_request(&shared.pki.ca, &request.csr_pem, Role::Agent, &id.0) {
        Ok(pem) => pem,
        Err(e) => return HelloOutcome::Refused(format!("invalid certificate request: {e}")),
    };
    let cert_sha256 = match pki::cert_der(&cert_pem) {
        Ok(der) => pki::hex(&pki::sha256(&der)),
        Err(e) => return HelloOutcome::Refused(format!("internal error: {e}")),
    };
    let record = AgentRecord {
        id: id.clone(),
        hostname: request.hostname.clone(),
        labels_fixed: labels.is_some(),
        labels: labels.unwrap_or_default(),
        version: String::new(),
        address: remote.to_string(),
        cert_sha256,
        capacity: None,
        enrolled_ms: unix_ms(),
        last_seen_ms: None,
        claimed: Labels::new(),
    };
    let secret_sha256 = pki::hex(&pki::sha256(request.secret.as_bytes()));
    let (token_id, stored) = (request.token_id.clone(), record.clone());
    let enrolled = shared
        .store
        .call(move |store| store.enroll(&token_id, &secret_sha256, unix_ms(), &stored))
        .await;
    match enrolled {
        Ok(Ok(record)) => {
            shared.fleet.enrolled(record);
            shared.events.publish(Event::AgentJoined {
                id: id.clone(),
                hostname: request.hostname,
            });
            HelloOutcome::Enrolled(Enrolled {
                agent_id: id,
                cert_pem,
                ca_pem: shared.pki.ca.cert_pem.clone(),
            })
        }
        Ok(Err(refused)) => {
            metrics::counter!("drover_connections_refused_total", "reason" => "token").increment(1);
            HelloOutcome::Refused(refused.to_string())
        }
        Err(e) => {
            tracing::error!(cause = %e, "enrollment could not be stored");
            HelloOutcome::Refused("internal error while enrolling; try again".into())
        }
    }
}
