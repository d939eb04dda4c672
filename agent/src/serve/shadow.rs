//! Shadow versions: each gets a copy of the rows a request carried, off the request's path,
//! and counts how often its answer differs from the one the caller got, and how often it
//! fails to answer. Copies wait in a queue bounded in count ([`QUEUE`]) and in bytes
//! ([`QUEUE_BYTES`] of rows, shown as `drover_shadow_queue_bytes`); a copy past either is
//! dropped and counted, so shadows never delay callers nor hold memory without bound. One
//! worker takes what has queued up and predicts it as one batch per shadow version; a batch
//! of large requests' rows on the blocking pool, so it never stalls the async workers. A shadow that takes other inputs than
//! the version that answered reads each of its own by name from the request's rows; a row
//! that lacks one counts as a failure of the shadow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::catalog::ShadowSet;
use super::feedback::Pending;
use super::model::{Predictions, Served};
use super::request::Rows;

/// Copies waiting for the shadow worker; more are dropped.
pub const QUEUE: usize = 1024;
/// Bytes of rows waiting for the shadow worker; a copy past them is dropped.
pub const QUEUE_BYTES: usize = 64 << 20;
/// A batch of at least this many bytes of rows is predicted on the blocking pool; smaller
/// ones (the copies of one-row requests) right on the worker, which is cheaper.
const LARGE_BATCH: usize = 1 << 20;
/// Most copies the worker answers at once.
const BATCH: usize = 256;
/// How long the worker waits after a batch, so that the next one gathers the copies of many
/// requests instead of one (a copy's answer is never awaited by anyone).
const GATHER: Duration = Duration::from_millis(1);

/// A request's rows (as the version that answered read them), the answer its caller got, the
/// shadow versions to ask, and the request's feedback key (under which feedback will score
/// each shadow's prediction), if it has one.
struct Copy {
    versions: ShadowSet,
    from: Arc<Served>,
    rows: Rows,
    answered: Predictions,
    key: Option<u64>,
}

/// The shadow queue.
#[derive(Clone)]
pub struct Shadows {
    queue: mpsc::Sender<Copy>,
    /// Bytes of the rows queued.
    queued: Arc<AtomicUsize>,
    dropped: metrics::Counter,
}

/// What a copy's rows take, roughly: their cells (text past them not counted).
fn bytes_of(rows: &Rows) -> usize {
    std::mem::size_of_val(rows.cells())
}

