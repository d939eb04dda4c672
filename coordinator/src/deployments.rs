//! Deployments: which model versions are served where. The desired state is in the store;
//! every connected agent gets the deployments its labels select whenever they change, when
//! it connects and when its labels change, and reports what it actually serves. An agent
//! may fetch only the artifacts of what it was told to serve.

use drover_protocol::msg::{AgentCommand, ApiError, Event};
use drover_protocol::registry::ModelRef;
use drover_protocol::serve::{
    Deployment, DeploymentStatus, LATENCY_BUCKETS_US, Rate, ServingWindow, ShadowWindow, Variant,
    selects,
};
use drover_protocol::types::{AgentId, Labels, format_labels, unix_ms};

/// Most classes a serving window may count.
const MAX_CLASSES: usize = 10_000;

use crate::quota::total;
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
    crate::servable::check(shared, &version)?;
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

/// Puts `variants` on `model`'s deployment (its selector kept) and sends it to the agents,
/// unless the deployment already has exactly them.
pub fn set_variants(shared: &Shared, model: &str, variants: Vec<Variant>) -> Result<(), ApiError> {
    let mut deployment = all(shared)
        .into_iter()
        .find(|d| d.model == model)
        .ok_or_else(|| ApiError::not_found(format!("{model} is no longer deployed")))?;
    if deployment.variants == variants {
        return Ok(());
    }
    deployment.variants = variants;
    deployment.updated_ms = unix_ms();
    shared
        .store
        .sync()
        .put_deployment(&deployment)
        .map_err(internal)?;
    push(shared);
    Ok(())
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
            let rates = servers
                .iter()
                .filter(|s| selects(&deployment.selector, &s.labels))
                .flat_map(|server| {
                    server
                        .windows
                        .iter()
                        .filter(|w| w.model == deployment.model)
                        .map(|w| Rate::of(&server.id, w))
                        .collect::<Vec<_>>()
                })
                .collect();
            DeploymentStatus {
                deployment,
                agents,
                rates,
            }
        })
        .collect())
}

fn status(shared: &Shared, model: &str) -> Result<DeploymentStatus, ApiError> {
    list(shared)?
        .into_iter()
        .find(|d| d.deployment.model == model)
        .ok_or_else(|| ApiError::not_found(format!("{model} is not deployed")))
}

/// Every deployment in the store (none, logged, when it cannot be read).
fn all(shared: &Shared) -> Vec<Deployment> {
    shared.store.sync().deployments().unwrap_or_else(|e| {
        tracing::error!(cause = %e, "could not read deployments");
        Vec::new()
    })
}

/// Those of `deployments` an agent labelled `labels` serves.
fn selected(deployments: &[Deployment], labels: &Labels) -> Vec<Deployment> {
    deployments
        .iter()
        .filter(|d| selects(&d.selector, labels))
        .cloned()
        .collect()
}

/// The deployments an agent labelled `labels` serves.
pub fn plan_for(shared: &Shared, labels: &Labels) -> Vec<Deployment> {
    selected(&all(shared), labels)
}

/// Sends every connected agent the deployments its labels select (on the blocking pool).
pub fn push(shared: &Shared) {
    let deployments = all(shared);
    for server in shared.fleet.servers() {
        let Some(commands) = server.commands else {
            continue;
        };
        let plan = selected(&deployments, &server.labels);
        if commands.blocking_send(AgentCommand::Serve(plan)).is_err() {
            tracing::debug!(agent = %server.id, "session ended before its deployments were sent");
        }
    }
}

/// Whether `plan` holds `model@version` (as a shadow, with `shadow`).
pub fn holds(plan: &[Deployment], model: &str, version: u32, shadow: bool) -> bool {
    plan.iter().any(|d| {
        d.model == model
            && d.variants
                .iter()
                .any(|v| v.version == version && (v.shadow || !shadow))
    })
}

