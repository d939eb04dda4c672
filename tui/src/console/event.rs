//! All console input as one [`ConsoleEvent`] stream: terminal keys from a reader thread, a
//! clock tick, and data from the coordinator, merged into one channel.

use std::time::Duration;

use drover_protocol::data::DatasetSummary;
use drover_protocol::msg::{EventRecord, OperatorRequest, OperatorResponse};
use drover_protocol::registry::{ModelSummary, ModelVersion};
use drover_protocol::run::{RunDetail, RunSummary};
use drover_protocol::spec::TrainSpec;
use drover_protocol::types::{AgentInfo, unix_ms};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEvent, KeyEventKind};
use tokio::sync::mpsc;

use crate::client::OperatorLink;

/// Everything the views show, fetched together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub agents: Vec<AgentInfo>,
    pub runs: Vec<RunSummary>,
    pub datasets: Vec<DatasetSummary>,
    pub models: Vec<ModelSummary>,
    /// Versions of the model selected in the Models view.
    pub versions: Vec<ModelVersion>,
    /// Details of the runs being compared.
    pub compared: Vec<RunDetail>,
}

/// Something the console must react to.
#[derive(Debug, Clone)]
pub enum ConsoleEvent {
    Key(KeyEvent),
    Resize,
    Tick(u64),
    Snapshot(Box<Snapshot>),
    Fleet(EventRecord),
    Message(String),
    Failed(String),
    /// A run's detail, for its describe pane.
    RunDetail(Box<RunDetail>),
    /// A connection to the coordinator is open; requests go over `link`.
    Connected(OperatorLink),
    /// The connection is gone (or could not be made); the next try is in `retry_in`.
    Disconnected {
        reason: String,
        retry_in: Duration,
    },
}

/// How often the views refresh besides event-driven refreshes.
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

/// Ticks the clock every [`POLL`]; each tick also refreshes the snapshot (see `App::update`).
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

/// Fetches everything the views show.
pub async fn fetch_snapshot(
    link: &OperatorLink,
    model: Option<String>,
    compare: Vec<String>,
) -> anyhow::Result<Snapshot> {
    let mut snapshot = Snapshot {
        agents: fetch!(link, OperatorRequest::ListAgents, OperatorResponse::Agents),
        runs: fetch!(
            link,
            OperatorRequest::ListRuns(Default::default()),
            OperatorResponse::Runs
        ),
        datasets: fetch!(
            link,
            OperatorRequest::ListDatasets,
            OperatorResponse::Datasets
        ),
        models: fetch!(link, OperatorRequest::ListModels, OperatorResponse::Models),
        ..Snapshot::default()
    };
    if let Some(model) = model {
        snapshot.versions = fetch!(
            link,
            OperatorRequest::ListModelVersions { model },
            OperatorResponse::ModelVersions
        );
    }
    for id in compare {
        snapshot.compared.push(*fetch!(
            link,
            OperatorRequest::ShowRun { id },
            OperatorResponse::Run
        ));
    }
    Ok(snapshot)
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