impl Shadows {
    /// Starts the worker on the current runtime; shadows' predictions are kept in `pending`
    /// for feedback.
    pub fn start(pending: Arc<Pending>) -> Self {
        let (queue, mut copies) = mpsc::channel::<Copy>(QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = queued.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while copies.recv_many(&mut batch, BATCH).await > 0 {
                let freed: usize = batch.iter().map(|c| bytes_of(&c.rows)).sum();
                if freed < LARGE_BATCH {
                    answer(&batch, &pending);
                    batch.clear();
                } else {
                    let pending = pending.clone();
                    let answered = tokio::task::spawn_blocking(move || {
                        answer(&batch, &pending);
                        batch.clear();
                        batch
                    });
                    batch = match answered.await {
                        Ok(batch) => batch,
                        Err(e) => {
                            tracing::error!(cause = %e, "a shadow batch failed");
                            Vec::with_capacity(BATCH)
                        }
                    };
                }
                let left = taken.fetch_sub(freed, Ordering::Relaxed) - freed;
                metrics::gauge!("drover_shadow_queue_bytes").set(left as f64);
                tokio::time::sleep(GATHER).await;
            }
        });
        Self {
            queue,
            queued,
            dropped: metrics::counter!("drover_shadow_dropped_total"),
        }
    }

    /// Queues a copy of `rows` for `versions`, unless the queue is full; `key` is the
    /// request's feedback key, when its answer was kept for feedback.
    pub fn send(
        &self,
        versions: Option<ShadowSet>,
        (from, rows): (&Arc<Served>, Rows),
        answered: Predictions,
        key: Option<u64>,
    ) {
        let Some(versions) = versions else {
            return;
        };
        let bytes = bytes_of(&rows);
        if self.queued.fetch_add(bytes, Ordering::Relaxed) + bytes > QUEUE_BYTES {
            self.queued.fetch_sub(bytes, Ordering::Relaxed);
            self.dropped.increment(1);
            return;
        }
        let copy = Copy {
            versions,
            from: from.clone(),
            rows,
            answered,
            key,
        };
        if self.queue.try_send(copy).is_err() {
            self.queued.fetch_sub(bytes, Ordering::Relaxed);
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
        let total: usize = copies.iter().map(|c| c.rows.rows()).sum();
        let mut rows = Rows::with_capacity(served.inputs().len(), total);
        let mut unreadable = 0;
        served.shadow_requests.increment(copies.len() as u64);
        let copies: Vec<&Copy> = copies
            .into_iter()
            .filter(|copy| {
                let read = stack(&mut rows, copy, served);
                unreadable += if read { 0 } else { copy.rows.rows() };
                read
            })
            .collect();
        let mine = served.predict(&rows).ok();
        let failed = unreadable + if mine.is_some() { 0 } else { rows.rows() };
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

/// Appends `copy`'s rows to `rows` as `shadow` reads them: as they are when it takes the
/// inputs of the version that answered, else each of its inputs picked by name; false (and
/// nothing appended) when the request lacks one of them.
fn stack(rows: &mut Rows, copy: &Copy, shadow: &Served) -> bool {
    let (from, to) = (copy.from.inputs(), shadow.inputs());
    if from == to {
        copy.rows.cells().iter().cloned().for_each(|c| rows.push(c));
        return true;
    }
    let picks: Option<Vec<usize>> = to
        .iter()
        .map(|input| from.iter().position(|f| f == input))
        .collect();
    let Some(picks) = picks else {
        return false;
    };
    for row in copy.rows.cells().chunks(from.len().max(1)) {
        picks.iter().for_each(|&at| rows.push(row[at].clone()));
    }
    true
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::pipeline::Cell;
    use crate::train::stop::Stop;

    /// A classifier of `label` from `features`, loaded as `m@version`; the table has columns
    /// x, y and z, and the label follows y.
    fn served(version: u32, features: &str) -> Arc<Served> {
        let mut csv = String::from("x,y,z,label\n");
        for i in 0..60 {
            let label = if i < 30 { "low" } else { "high" };
            csv.push_str(&format!("{},{i},{},{label}\n", i % 7, i % 5));
        }
        let table = drover_ml::table::parse(csv.as_bytes()).expect("csv");
        let spec = drover_protocol::spec::TrainSpec::from_toml(&format!(
            "experiment = \"t\"\nmodel = \"m\"\ndataset = \"t\"\ntarget = \"label\"\ntask = \"classification\"\nalgorithm = \"decision_tree\"\nseed = 7\nfeatures = [{features}]\n"
        ))
        .expect("spec");
        let trained = crate::train::train(&spec, &table, None, None, &mut |_| {}, &Stop::default())
            .expect("trained");
        Arc::new(Served::load("m", version, &trained.artifact).expect("loads"))
    }

    /// A request's rows as `served` reads them, with the answer it gave.
    fn copy(served: &Arc<Served>, shadow: &Arc<Served>, ys: &[f64]) -> Copy {
        let mut rows = Rows::with_capacity(served.inputs().len(), ys.len());
        for &y in ys {
            for (name, _) in served.inputs() {
                let value = if name == "y" { y } else { 1.0 };
                rows.push(Cell::Number(value));
            }
        }
        let answered = served.predict(&rows).expect("answered");
        Copy {
            versions: Arc::from(vec![shadow.clone()]),
            from: served.clone(),
            rows,
            answered,
            key: None,
        }
    }

    #[tokio::test]
    async fn queued_copies_stay_within_their_bytes() {
        let served = served(1, "\"y\"");
        let shadows = Shadows::start(Arc::new(Pending::default()));
        // A current-thread runtime: the worker takes nothing until this test yields.
        let cells = (QUEUE_BYTES / 2 + 1) / std::mem::size_of::<Cell>();
        for _ in 0..3 {
            let rows = Rows::from_cells(vec![Cell::Number(1.0); cells], 1).expect("rows");
            let versions: ShadowSet = Arc::from(vec![served.clone()]);
            shadows.send(
                Some(versions),
                (&served, rows),
                Predictions::Values(Vec::new()),
                None,
            );
        }
        let queued = shadows.queued.load(Ordering::Relaxed);
        assert!(queued <= QUEUE_BYTES, "{queued} bytes queued");
        assert!(
            queued > QUEUE_BYTES / 2,
            "one copy queued, the others dropped"
        );
    }

    #[test]
    fn a_shadow_with_other_inputs_reads_its_own_by_name_or_fails_the_row() {
        let baseline = served(1, "\"x\", \"y\"");
        let reordered = served(2, "\"y\"");
        let needs_z = served(3, "\"y\", \"z\"");
        assert_ne!(baseline.inputs(), reordered.inputs());
        let pending = Pending::default();
        let ys = [3.0, 10.0, 40.0, 55.0];
        answer(&[copy(&baseline, &reordered, &ys)], &pending);
        let (_, shadow) = reordered.window.take(0);
        let shadow = shadow.expect("it shadowed");
        assert_eq!((shadow.rows, shadow.failed), (4, 0), "y read by name");
        assert_eq!(shadow.differing, 0, "the label follows y for both");

        answer(&[copy(&baseline, &needs_z, &ys)], &pending);
        let (_, shadow) = needs_z.window.take(0);
        let shadow = shadow.expect("it shadowed");
        assert_eq!((shadow.rows, shadow.failed), (4, 4), "no z in the request");
    }
}