/// Stores the shadow windows `agent` (labelled `labels`) reported, keeping only those of
/// versions deployed to it as shadows and of a sane shape: an agent is untrusted.
pub fn record_shadow_windows(
    shared: &Shared,
    agent: &AgentId,
    labels: &Labels,
    windows: Vec<ShadowWindow>,
) {
    let plan = plan_for(shared, labels);
    let kept: Vec<ShadowWindow> = windows
        .into_iter()
        .filter(|w| {
            holds(&plan, &w.model, w.version, true)
                && w.differing.saturating_add(w.failed) <= w.rows
                && w.start_ms <= w.end_ms
                && shared.reports.predictable(w.rows, w.start_ms, w.end_ms)
        })
        .collect();
    for w in &kept {
        let labels = [
            ("model", w.model.clone()),
            ("version", w.version.to_string()),
        ];
        metrics::counter!("drover_serving_shadow_rows_total", &labels).increment(w.rows);
        metrics::counter!("drover_serving_shadow_differing_total", &labels).increment(w.differing);
        metrics::counter!("drover_serving_shadow_failed_total", &labels).increment(w.failed);
    }
    match shared
        .store
        .sync()
        .insert_shadow_windows(agent, &kept, unix_ms())
    {
        Ok(()) => shared.windows_arrived.notify_one(),
        Err(e) => tracing::error!(cause = %e, %agent, "could not store shadow windows"),
    }
}

/// Stores the serving windows `agent` (labelled `labels`) reported, keeping only windows of
/// versions deployed to it (by its granted labels), of a sane shape, and within what one
/// agent could have served (the configured [`crate::quota::ReportLimits`]): an agent is
/// untrusted.
pub fn record_windows(
    shared: &Shared,
    agent: &AgentId,
    labels: &Labels,
    windows: Vec<ServingWindow>,
) -> Vec<ServingWindow> {
    let plan = plan_for(shared, labels);
    let limits = shared.reports;
    let kept: Vec<ServingWindow> = windows
        .into_iter()
        .filter(|w| {
            holds(&plan, &w.model, w.version, false)
                && w.latency.len() == LATENCY_BUCKETS_US.len() + 1
                && w.classes.len() <= MAX_CLASSES
                && w.errors <= w.requests
                && w.correct <= w.feedback
                && w.start_ms <= w.end_ms
                && total(w.latency.iter().copied()) == Some(w.requests)
                && limits.servable(w.requests, w.start_ms, w.end_ms)
                && limits.servable(w.feedback, w.start_ms, w.end_ms)
                && total(w.classes.iter().copied())
                    .is_some_and(|rows| limits.predictable(rows, w.start_ms, w.end_ms))
        })
        .collect();
    for w in &kept {
        let labels = [
            ("model", w.model.clone()),
            ("version", w.version.to_string()),
        ];
        metrics::counter!("drover_serving_requests_total", &labels).increment(w.requests);
        metrics::counter!("drover_serving_errors_total", &labels).increment(w.errors);
        metrics::counter!("drover_serving_feedback_total", &labels).increment(w.feedback);
        metrics::counter!("drover_serving_feedback_correct_total", &labels).increment(w.correct);
        for (class, rows) in w.classes.iter().enumerate() {
            let labels = [
                ("model", w.model.clone()),
                ("version", w.version.to_string()),
                ("class", class.to_string()),
            ];
            metrics::counter!("drover_serving_predicted_rows_total", &labels).increment(*rows);
        }
        let labels = [
            ("model", w.model.clone()),
            ("version", w.version.to_string()),
            ("agent", agent.to_string()),
        ];
        drover_protocol::telemetry::window_latency("drover_serving", w, &labels);
    }
    match shared.store.sync().insert_windows(agent, &kept, unix_ms()) {
        Ok(()) => shared.windows_arrived.notify_one(),
        Err(e) => tracing::error!(cause = %e, %agent, "could not store serving windows"),
    }
    kept
}
