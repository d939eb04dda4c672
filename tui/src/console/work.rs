//! The work the console asks for ([`Command`]), run off its loop over the current link; each
//! result comes back as one event: data, a message saying what was done, or an error.

use std::path::Path;

use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::run::{RunFilter, RunQuery, RunStatus};
use drover_protocol::types::AgentId;
use tokio::sync::mpsc;

use super::action::Command;
use super::describe::{Detail, DetailAsk};
use super::event::{self, ConsoleEvent};
use crate::client::OperatorLink;

/// Runs `command` on a task; its result goes to `tx`.
pub fn spawn(command: Command, link: OperatorLink, tx: mpsc::Sender<ConsoleEvent>) {
    tokio::spawn(async move {
        let _ = tx.send(run(command, &link).await).await;
    });
}

/// A message made by `say` from the answer, an error otherwise.
fn said(
    answer: anyhow::Result<OperatorResponse>,
    say: impl FnOnce(OperatorResponse) -> Result<String, OperatorResponse>,
) -> ConsoleEvent {
    match answer.map(say) {
        Ok(Ok(message)) => ConsoleEvent::Message(message),
        Ok(Err(other)) => ConsoleEvent::Failed(format!("unexpected answer: {other:?}")),
        Err(e) => ConsoleEvent::Failed(format!("{e:#}")),
    }
}

async fn run(command: Command, link: &OperatorLink) -> ConsoleEvent {
    match command {
        Command::Fetch { ticket, ask } => ConsoleEvent::Fetched {
            ticket,
            answer: event::fetch(link, ask.clone())
                .await
                .map(Box::new)
                .map_err(|e| format!("{e:#}")),
            ask,
        },
        Command::SubmitSpecFile(path) => match tokio::fs::read_to_string(&path).await {
            Ok(text) => match drover_ml::gates::parse_spec(&text) {
                Ok(spec) => event::submit(link, spec).await,
                Err(e) => ConsoleEvent::Failed(format!("{path}: {e}")),
            },
            Err(e) => ConsoleEvent::Failed(format!("{path}: {e}")),
        },
        Command::SubmitSpec(spec) => event::submit(link, *spec).await,
        Command::FetchDetail(ask) => match detail(link, ask).await {
            Ok(detail) => ConsoleEvent::Detail(detail),
            Err(e) => ConsoleEvent::Failed(format!("{e:#}")),
        },
        Command::CancelRun(id) => said(
            link.request(OperatorRequest::CancelRun { id }).await,
            |answer| match answer {
                OperatorResponse::RunCancelled(id) => Ok(format!("cancelled {id}")),
                other => Err(other),
            },
        ),
        Command::Promote { model, stage } => said(
            link.request(OperatorRequest::PromoteModel { model, stage })
                .await,
            |answer| match answer {
                OperatorResponse::Model(v) => {
                    Ok(format!("promoted {}@{} to {stage}", v.model, v.version))
                }
                other => Err(other),
            },
        ),
        Command::SetAlias { model, alias } => said(
            link.request(OperatorRequest::SetAlias {
                model,
                alias: alias.clone(),
            })
            .await,
            |answer| match answer {
                OperatorResponse::Model(v) => Ok(format!(
                    "alias {alias} now points at {}@{}",
                    v.model, v.version
                )),
                other => Err(other),
            },
        ),
        Command::RemoveAlias { model, alias } => said(
            link.request(OperatorRequest::RemoveAlias {
                model,
                alias: alias.clone(),
            })
            .await,
            |answer| match answer {
                OperatorResponse::Model(v) => {
                    Ok(format!("alias {alias} taken off {}@{}", v.model, v.version))
                }
                other => Err(other),
            },
        ),
        Command::RemoveAgent(id) => said(
            link.request(OperatorRequest::RemoveAgent { id: AgentId(id) })
                .await,
            |answer| match answer {
                OperatorResponse::AgentRemoved(id) => {
                    Ok(format!("removed agent {id}; its certificate is refused"))
                }
                other => Err(other),
            },
        ),
        Command::AddDataset { name, path } => said(
            link.add_dataset(&name, Path::new(&path)).await,
            |answer| match answer {
                OperatorResponse::DatasetAdded(added) if added.unchanged => Ok(format!(
                    "{path} is identical to {name}@{}; nothing added",
                    added.version.version
                )),
                OperatorResponse::DatasetAdded(added) => Ok(format!(
                    "added {name}@{} ({} rows)",
                    added.version.version, added.version.rows
                )),
                other => Err(other),
            },
        ),
        Command::Rerun(id) => rerun(link, id).await,
        Command::Rollout { model, command } => said(
            link.request(OperatorRequest::RolloutCommand { model, command })
                .await,
            |answer| match answer {
                OperatorResponse::Rollout(s) => Ok(format!(
                    "rollout {} of {}: {}",
                    s.rollout.id,
                    s.rollout.model,
                    crate::present::rollout::stage(&s)
                )),
                other => Err(other),
            },
        ),
    }
}

/// Queues run `id`'s spec again on the dataset version it used, with its seed.
async fn rerun(link: &OperatorLink, id: String) -> ConsoleEvent {
    let run = match link
        .request(OperatorRequest::ShowRun { id: id.clone() })
        .await
    {
        Ok(OperatorResponse::Run(run)) => run,
        Ok(other) => return ConsoleEvent::Failed(format!("unexpected answer: {other:?}")),
        Err(e) => return ConsoleEvent::Failed(format!("{e:#}")),
    };
    let Some(mut spec) = run.spec else {
        return ConsoleEvent::Failed(format!(
            "{} was logged through the MLflow API; drover has no spec to re-run it from",
            run.summary.id
        ));
    };
    spec.dataset = run.summary.dataset.clone();
    match event::submit(link, spec).await {
        ConsoleEvent::Message(queued) => {
            ConsoleEvent::Message(format!("re-running {}: {queued}", run.summary.id))
        }
        other => other,
    }
}

/// Fetches the part of a describe pane `ask` names.
async fn detail(link: &OperatorLink, ask: DetailAsk) -> anyhow::Result<Detail> {
    let answer = match &ask {
        DetailAsk::Run(id) => OperatorRequest::ShowRun { id: id.clone() },
        DetailAsk::AgentJobs(id) => OperatorRequest::QueryRuns(RunQuery {
            filter: RunFilter {
                status: Some(RunStatus::Running),
                ..RunFilter::default()
            },
            text: id.clone(),
            limit: 100,
            ..RunQuery::default()
        }),
        DetailAsk::ModelHistory(model) => OperatorRequest::ModelHistory {
            model: model.clone(),
        },
        DetailAsk::Dataset(name) => {
            OperatorRequest::ShowDataset(name.parse().map_err(anyhow::Error::msg)?)
        }
    };
    Ok(match (ask, link.request(answer).await?) {
        (DetailAsk::Run(_), OperatorResponse::Run(run)) => Detail::Run(run),
        (DetailAsk::AgentJobs(id), OperatorResponse::RunPage(page)) => {
            let jobs = page
                .runs
                .into_iter()
                .filter(|r| r.agent.as_deref() == Some(&id))
                .collect();
            Detail::AgentJobs(id, jobs)
        }
        (DetailAsk::ModelHistory(model), OperatorResponse::Events(events)) => {
            Detail::ModelHistory(model, events)
        }
        (DetailAsk::Dataset(_), OperatorResponse::Dataset(d)) => Detail::Dataset(d),
        (_, other) => anyhow::bail!("unexpected answer: {other:?}"),
    })
}
