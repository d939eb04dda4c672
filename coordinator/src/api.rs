//! The operator API: one request in, one response out. The QUIC server and the in-process
//! console handle both call [`handle`], so scripts and the console see the same behaviour.

use std::sync::Arc;
use std::time::Duration;

use drover_protocol::msg::{
    AgentCommand, ApiError, ApiErrorKind, CoordinatorStatus, Event, IssuedToken, OperatorRequest,
    OperatorResponse,
};
use drover_protocol::pki;
use drover_protocol::token::JoinToken;
use drover_protocol::types::{AgentId, Labels, check_labels, unix_ms};

use crate::rollout::controller;
use crate::state::Shared;
use crate::store::{IdMatch, NewToken, StoreError};
use crate::training::{runs, schedules};
use crate::{audit, datasets, deployments, history, registry};

/// Longest a join token may live.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most runs one listing returns.
pub const MAX_RUNS: u32 = 1000;
/// Most events one listing returns.
pub const MAX_EVENTS: u32 = 10_000;
/// Most rollouts one listing returns.
pub const MAX_ROLLOUTS: u32 = 1000;

fn rollout_answer(
    answer: Result<drover_protocol::rollout::RolloutStatus, ApiError>,
) -> OperatorResponse {
    match answer {
        Ok(status) => OperatorResponse::Rollout(Box::new(status)),
        Err(e) => OperatorResponse::Error(e),
    }
}

fn error(kind: ApiErrorKind, message: impl Into<String>) -> OperatorResponse {
    OperatorResponse::Error(ApiError {
        kind,
        message: message.into(),
    })
}

fn internal(e: impl std::fmt::Display) -> OperatorResponse {
    tracing::error!(cause = %e, "operator request failed");
    error(ApiErrorKind::Internal, format!("internal error: {e}"))
}

/// Answers one operator request made by `operator` (the common name of their certificate);
/// one that changes state is recorded with their name ([`audit`]). `Subscribe` is a stream,
/// not a request: callers handle it. Store work runs on the blocking pool
/// ([`Shared::blocking`], [`crate::store::Db::call`]).
pub async fn handle(
    shared: &Arc<Shared>,
    operator: &str,
    request: OperatorRequest,
) -> OperatorResponse {
    let kept = audit::changes_state(&request).then(|| request.clone());
    let response = answer(shared, request).await;
    if let Some(request) = kept {
        audit::record(shared, operator, &request, &response);
    }
    response
}

async fn answer(shared: &Arc<Shared>, request: OperatorRequest) -> OperatorResponse {
    match request {
        OperatorRequest::Status => status(shared),
        OperatorRequest::ListAgents => OperatorResponse::Agents(shared.fleet.list()),
        OperatorRequest::ClockSkews => OperatorResponse::ClockSkews(shared.fleet.clock_skews()),
        OperatorRequest::RemoveAgent { id } => match agent_id(shared, id).await {
            Ok(id) => remove_agent(shared, id).await,
            Err(answer) => answer,
        },
        OperatorRequest::CreateToken { ttl_secs, uses } => {
            shared
                .blocking(move |shared| create_token(shared, ttl_secs, uses, None))
                .await
        }
        OperatorRequest::CreateLabelledToken {
            ttl_secs,
            uses,
            labels,
        } => {
            shared
                .blocking(move |shared| create_token(shared, ttl_secs, uses, Some(labels)))
                .await
        }
        OperatorRequest::LabelAgent { id, set, remove } => match agent_id(shared, id).await {
            Ok(id) => crate::net::labels::label_agent(shared, id, set, remove).await,
            Err(answer) => answer,
        },
        OperatorRequest::AddDataset(_) => error(
            ApiErrorKind::Invalid,
            "a dataset upload carries its bytes on its own stream",
        ),
        OperatorRequest::CancelRun { id } => {
            let typed = id.clone();
            let matched = shared
                .store
                .call(move |store| store.match_run_id(&typed))
                .await;
            let id = match whole_id("run", matched, &id) {
                Ok(id) => id,
                Err(answer) => return answer,
            };
            match runs::cancel(shared, &id).await {
                Ok(id) => OperatorResponse::RunCancelled(id),
                Err(e) => OperatorResponse::Error(e),
            }
        }
        OperatorRequest::Subscribe => error(
            ApiErrorKind::Invalid,
            "subscribe opens an event stream; it has no single answer",
        ),
        request => shared.blocking(move |shared| stored(shared, request)).await,
    }
}

