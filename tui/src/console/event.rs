//! All console input as one [`ConsoleEvent`] stream: terminal keys from a reader thread, a
//! clock tick, and data from the coordinator, merged into one channel.

use std::time::Duration;

use drover_protocol::msg::{EventRecord, OperatorRequest, OperatorResponse};
use drover_protocol::types::{AgentInfo, unix_ms};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEvent, KeyEventKind};
use tokio::sync::mpsc;

use crate::client::OperatorLink;

/// Something the console must react to.
#[derive(Debug, Clone)]
pub enum ConsoleEvent {
    Key(KeyEvent),
    Resize,
    Tick(u64),
    Agents(Vec<AgentInfo>),
    Fleet(EventRecord),
    Failed(String),
}

/// How often agent rows refresh (heartbeat ages, load) besides event-driven refreshes.
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

/// Ticks the clock and polls the agent list every [`POLL`].
pub fn spawn_ticker(tx: mpsc::Sender<ConsoleEvent>, link: OperatorLink) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        loop {
            tick.tick().await;
            if tx.send(ConsoleEvent::Tick(unix_ms())).await.is_err() {
                return;
            }
            fetch_agents(&link, &tx).await;
        }
    });
}

/// Sends recent history, then forwards the coordinator's event stream, and refetches agents after each fleet event.
pub fn spawn_event_stream(tx: mpsc::Sender<ConsoleEvent>, link: OperatorLink) {
    tokio::spawn(async move {
        let mut events = match link.subscribe().await {
            Ok(events) => events,
            Err(e) => {
                let _ = tx
                    .send(ConsoleEvent::Failed(format!("event stream: {e:#}")))
                    .await;
                return;
            }
        };
        if let Ok(OperatorResponse::Events(history)) = link
            .request(OperatorRequest::ListEvents { limit: 200 })
            .await
        {
            for record in history {
                if tx.send(ConsoleEvent::Fleet(record)).await.is_err() {
                    return;
                }
            }
        }
        while let Some(record) = events.recv().await {
            if tx.send(ConsoleEvent::Fleet(record)).await.is_err() {
                return;
            }
            fetch_agents(&link, &tx).await;
        }
        let _ = tx
            .send(ConsoleEvent::Failed(
                "the coordinator closed the event stream".into(),
            ))
            .await;
    });
}

/// Fetches the agent list once and sends it (or the failure) as an event.
pub async fn fetch_agents(link: &OperatorLink, tx: &mpsc::Sender<ConsoleEvent>) {
    let event = match link.request(OperatorRequest::ListAgents).await {
        Ok(OperatorResponse::Agents(agents)) => ConsoleEvent::Agents(agents),
        Ok(other) => ConsoleEvent::Failed(format!("unexpected answer: {other:?}")),
        Err(e) => ConsoleEvent::Failed(format!("{e:#}")),
    };
    let _ = tx.send(event).await;
}
