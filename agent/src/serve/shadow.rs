//! Shadow versions: each gets a copy of the rows a request carried, off the request's path,
//! and counts how often its answer differs from the one the caller got. Copies wait in a
//! bounded queue for one worker; when it is full a copy is dropped and counted, so shadows
//! never delay callers nor hold memory without bound.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::model::{Predictions, Served};
use super::request::Rows;

/// Copies waiting for the shadow worker; more are dropped.
pub const QUEUE: usize = 1024;

/// A request's rows, the answer its caller got, and the shadow versions to ask.
struct Copy {
    versions: Vec<Arc<Served>>,
    rows: Rows,
    answered: Predictions,
}

/// The shadow queue.
#[derive(Clone)]
pub struct Shadows {
    queue: mpsc::Sender<Copy>,
    dropped: metrics::Counter,
}

impl Shadows {
    /// Starts the worker on the current runtime.
    pub fn start() -> Self {
        let (queue, mut copies) = mpsc::channel::<Copy>(QUEUE);
        tokio::spawn(async move {
            while let Some(copy) = copies.recv().await {
                for served in copy.versions {
                    served.shadow_requests.increment(1);
                    let differing = match served.predict(&copy.rows) {
                        Ok(mine) => differences(&mine, &copy.answered),
                        Err(_) => copy.rows.rows(),
                    };
                    served.shadow_rows_differing.increment(differing as u64);
                }
            }
        });
        Self {
            queue,
            dropped: metrics::counter!("drover_shadow_dropped_total"),
        }
    }

    /// Queues a copy of `rows` for `versions`, unless the queue is full.
    pub fn send(&self, versions: Vec<Arc<Served>>, rows: Rows, answered: Predictions) {
        if versions.is_empty() {
            return;
        }
        let copy = Copy {
            versions,
            rows,
            answered,
        };
        if self.queue.try_send(copy).is_err() {
            self.dropped.increment(1);
        }
    }
}

/// Rows on which two predictions differ: another class, or another value.
fn differences(a: &Predictions, b: &Predictions) -> usize {
    match (a, b) {
        (Predictions::Classes { chosen: x, .. }, Predictions::Classes { chosen: y, .. }) => {
            x.iter().zip(y).filter(|(x, y)| x != y).count()
        }
        (Predictions::Values(x), Predictions::Values(y)) => x
            .iter()
            .zip(y)
            .filter(|(x, y)| (*x - *y).abs() > 1e-9 * x.abs().max(y.abs()).max(1.0))
            .count(),
        _ => a.rows(),
    }
}
