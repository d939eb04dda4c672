//! Metric ingest, the hot path: batches from every agent go to one writer thread, which takes
//! whatever has queued up and stores it in one transaction, then acknowledges each batch to
//! its session. A batch is acknowledged only after it is committed. The queue is bounded: a
//! session waits for room before it reads its agent's next frame, so an agent that floods
//! the coordinator is slowed to the store's pace, and waiting sessions take turns in order.
//! Agents do not resend a batch the store could not write: such a batch is logged (at most
//! once per interval) as lost and not acknowledged.

use std::sync::Arc;

use drover_protocol::run::MetricPoint;
use tokio::sync::mpsc;

use crate::store::Store;
use crate::throttle::Throttle;

/// Batches waiting for the writer at most; with frames of at most 4 MiB this bounds the
/// queue's memory whatever the agents send.
const QUEUE_BATCHES: usize = 16;

/// A batch waiting to be stored, and where to acknowledge it.
struct Pending {
    run_id: String,
    seq: u64,
    points: Vec<MetricPoint>,
    ack: mpsc::UnboundedSender<u64>,
}

/// Cloneable handle to the ingest writer.
#[derive(Clone)]
pub struct Ingest {
    queue: mpsc::Sender<Pending>,
}

impl Ingest {
    /// Starts the writer thread; it ends when every handle is dropped.
    pub fn start(store: Arc<Store>) -> Self {
        let (queue, mut rx) = mpsc::channel::<Pending>(QUEUE_BATCHES);
        let failures = Throttle::new(std::time::Duration::from_secs(10));
        std::thread::Builder::new()
            .name("drover-ingest".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while let Ok(next) = rx.try_recv() {
                        batch.push(next);
                    }
                    let rows: Vec<(&str, &[MetricPoint])> = batch.iter().map(|p| (p.run_id.as_str(), p.points.as_slice())).collect();
                    match store.insert_points(&rows) {
                        Ok(written) => {
                            metrics::counter!("drover_metric_points_stored_total").increment(written as u64);
                            for pending in &batch {
                                // A session that ended meanwhile no longer needs its ack.
                                let _ = pending.ack.send(pending.seq);
                            }
                        }
                        Err(e) => {
                            let points: usize = batch.iter().map(|p| p.points.len()).sum();
                            metrics::counter!("drover_metric_points_lost_total").increment(points as u64);
                            if let Some(suppressed) = failures.allow() {
                                tracing::error!(cause = %e, points, batches = batch.len(), suppressed, "could not store metric points; they are lost and not acknowledged");
                            }
                        }
                    }
                }
            })
            .expect("spawning the ingest thread");
        Self { queue }
    }

    /// Queues a batch, waiting while the queue is full; `ack` hears its `seq` once it is
    /// committed.
    pub async fn submit(
        &self,
        run_id: String,
        seq: u64,
        points: Vec<MetricPoint>,
        ack: mpsc::UnboundedSender<u64>,
    ) {
        if self
            .queue
            .send(Pending {
                run_id,
                seq,
                points,
                ack,
            })
            .await
            .is_err()
        {
            tracing::error!("the ingest writer has stopped");
        }
    }
}
