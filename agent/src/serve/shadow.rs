//! Shadow versions: each gets a copy of the rows a request carried, off the request's path,
//! and counts how often its answer differs from the one the caller got, and how often it
//! fails to answer. Copies wait in a
//! bounded queue for one worker; when it is full a copy is dropped and counted, so shadows
//! never delay callers nor hold memory without bound. The worker takes what has queued up
//! and predicts it as one batch per shadow version.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::catalog::ShadowSet;
use super::feedback::Pending;
use super::model::{Predictions, Served};
use super::request::Rows;

/// Copies waiting for the shadow worker; more are dropped.
pub const QUEUE: usize = 1024;
/// Most copies the worker answers at once.
const BATCH: usize = 256;
/// How long the worker waits after a batch, so that the next one gathers the copies of many
/// requests instead of one (a copy's answer is never awaited by anyone).
const GATHER: Duration = Duration::from_millis(1);

/// A request's rows, the answer its caller got, the shadow versions to ask, and the request's
/// feedback key (under which feedback will score each shadow's prediction), if it has one.
struct Copy {
    versions: ShadowSet,
    rows: Rows,
    answered: Predictions,
    key: Option<u64>,
}

/// The shadow queue.
#[derive(Clone)]
pub struct Shadows {
    queue: mpsc::Sender<Copy>,
    dropped: metrics::Counter,
}

impl Shadows {
    /// Starts the worker on the current runtime; shadows' predictions are kept in `pending`
    /// for feedback.
    pub fn start(pending: Arc<Pending>) -> Self {
        let (queue, mut copies) = mpsc::channel::<Copy>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while copies.recv_many(&mut batch, BATCH).await > 0 {
                answer(&batch, &pending);
                batch.clear();
                tokio::time::sleep(GATHER).await;
            }
        });
        Self {
            queue,
            dropped: metrics::counter!("drover_shadow_dropped_total"),
        }
    }

    /// Queues a copy of `rows` for `versions`, unless the queue is full; `key` is the
    /// request's feedback key, when its answer was kept for feedback.
    pub fn send(
        &self,
        versions: Option<ShadowSet>,
        rows: Rows,
        answered: Predictions,
        key: Option<u64>,
    ) {
        let Some(versions) = versions else {
            return;
        };
        let copy = Copy {
            versions,
            rows,
            answered,
            key,
        };
        if self.queue.try_send(copy).is_err() {
            self.dropped.increment(1);
        }
    }
}

/// Asks every shadow version named in `batch` once, with the rows of all its copies stacked
/// (one prediction of many rows costs much less than many of one), and counts per copy how
/// many rows differ from what its caller got; a classifier's classes are kept for feedback.
fn answer(batch: &[Copy], pending: &Pending) {
    let now = Instant::now();
    let mut versions: Vec<&Arc<Served>> = Vec::new();
    for copy in batch {
        for served in copy.versions.iter() {
            if !versions.iter().any(|v| Arc::ptr_eq(v, served)) {
                versions.push(served);
            }
        }
    }
    for served in versions {
        let copies: Vec<&Copy> = batch
            .iter()
            .filter(|c| c.versions.iter().any(|v| Arc::ptr_eq(v, served)))
            .collect();
        let width = copies.first().map_or(0, |c| c.rows.width());
        let total = copies.iter().map(|c| c.rows.rows()).sum();
        let mut rows = Rows::with_capacity(width, total);
        for copy in &copies {
            copy.rows.cells().iter().cloned().for_each(|c| rows.push(c));
        }
        served.shadow_requests.increment(copies.len() as u64);
        let mine = served.predict(&rows).ok();
        let failed = if mine.is_some() { 0 } else { total };
        let mut at = 0;
        let mut differing = 0;
        for copy in copies {
            let n = copy.rows.rows();
            if let Some(mine) = &mine {
                differing += differences(mine, at, &copy.answered);
            }
            if let Some(Predictions::Classes { chosen, .. }) = &mine
                && let Some(key) = copy.key
                && let Some(rows) = chosen.get(at..at + n)
            {
                pending.keep_shadow(key, served.version, rows, now);
            }
            at += n;
        }
        served.shadow_rows_differing.increment(differing as u64);
        served
            .window
            .shadowed(total as u64, differing as u64, failed as u64);
    }
}

/// Rows on which `answered` differs from `mine` from row `at` on: another class, or another
/// value.
fn differences(mine: &Predictions, at: usize, answered: &Predictions) -> usize {
    match (mine, answered) {
        (Predictions::Classes { chosen: x, .. }, Predictions::Classes { chosen: y, .. }) => {
            x.iter().skip(at).zip(y).filter(|(x, y)| x != y).count()
        }
        (Predictions::Values(x), Predictions::Values(y)) => x
            .iter()
            .skip(at)
            .zip(y)
            .filter(|(x, y)| (*x - *y).abs() > 1e-9 * x.abs().max(y.abs()).max(1.0))
            .count(),
        _ => answered.rows(),
    }
}
