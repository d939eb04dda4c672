//! Store work one agent session hands off: recording trials and finished jobs. The session
//! loop queues the work and goes back to reading frames (heartbeats included); one task per
//! session does the work in arrival order on the blocking pool. The queue is bounded: a
//! session whose store work falls [`DEPTH`] items behind waits for it before reading on.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::state::Shared;

/// Most pieces of work waiting per session.
pub const DEPTH: usize = 64;

type Work = Box<dyn FnOnce(&Shared) + Send>;

/// One session's queue of store work, done in order.
pub struct Backlog {
    queue: mpsc::Sender<Work>,
    worker: JoinHandle<()>,
}

impl Backlog {
    /// Starts the session's worker.
    pub fn start(shared: Arc<Shared>) -> Self {
        let (queue, mut waiting) = mpsc::channel::<Work>(DEPTH);
        let worker = tokio::spawn(async move {
            while let Some(work) = waiting.recv().await {
                // A panic in one piece of work is logged; the rest still gets done.
                let shared = shared.clone();
                let done = tokio::spawn(async move { shared.blocking(work).await }).await;
                if let Err(e) = done {
                    tracing::error!(cause = %e, "a session's store work failed");
                }
            }
        });
        Self { queue, worker }
    }

    /// Queues `work`; waits only while [`DEPTH`] pieces are already waiting.
    pub async fn push(&self, work: impl FnOnce(&Shared) + Send + 'static) {
        if self.queue.send(Box::new(work)).await.is_err() {
            tracing::error!("a session's store worker stopped; its work is lost");
        }
    }

    /// Waits until every queued piece of work is done.
    pub async fn finish(self) {
        drop(self.queue);
        if let Err(e) = self.worker.await {
            tracing::error!(cause = %e, "a session's store worker failed");
        }
    }
}
