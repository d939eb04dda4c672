//! The console's connection to its coordinator. It connects, forwards recent history and then
//! the live event stream, and when the connection goes it says so and reconnects with backoff
//! (attached consoles find a restarted coordinator again through its run file).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use tokio::sync::mpsc;

use super::event::ConsoleEvent;
use crate::client::{OperatorClient, OperatorLink};

/// First wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Past events shown when a connection opens.
const HISTORY: u32 = 200;

/// How to reach the coordinator, tried again after every lost connection.
pub type Connect = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<OperatorLink>> + Send>> + Send + Sync,
>;

/// Connects over QUIC to the coordinator of `data_dir` (found through its run file) or at
/// `address`, with the data dir's operator certificate: an attached console.
pub fn attached(data_dir: PathBuf, address: Option<String>) -> Connect {
    Arc::new(move || {
        let (dir, address) = (data_dir.clone(), address.clone());
        Box::pin(async move {
            let client = OperatorClient::for_data_dir(&dir, address.as_deref()).await?;
            Ok(OperatorLink::Remote(Arc::new(client)))
        })
    })
}

/// The same in-process link every time: an embedded console (or a test's).
pub fn same(link: OperatorLink) -> Connect {
    Arc::new(move || {
        let link = link.clone();
        Box::pin(async move { Ok(link) })
    })
}

/// Keeps the console connected until its event channel closes, starting with `first` (the
/// connection the console opened with) when given.
pub fn spawn(tx: mpsc::Sender<ConsoleEvent>, connect: Connect, first: Option<OperatorLink>) {
    tokio::spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        let mut first = first;
        loop {
            let attempt = match first.take() {
                Some(link) => Ok(link),
                None => connect().await,
            };
            let reason = match attempt {
                Ok(link) => {
                    backoff = FIRST_BACKOFF;
                    if tx
                        .send(ConsoleEvent::Connected(link.clone()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    forward(&tx, &link).await
                }
                Err(e) => format!("{e:#}"),
            };
            let lost = ConsoleEvent::Disconnected {
                reason,
                retry_in: backoff,
            };
            if tx.send(lost).await.is_err() {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
}

/// Forwards history, then the live stream, until the connection ends; says why it ended.
async fn forward(tx: &mpsc::Sender<ConsoleEvent>, link: &OperatorLink) -> String {
    let mut events = match link.subscribe().await {
        Ok(events) => events,
        Err(e) => return format!("event stream: {e:#}"),
    };
    if let Ok(OperatorResponse::Events(history)) = link
        .request(OperatorRequest::ListEvents { limit: HISTORY })
        .await
    {
        for record in history {
            if tx.send(ConsoleEvent::Fleet(record)).await.is_err() {
                return "the console closed".into();
            }
        }
    }
    while let Some(record) = events.recv().await {
        if tx.send(ConsoleEvent::Fleet(record)).await.is_err() {
            return "the console closed".into();
        }
    }
    "the coordinator went away".into()
}
