//! The event bus: every event is appended to the store by one writer thread, which batches
//! whatever has queued up into one transaction, and then broadcast to subscribers. Publishing
//! never blocks the caller.

use std::sync::Arc;

use drover_protocol::msg::{Event, EventRecord};
use drover_protocol::types::unix_ms;
use tokio::sync::{broadcast, mpsc};

use super::store::Store;

/// How many events a slow subscriber may fall behind before it skips ahead.
const SUBSCRIBER_BACKLOG: usize = 1024;

/// Cloneable handle to publish and subscribe to fleet events.
#[derive(Clone)]
pub struct Events {
    queue: mpsc::UnboundedSender<(u64, Event)>,
    live: broadcast::Sender<EventRecord>,
}

impl Events {
    /// Starts the writer thread; it ends when every `Events` handle is dropped.
    pub fn start(store: Arc<Store>) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<(u64, Event)>();
        let (live, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        let sender = live.clone();
        std::thread::Builder::new()
            .name("drover-events".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while let Ok(next) = rx.try_recv() {
                        batch.push(next);
                    }
                    match store.append_events(batch) {
                        Ok(records) => records.into_iter().for_each(|r| {
                            // No subscriber is fine: the event is stored either way.
                            let _ = sender.send(r);
                        }),
                        Err(e) => tracing::error!(cause = %e, "could not store events"),
                    }
                }
            })
            .expect("spawning the event writer thread");
        Self { queue, live }
    }

    /// Queues an event for storing and broadcasting.
    pub fn publish(&self, event: Event) {
        tracing::info!(kind = event.kind(), "{}", event.describe());
        if self.queue.send((unix_ms(), event)).is_err() {
            tracing::error!("event writer has stopped; event dropped");
        }
    }

    /// Every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EventRecord> {
        self.live.subscribe()
    }
}
