//! All console input as one [`ConsoleEvent`] stream: terminal keys from a reader thread, a
//! clock tick, and data from the coordinator, merged into one channel.

use std::time::Duration;

use drover_protocol::msg::{EventRecord, OperatorRequest, OperatorResponse};
use drover_protocol::spec::TrainSpec;
use drover_protocol::types::unix_ms;
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEvent, KeyEventKind};
use tokio::sync::mpsc;

use super::describe::Detail;
use super::fetch::{Answer, Ask, Monitoring, Rollouts};
use crate::client::OperatorLink;

/// Something the console must react to.
#[derive(Debug, Clone)]
pub enum ConsoleEvent {
    Key(KeyEvent),
    Resize,
    Tick(u64),
    /// What a fetch brought back (or why it failed), with what it asked for.
    Fetched {
        ticket: u64,
        ask: Ask,
        answer: Result<Box<Answer>, String>,
    },
    Fleet(EventRecord),
    Message(String),
    Failed(String),
    /// A fetched part of a describe pane.
    Detail(Detail),
    /// A connection to the coordinator is open; requests go over `link`.
    Connected(OperatorLink),
    /// The connection is gone (or could not be made); the next try is in `retry_in`.
    Disconnected {
        reason: String,
        retry_in: Duration,
    },
}

/// How often the clock ticks; the Agents view also refreshes its load columns then (the
/// other views refresh on events).
pub const POLL: Duration = Duration::from_secs(1);

/// Reads terminal events on a thread (crossterm reads block) until the channel closes.
pub fn spawn_terminal_reader(tx: mpsc::Sender<ConsoleEvent>) {
    std::thread::spawn(move || {
        while !tx.is_closed() {
            match event::poll(Duration::from_millis(200)) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => return,
            }
            let forwarded = match event::read() {
                Ok(TermEvent::Key(key)) if key.kind == KeyEventKind::Press => {
                    ConsoleEvent::Key(key)
                }
                Ok(TermEvent::Resize(..)) => ConsoleEvent::Resize,
                Ok(_) => continue,
                Err(_) => return,
            };
            if tx.blocking_send(forwarded).is_err() {
                return;
            }
        }
    });
}

/// Ticks the clock every [`POLL`].
pub fn spawn_ticker(tx: mpsc::Sender<ConsoleEvent>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        loop {
            tick.tick().await;
            if tx.send(ConsoleEvent::Tick(unix_ms())).await.is_err() {
                return;
            }
        }
    });
}

macro_rules! fetch {
    ($link:expr, $request:expr, $variant:path) => {
        match $link.request($request).await? {
            $variant(value) => value,
            other => anyhow::bail!("unexpected answer: {other:?}"),
        }
    };
}

/// Fetches what `ask` asks for.
pub async fn fetch(link: &OperatorLink, ask: Ask) -> anyhow::Result<Answer> {
    Ok(match ask {
        Ask::Agents => Answer::Agents(
            fetch!(link, OperatorRequest::ListAgents, OperatorResponse::Agents),
            fetch!(
                link,
                OperatorRequest::ListDeployments,
                OperatorResponse::Deployments
            ),
        ),
        Ask::Runs(query) => Answer::Runs(*fetch!(
            link,
            OperatorRequest::QueryRuns(query),
            OperatorResponse::RunPage
        )),
        Ask::Datasets => Answer::Datasets(fetch!(
            link,
            OperatorRequest::ListDatasets,
            OperatorResponse::Datasets
        )),
        Ask::Models(model) => {
            let models = fetch!(link, OperatorRequest::ListModels, OperatorResponse::Models);
            let versions = match model {
                Some(model) => fetch!(
                    link,
                    OperatorRequest::ListModelVersions { model },
                    OperatorResponse::ModelVersions
                ),
                None => Vec::new(),
            };
            let deployments = fetch!(
                link,
                OperatorRequest::ListDeployments,
                OperatorResponse::Deployments
            );
            Answer::Models(models, versions, deployments)
        }
        Ask::Compare(ids) => {
            let mut runs = Vec::with_capacity(ids.len());
            for id in ids {
                runs.push(*fetch!(
                    link,
                    OperatorRequest::ShowRun { id },
                    OperatorResponse::Run
                ));
            }
            Answer::Compare(runs)
        }
        Ask::Rollouts(model) => Answer::Rollouts(Box::new(rollouts(link, model).await?)),
        Ask::Monitoring(selected) => {
            Answer::Monitoring(Box::new(monitoring(link, selected).await?))
        }
    })
}

/// How far back the Drift view's sparklines reach.
const DRIFT_SPAN_MS: u64 = 30 * 60 * 1000;

/// Every served version's latest drift, the newest alerts, and the selected version's
/// history.
async fn monitoring(
    link: &OperatorLink,
    selected: Option<(String, u32)>,
) -> anyhow::Result<Monitoring> {
    let reports = fetch!(
        link,
        OperatorRequest::DriftStatus { model: None },
        OperatorResponse::Drift
    );
    let alerts = fetch!(
        link,
        OperatorRequest::ListAlerts {
            firing_only: false,
            limit: 200
        },
        OperatorResponse::Alerts
    );
    let history = match selected {
        Some((model, version)) => fetch!(
            link,
            OperatorRequest::DriftHistory {
                model,
                version,
                since_ms: unix_ms().saturating_sub(DRIFT_SPAN_MS)
            },
            OperatorResponse::DriftHistory
        ),
        None => Vec::new(),
    };
    Ok(Monitoring {
        reports,
        alerts,
        history,
    })
}

/// Slices of traffic a rollout's sparklines show.
const SPARK_POINTS: u32 = 60;
/// How far back the sparklines of a model without a rollout reach.
const SPARK_SPAN_MS: u64 = 10 * 60 * 1000;

/// The newest rollouts and, for `model`, its newest rollout and its traffic since it began.
async fn rollouts(link: &OperatorLink, model: Option<String>) -> anyhow::Result<Rollouts> {
    let list = fetch!(
        link,
        OperatorRequest::ListRollouts { limit: 100 },
        OperatorResponse::Rollouts
    );
    let Some(model) = model else {
        return Ok(Rollouts {
            list,
            ..Rollouts::default()
        });
    };
    let selected = fetch!(
        link,
        OperatorRequest::RolloutStatus {
            model: Some(model.clone())
        },
        OperatorResponse::Rollouts
    )
    .into_iter()
    .next();
    let now = unix_ms();
    let since_ms = selected
        .as_ref()
        .map_or(now.saturating_sub(SPARK_SPAN_MS), |s| {
            s.rollout
                .started_ms
                .max(now.saturating_sub(6 * SPARK_SPAN_MS))
        });
    let history = fetch!(
        link,
        OperatorRequest::ServingHistory {
            model,
            since_ms,
            points: SPARK_POINTS
        },
        OperatorResponse::ServingHistory
    );
    Ok(Rollouts {
        list,
        selected,
        history,
    })
}

/// Queues a spec and says which run it became.
pub async fn submit(link: &OperatorLink, spec: TrainSpec) -> ConsoleEvent {
    match link
        .request(OperatorRequest::SubmitRun(Box::new(spec)))
        .await
    {
        Ok(OperatorResponse::RunQueued(run)) => ConsoleEvent::Message(format!(
            "queued {} ({} on {})",
            run.id, run.algorithm, run.dataset
        )),
        Ok(other) => ConsoleEvent::Failed(format!("unexpected answer: {other:?}")),
        Err(e) => ConsoleEvent::Failed(format!("{e:#}")),
    }
}
