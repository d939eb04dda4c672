//! Labels are granted, not claimed. The labels that select work (deployments, training)
//! come from the join token, else from the agent's first hello after enrollment (what its
//! `--labels` or config gave it), and after that only from an operator's
//! `drover agents label`. What a hello or a config reload claims beyond the grant
//! is ignored, logged and shown to operators, as Kubernetes' NodeRestriction keeps kubelets
//! from claiming node labels. A claim is settled against the grant by
//! [`crate::fleet::settle_labels`].

use std::sync::Arc;

use drover_protocol::msg::{ApiError, ApiErrorKind, OperatorResponse};
use drover_protocol::types::{AgentId, Labels, check_labels};

use crate::state::Shared;

/// An operator grants agent `id` the labels `set` and takes `remove` away; a connected agent
/// is sent the deployments its new labels select.
pub async fn label_agent(
    shared: &Arc<Shared>,
    id: AgentId,
    set: Labels,
    remove: Vec<String>,
) -> OperatorResponse {
    if let Err(e) = check_labels(&set) {
        return OperatorResponse::Error(ApiError::invalid(e));
    }
    let target = id.clone();
    let granted = shared
        .store
        .call(move |store| store.grant_labels(&target, &set, &remove))
        .await;
    match granted {
        Ok(Some(record)) => match shared.fleet.relabel(&record) {
            Some(info) => {
                super::agent_session::send_plan(shared, &id).await;
                OperatorResponse::AgentLabelled(Box::new(info))
            }
            None => not_found(&id),
        },
        Ok(None) => not_found(&id),
        Err(e) => {
            tracing::error!(cause = %e, agent = %id, "could not store granted labels");
            OperatorResponse::Error(ApiError {
                kind: ApiErrorKind::Internal,
                message: e.to_string(),
            })
        }
    }
}

fn not_found(id: &AgentId) -> OperatorResponse {
    OperatorResponse::Error(ApiError {
        kind: ApiErrorKind::NotFound,
        message: format!("no agent {id}"),
    })
}
