//! Deployments: which model versions are served where. The desired state is in the store;
//! every connected agent gets the deployments its labels select whenever they change, when
//! it connects and when its labels change, and reports what it actually serves. An agent
//! may fetch only the artifacts of what it was told to serve.

use drover_protocol::msg::{AgentCommand, ApiError, Event};
use drover_protocol::registry::ModelRef;
use drover_protocol::serve::{Deployment, DeploymentStatus, Variant, selects};
use drover_protocol::types::{Labels, format_labels, unix_ms};

use crate::registry;
use crate::state::Shared;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Serves `model` (one version, all traffic) on the agents `selector` picks, replacing the
/// model's previous deployment.
pub fn deploy(
    shared: &Shared,
    model: &ModelRef,
    selector: Labels,
) -> Result<DeploymentStatus, ApiError> {
    let version = registry::find(shared, model)?;
    let artifact_hash = drover_protocol::hash::ContentHash::parse(&version.artifact_hash)
        .map_err(|e| internal(format!("{}@{}: {e}", version.model, version.version)))?;
    let deployment = Deployment {
        model: version.model.clone(),
        variants: vec![Variant {
            version: version.version,
            artifact_hash,
            weight: 100,
            shadow: false,
        }],
        selector,
        updated_ms: unix_ms(),
    };
    shared
        .store
        .sync()
        .put_deployment(&deployment)
        .map_err(internal)?;
    shared.events.publish(Event::Deployed {
        model: deployment.model.clone(),
        version: version.version,
        selector: format_labels(&deployment.selector),
    });
    push(shared);
    status(shared, &deployment.model)
}

/// Stops serving `model` everywhere.
pub fn undeploy(shared: &Shared, model: &str) -> Result<String, ApiError> {
    if !shared
        .store
        .sync()
        .remove_deployment(model)
        .map_err(internal)?
    {
        return Err(ApiError::not_found(format!("{model} is not deployed")));
    }
    shared.events.publish(Event::Undeployed {
        model: model.into(),
    });
    push(shared);
    Ok(model.into())
}

/// Every deployment with what each agent it picks reports.
pub fn list(shared: &Shared) -> Result<Vec<DeploymentStatus>, ApiError> {
    let deployments = shared.store.sync().deployments().map_err(internal)?;
    let servers = shared.fleet.servers();
    Ok(deployments
        .into_iter()
        .map(|deployment| {
            let agents = servers
                .iter()
                .filter(|s| selects(&deployment.selector, &s.labels))
                .map(|server| {
                    let mine = server
                        .serving
                        .iter()
                        .filter(|s| s.model == deployment.model)
                        .cloned()
                        .collect();
                    (server.id.clone(), mine)
                })
                .collect();
            DeploymentStatus { deployment, agents }
        })
        .collect())
}

fn status(shared: &Shared, model: &str) -> Result<DeploymentStatus, ApiError> {
    list(shared)?
        .into_iter()
        .find(|d| d.deployment.model == model)
        .ok_or_else(|| ApiError::not_found(format!("{model} is not deployed")))
}

/// The deployments an agent labelled `labels` serves.
pub fn plan_for(shared: &Shared, labels: &Labels) -> Vec<Deployment> {
    match shared.store.sync().deployments() {
        Ok(all) => all
            .into_iter()
            .filter(|d| selects(&d.selector, labels))
            .collect(),
        Err(e) => {
            tracing::error!(cause = %e, "could not read deployments");
            Vec::new()
        }
    }
}

/// Sends every connected agent the deployments its labels select (on the blocking pool).
pub fn push(shared: &Shared) {
    for server in shared.fleet.servers() {
        let Some(commands) = server.commands else {
            continue;
        };
        let plan = plan_for(shared, &server.labels);
        if commands.blocking_send(AgentCommand::Serve(plan)).is_err() {
            tracing::debug!(agent = %server.id, "session ended before its deployments were sent");
        }
    }
}
