//! The event bus: every event is appended to the store by one writer thread, which batches
//! whatever has queued up into one transaction, and then broadcast to subscribers. Publishing
//! never blocks the caller. Events that report a change the store made in the same
//! transaction (a dataset added, a run ended) are stored by that change and only announced
//! here. Every stored event wakes [`crate::reactions`].

use std::sync::Arc;

use drover_protocol::msg::{Event, EventRecord};
use drover_protocol::types::unix_ms;
use tokio::sync::{Notify, broadcast, mpsc};

use crate::store::Store;

/// How many events a slow subscriber may fall behind before it skips ahead.
const SUBSCRIBER_BACKLOG: usize = 1024;

/// Cloneable handle to publish and subscribe to fleet events.
#[derive(Clone)]
pub struct Events {
    queue: mpsc::UnboundedSender<(u64, Event)>,
    live: broadcast::Sender<EventRecord>,
    stored: Arc<Notify>,
}

impl Events {
    /// Starts the writer thread; it ends when every `Events` handle is dropped.
    pub fn start(store: Arc<Store>) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<(u64, Event)>();
        let (live, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        let sender = live.clone();
        let stored = Arc::new(Notify::new());
        let wake = stored.clone();
        std::thread::Builder::new()
            .name("drover-events".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while let Ok(next) = rx.try_recv() {
                        batch.push(next);
                    }
                    match store.append_events(batch) {
                        Ok(records) => {
                            wake.notify_one();
                            records.into_iter().for_each(|r| {
                                // No subscriber is fine: the event is stored either way.
                                let _ = sender.send(r);
                            })
                        }
                        Err(e) => tracing::error!(cause = %e, "could not store events"),
                    }
                }
            })
            .expect("spawning the event writer thread");
        Self {
            queue,
            live,
            stored,
        }
    }

    /// Queues an event for storing and broadcasting.
    pub fn publish(&self, event: Event) {
        tracing::info!(kind = event.kind(), "{}", event.describe());
        if self.queue.send((unix_ms(), event)).is_err() {
            tracing::error!("event writer has stopped; event dropped");
        }
    }

    /// Tells subscribers and reactions about an event the store has already committed.
    pub fn announce(&self, record: EventRecord) {
        tracing::info!(kind = record.event.kind(), "{}", record.event.describe());
        self.stored.notify_one();
        let _ = self.live.send(record);
    }

    /// Wakes when an event has been stored (at least once per stored batch).
    pub async fn stored(&self) {
        self.stored.notified().await;
    }

    /// Every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EventRecord> {
        self.live.subscribe()
    }
}