/// The requests answered from the store alone (run on the blocking pool).
fn stored(shared: &Shared, request: OperatorRequest) -> OperatorResponse {
    let store = shared.store.sync();
    match request {
        OperatorRequest::ListEvents { limit } => match store.recent_events(limit.min(MAX_EVENTS)) {
            Ok(events) => OperatorResponse::Events(events),
            Err(e) => internal(e),
        },
        OperatorRequest::ListDatasets => match store.datasets() {
            Ok(list) => OperatorResponse::Datasets(list),
            Err(e) => internal(e),
        },
        OperatorRequest::ShowDataset(reference) => match datasets::find(shared, &reference) {
            Ok(version) => OperatorResponse::Dataset(Box::new(version)),
            Err(e) => OperatorResponse::Error(e),
        },
        OperatorRequest::SubmitRun(spec) => match schedules::submit_spec(shared, *spec) {
            Ok(summary) => OperatorResponse::RunQueued(Box::new(summary)),
            Err(e) => OperatorResponse::Error(e),
        },
        OperatorRequest::ListRuns(filter) => match store.runs(&filter, MAX_RUNS) {
            Ok(list) => OperatorResponse::Runs(list),
            Err(e) => internal(e),
        },
        OperatorRequest::QueryRuns(query) => match store.run_page(&query, MAX_RUNS) {
            Ok(page) => OperatorResponse::RunPage(Box::new(page)),
            Err(e) => internal(e),
        },
        OperatorRequest::ShowRun { id } => {
            let id = match whole_id("run", store.match_run_id(&id), &id) {
                Ok(id) => id,
                Err(answer) => return answer,
            };
            match store.run(&id) {
                Ok(Some(run)) => OperatorResponse::Run(Box::new(run)),
                Ok(None) => error(ApiErrorKind::NotFound, format!("no run {id}")),
                Err(e) => internal(e),
            }
        }
        OperatorRequest::ListModels => match store.models() {
            Ok(list) => OperatorResponse::Models(list),
            Err(e) => internal(e),
        },
        OperatorRequest::ShowModel(reference) => model_answer(registry::find(shared, &reference)),
        OperatorRequest::PromoteModel { model, stage } => {
            model_answer(registry::promote_checked(shared, &model, stage))
        }
        OperatorRequest::ForcePromoteModel { model, stage } => {
            model_answer(registry::promote(shared, &model, stage))
        }
        OperatorRequest::SetAlias { model, alias } => {
            model_answer(registry::alias(shared, &model, &alias))
        }
        OperatorRequest::RemoveAlias { model, alias } => {
            model_answer(registry::remove_alias(shared, &model, &alias))
        }
        OperatorRequest::Deploy { model, selector } => {
            let deployed = refuse_during_rollout(shared, &model.name)
                .and_then(|()| deployments::deploy(shared, &model, selector));
            match deployed {
                Ok(status) => OperatorResponse::Deployment(Box::new(status)),
                Err(e) => OperatorResponse::Error(e),
            }
        }
        OperatorRequest::Undeploy { model } => {
            let undeployed = refuse_during_rollout(shared, &model)
                .and_then(|()| deployments::undeploy(shared, &model));
            match undeployed {
                Ok(model) => OperatorResponse::Undeployed(model),
                Err(e) => OperatorResponse::Error(e),
            }
        }
        OperatorRequest::ListDeployments => match deployments::list(shared) {
            Ok(list) => OperatorResponse::Deployments(list),
            Err(e) => OperatorResponse::Error(e),
        },
        OperatorRequest::StartRollout {
            model,
            candidate,
            spec,
        } => rollout_answer(controller::start(shared, &model, &candidate, *spec)),
        OperatorRequest::RolloutCommand { model, command } => {
            rollout_answer(controller::command(shared, &model, command))
        }
        OperatorRequest::RolloutStatus { model } => {
            match controller::statuses(shared, model.as_deref()) {
                Ok(list) => OperatorResponse::Rollouts(list),
                Err(e) => OperatorResponse::Error(e),
            }
        }
        OperatorRequest::ServingHistory {
            model,
            since_ms,
            points,
        } => match history::series(shared, &model, since_ms, points) {
            Ok(points) => OperatorResponse::ServingHistory(points),
            Err(e) => OperatorResponse::Error(e),
        },
        OperatorRequest::DriftStatus { model } => match store.latest_drift(model.as_deref()) {
            Ok(reports) => OperatorResponse::Drift(reports),
            Err(e) => internal(e),
        },
        OperatorRequest::DriftHistory {
            model,
            version,
            since_ms,
        } => match store.drift_history(&model, version, since_ms) {
            Ok(points) => OperatorResponse::DriftHistory(points),
            Err(e) => internal(e),
        },
        OperatorRequest::RunLineage { id } => {
            let id = match whole_id("run", store.match_run_id(&id), &id) {
                Ok(id) => id,
                Err(answer) => return answer,
            };
            match store.run_lineage(&id) {
                Ok(lineage) => OperatorResponse::RunLineage(Box::new(lineage)),
                Err(e) => internal(e),
            }
        }
        OperatorRequest::ListAlerts { firing_only, limit } => {
            match store.alerts(firing_only, limit.min(MAX_EVENTS)) {
                Ok(alerts) => OperatorResponse::Alerts(alerts),
                Err(e) => internal(e),
            }
        }
        OperatorRequest::ListRollouts { limit } => {
            match controller::list(shared, limit.min(MAX_ROLLOUTS)) {
                Ok(list) => OperatorResponse::Rollouts(list),
                Err(e) => OperatorResponse::Error(e),
            }
        }
        OperatorRequest::ModelHistory { model } => match store.model_events(&model, MAX_EVENTS) {
            Ok(events) => OperatorResponse::Events(events),
            Err(e) => internal(e),
        },
        OperatorRequest::ListSchedules => match store.schedules() {
            Ok(list) => {
                OperatorResponse::Schedules(list.into_iter().map(|(info, _)| info).collect())
            }
            Err(e) => internal(e),
        },
        OperatorRequest::RemoveSchedule { id } => match store.remove_schedule(&id) {
            Ok(true) => OperatorResponse::ScheduleRemoved(id),
            Ok(false) => error(ApiErrorKind::NotFound, format!("no schedule {id}")),
            Err(e) => internal(e),
        },
        OperatorRequest::ListModelVersions { model } => match store.model_versions(&model) {
            Ok(list) => OperatorResponse::ModelVersions(list),
            Err(e) => internal(e),
        },
        _ => error(
            ApiErrorKind::Internal,
            "internal error: a request reached the wrong handler",
        ),
    }
}

