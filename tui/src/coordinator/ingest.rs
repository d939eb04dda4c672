//! Metric ingest, the hot path: batches from every agent go to one writer thread, which takes
//! whatever has queued up and stores it in one transaction, then acknowledges each batch to
//! its session. A batch is acknowledged only after it is committed.

use std::sync::Arc;

use drover_protocol::run::MetricPoint;
use tokio::sync::mpsc;

use super::store::Store;

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
    queue: mpsc::UnboundedSender<Pending>,
}

impl Ingest {
    /// Starts the writer thread; it ends when every handle is dropped.
    pub fn start(store: Arc<Store>) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<Pending>();
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
                        Err(e) => tracing::error!(cause = %e, "could not store metric points; they will be resent"),
                    }
                }
            })
            .expect("spawning the ingest thread");
        Self { queue }
    }

    /// Queues a batch; `ack` hears its `seq` once it is committed.
    pub fn submit(
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
            .is_err()
        {
            tracing::error!("the ingest writer has stopped");
        }
    }
}
