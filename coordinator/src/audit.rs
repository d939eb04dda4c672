//! Who changed what: every operator request that changes state and succeeds becomes an
//! [`Event::OperatorAction`] naming the operator (the common name of their certificate) and
//! what was done, with the ids the coordinator resolved (a full run id, not the prefix typed).

use drover_protocol::msg::{Event, OperatorRequest, OperatorResponse};

use crate::state::Shared;

/// Whether `request` changes state, so that its success is recorded.
pub fn changes_state(request: &OperatorRequest) -> bool {
    matches!(
        request,
        OperatorRequest::RemoveAgent { .. }
            | OperatorRequest::CreateToken { .. }
            | OperatorRequest::CreateLabelledToken { .. }
            | OperatorRequest::LabelAgent { .. }
            | OperatorRequest::AddDataset(_)
            | OperatorRequest::SubmitRun(_)
            | OperatorRequest::CancelRun { .. }
            | OperatorRequest::PromoteModel { .. }
            | OperatorRequest::ForcePromoteModel { .. }
            | OperatorRequest::SetAlias { .. }
            | OperatorRequest::RemoveAlias { .. }
            | OperatorRequest::RemoveSchedule { .. }
            | OperatorRequest::Deploy { .. }
            | OperatorRequest::Undeploy { .. }
            | OperatorRequest::StartRollout { .. }
            | OperatorRequest::RolloutCommand { .. }
    )
}

/// What `request` did, as its answer `response` tells; `None` when it changed nothing.
pub fn action(request: &OperatorRequest, response: &OperatorResponse) -> Option<String> {
    Some(match (request, response) {
        (_, OperatorResponse::Error(_)) => return None,
        (_, OperatorResponse::AgentRemoved(id)) => format!("remove agent {id}"),
        (OperatorRequest::LabelAgent { set, remove, .. }, OperatorResponse::AgentLabelled(a)) => {
            format!(
                "label agent {}: set {} remove {}",
                a.id,
                drover_protocol::types::format_labels(set),
                remove.join(",")
            )
        }
        (_, OperatorResponse::Token(t)) => {
            format!("create join token {} ({} uses)", t.token_id, t.uses)
        }
        (_, OperatorResponse::DatasetAdded(added)) if !added.unchanged => format!(
            "add dataset {}@{} from {}",
            added.version.name, added.version.version, added.version.source
        ),
        (_, OperatorResponse::RunQueued(run)) => format!(
            "queue run {} ({} on {})",
            run.id, run.algorithm, run.dataset
        ),
        (_, OperatorResponse::RunCancelled(id)) => format!("cancel run {id}"),
        (OperatorRequest::PromoteModel { stage, .. }, OperatorResponse::Model(v)) => {
            format!("promote {}@{} to {stage}", v.model, v.version)
        }
        (OperatorRequest::ForcePromoteModel { stage, .. }, OperatorResponse::Model(v)) => {
            format!("promote {}@{} to {stage} (forced)", v.model, v.version)
        }
        (OperatorRequest::SetAlias { alias, .. }, OperatorResponse::Model(v)) => {
            format!("point alias {alias} at {}@{}", v.model, v.version)
        }
        (OperatorRequest::RemoveAlias { alias, .. }, OperatorResponse::Model(v)) => {
            format!("take alias {alias} off {}@{}", v.model, v.version)
        }
        (_, OperatorResponse::ScheduleRemoved(id)) => format!("remove schedule {id}"),
        (OperatorRequest::Deploy { selector, .. }, OperatorResponse::Deployment(d)) => {
            let versions: Vec<String> = d
                .deployment
                .variants
                .iter()
                .map(|v| format!("{}@{}", d.deployment.model, v.version))
                .collect();
            format!(
                "deploy {} on agents labelled {}",
                versions.join(", "),
                drover_protocol::types::format_labels(selector)
            )
        }
        (_, OperatorResponse::Undeployed(model)) => format!("undeploy {model}"),
        (OperatorRequest::StartRollout { .. }, OperatorResponse::Rollout(s)) => format!(
            "start rollout {} ({}) of {}@{}",
            s.rollout.id, s.rollout.spec.strategy, s.rollout.model, s.rollout.candidate
        ),
        (OperatorRequest::RolloutCommand { command, .. }, OperatorResponse::Rollout(s)) => {
            format!("{command} rollout {} of {}", s.rollout.id, s.rollout.model)
        }
        _ => return None,
    })
}

/// Records that `operator` made `request`, answered `response`, if it changed anything.
pub fn record(
    shared: &Shared,
    operator: &str,
    request: &OperatorRequest,
    response: &OperatorResponse,
) {
    if let Some(action) = action(request, response) {
        shared.events.publish(Event::OperatorAction {
            operator: operator.into(),
            action,
        });
    }
}