/// The whole id `typed` stands for (itself, or the one id it is a prefix of), or the answer
/// saying why there is none.
fn whole_id(
    kind: &str,
    matched: Result<IdMatch, StoreError>,
    typed: &str,
) -> Result<String, OperatorResponse> {
    match matched {
        Ok(IdMatch::One(id)) => Ok(id),
        Ok(IdMatch::None) => Err(error(ApiErrorKind::NotFound, format!("no {kind} {typed}"))),
        Ok(IdMatch::Many(ids)) => Err(error(
            ApiErrorKind::Invalid,
            format!(
                "{typed} could be {kind} {}; type more of the id",
                ids.join(", ")
            ),
        )),
        Err(e) => Err(internal(e)),
    }
}

fn model_answer(
    result: Result<drover_protocol::registry::ModelVersion, ApiError>,
) -> OperatorResponse {
    match result {
        Ok(version) => OperatorResponse::Model(Box::new(version)),
        Err(e) => OperatorResponse::Error(e),
    }
}

fn status(shared: &Shared) -> OperatorResponse {
    let (ready, total) = shared.fleet.counts();
    OperatorResponse::Status(CoordinatorStatus {
        version: drover_protocol::DROVER_VERSION.into(),
        quic_addr: shared.quic_addr.to_string(),
        http_addr: shared.http_addr.to_string(),
        agents_ready: ready as u32,
        agents_total: total as u32,
        uptime_secs: shared.started.elapsed().as_secs(),
    })
}

async fn remove_agent(shared: &Arc<Shared>, id: AgentId) -> OperatorResponse {
    let removing = id.clone();
    let removed = shared
        .store
        .call(move |store| store.remove_agent(&removing, unix_ms()))
        .await;
    match removed {
        Ok(false) => return error(ApiErrorKind::NotFound, format!("no agent {id}")),
        Ok(true) => {}
        Err(e) => return internal(e),
    }
    if let Some(session) = shared.fleet.remove(&id) {
        // The session may end on its own meanwhile; its certificate is refused either way.
        let _ = session
            .send(AgentCommand::Disconnect {
                reason: "agent removed by an operator".into(),
            })
            .await;
    }
    shared
        .events
        .publish(Event::AgentRemoved { id: id.clone() });
    OperatorResponse::AgentRemoved(id)
}

/// The whole id of the agent `id` names (a unique prefix will do), or the answer saying
/// why there is none.
async fn agent_id(shared: &Arc<Shared>, id: AgentId) -> Result<AgentId, OperatorResponse> {
    let typed = id.0.clone();
    let matched = shared
        .store
        .call(move |store| store.match_agent_id(&typed))
        .await;
    whole_id("agent", matched, &id.0).map(AgentId)
}

fn create_token(
    shared: &Shared,
    ttl_secs: u64,
    uses: u32,
    labels: Option<Labels>,
) -> OperatorResponse {
    if uses == 0 {
        return error(ApiErrorKind::Invalid, "a token needs at least one use");
    }
    if let Some(Err(e)) = labels.as_ref().map(check_labels) {
        return error(ApiErrorKind::Invalid, e);
    }
    if ttl_secs == 0 || ttl_secs > MAX_TOKEN_TTL.as_secs() {
        return error(
            ApiErrorKind::Invalid,
            format!(
                "token lifetime must be between 1s and {}s",
                MAX_TOKEN_TTL.as_secs()
            ),
        );
    }
    let token = JoinToken::generate(shared.advertise.clone(), shared.ca_sha256);
    let now = unix_ms();
    let expires_ms = now + ttl_secs * 1000;
    let secret_sha256 = pki::hex(&pki::sha256(token.secret.as_bytes()));
    let record = NewToken {
        id: &token.token_id,
        secret_sha256: &secret_sha256,
        created_ms: now,
        expires_ms,
        uses,
        labels: labels.as_ref(),
    };
    if let Err(e) = shared.store.sync().insert_token(&record) {
        return internal(e);
    }
    shared.events.publish(Event::TokenCreated {
        token_id: token.token_id.clone(),
        uses,
        expires_ms,
    });
    OperatorResponse::Token(IssuedToken {
        token: token.encode(),
        token_id: token.token_id,
        expires_ms,
        uses,
    })
}

/// A model's deployment is its running rollout's to change: deploying or undeploying it
/// is refused while one runs. Checked here rather than in `deployments`, which the rollout
/// controller itself calls to move traffic.
fn refuse_during_rollout(shared: &Shared, model: &str) -> Result<(), ApiError> {
    match controller::running(shared, model)? {
        Some(id) => Err(ApiError::invalid(format!(
            "{model} has rollout {id} running; promote or abort it first (drover rollout abort {model})"
        ))),
        None => Ok(()),
    }
}
