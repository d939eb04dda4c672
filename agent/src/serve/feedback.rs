//! Ground truth after the fact: the classes a classifier predicted, kept by request id for a
//! bounded time and number, so that `POST /v2/models/{name}/feedback` can say whether each
//! was right and count it in the answering version's window (live accuracy).
//!
//! The store is a fixed table, set-associative like a CPU cache: a request id hashes (with a
//! per-process random key, so ids cannot be chosen to collide) to one set of [`WAYS`] slots,
//! and a new prediction takes an empty or expired slot there, or else the oldest one. Keeping
//! a prediction touches one set, whatever the traffic; memory is fixed at [`KEEP_AT_MOST`].

use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::model::Served;

/// How long a prediction waits for its feedback.
pub const KEEP_FOR: Duration = Duration::from_secs(3600);
/// Most predictions kept at once; past that, each new one replaces the oldest of its set.
pub const KEEP_AT_MOST: usize = 100_000;
/// Slots per set.
const WAYS: usize = 4;
/// Locks, each over an equal share of the sets.
const SHARDS: usize = 16;
const SETS_PER_SHARD: usize = KEEP_AT_MOST / WAYS / SHARDS;

/// The classes predicted for one request: one row's inline, a batch's on the heap.
enum Chosen {
    One(u32),
    Many(Box<[u32]>),
}

impl Chosen {
    fn of(chosen: &[usize]) -> Self {
        let index = |c: usize| u32::try_from(c).unwrap_or(u32::MAX);
        match chosen {
            [one] => Chosen::One(index(*one)),
            many => Chosen::Many(many.iter().map(|&c| index(c)).collect()),
        }
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            Chosen::One(one) => std::slice::from_ref(one),
            Chosen::Many(many) => many,
        }
    }
}

struct Entry {
    hash: u64,
    at: Instant,
    served: Arc<Served>,
    chosen: Chosen,
}

type Set = [Option<Entry>; WAYS];

/// Predictions waiting for their ground truth.
pub struct Pending {
    hasher: RandomState,
    /// Each shard's sets, allocated when it keeps its first prediction.
    shards: Vec<Mutex<Vec<Set>>>,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

/// What feedback on one request came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Judged {
    /// Matched: how many rows, and how many the model got right.
    Matched { rows: usize, correct: usize },
    /// No prediction with that id is kept (unknown, already judged, or expired).
    Unknown,
    /// The request had another number of rows.
    WrongRows { expected: usize },
}

impl Pending {
    /// The hash of `id`, its shard, and its set's index in the shard.
    fn place(&self, id: &str) -> (u64, &Mutex<Vec<Set>>, usize) {
        let hash = self.hasher.hash_one(id);
        let shard = &self.shards[(hash % SHARDS as u64) as usize];
        let set = ((hash / SHARDS as u64) % SETS_PER_SHARD as u64) as usize;
        (hash, shard, set)
    }

    /// Keeps the classes `served` predicted (indices in its classes) for request `id`.
    pub fn keep(&self, id: &str, served: &Arc<Served>, chosen: &[usize]) {
        let (hash, shard, set) = self.place(id);
        let mut sets = shard.lock().unwrap_or_else(|e| e.into_inner());
        if sets.is_empty() {
            sets.resize_with(SETS_PER_SHARD, Default::default);
        }
        let now = Instant::now();
        let slots = &mut sets[set];
        let reusable = |e: &Option<Entry>| {
            e.as_ref()
                .is_none_or(|e| e.hash == hash || now.duration_since(e.at) > KEEP_FOR)
        };
        let at = slots.iter().position(reusable).unwrap_or_else(|| {
            (0..WAYS)
                .min_by_key(|&i| slots[i].as_ref().map(|e| e.at))
                .unwrap_or(0)
        });
        slots[at] = Some(Entry {
            hash,
            at: now,
            served: served.clone(),
            chosen: Chosen::of(chosen),
        });
    }

    /// Judges the true `labels` of request `id` to model `model` against what was
    /// predicted, once.
    pub fn judge(&self, model: &str, id: &str, labels: &[String]) -> Judged {
        let (hash, shard, set) = self.place(id);
        let entry = {
            let mut sets = shard.lock().unwrap_or_else(|e| e.into_inner());
            let Some(slots) = sets.get_mut(set) else {
                return Judged::Unknown;
            };
            let kept = slots.iter_mut().find(|e| {
                e.as_ref().is_some_and(|e| {
                    e.hash == hash && e.at.elapsed() <= KEEP_FOR && e.served.name == model
                })
            });
            match kept.and_then(Option::take) {
                Some(entry) => entry,
                None => return Judged::Unknown,
            }
        };
        let chosen = entry.chosen.as_slice();
        if chosen.len() != labels.len() {
            return Judged::WrongRows {
                expected: chosen.len(),
            };
        }
        let classes = entry.served.classes();
        let mut correct = 0;
        for (&predicted, truth) in chosen.iter().zip(labels) {
            let right = classes.get(predicted as usize) == Some(truth);
            correct += usize::from(right);
            entry.served.window.feedback(right);
        }
        Judged::Matched {
            rows: labels.len(),
            correct,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::stop::Stop;

    /// A classifier of `label` from `x`, loaded as `m@1`.
    fn served() -> Arc<Served> {
        let mut csv = String::from("x,label\n");
        for i in 0..60 {
            csv.push_str(&format!("{i},{}\n", if i < 30 { "low" } else { "high" }));
        }
        let table = drover_ml::table::parse(csv.as_bytes()).expect("csv");
        let spec = drover_protocol::spec::TrainSpec::from_toml(
            "experiment = \"t\"\nmodel = \"m\"\ndataset = \"t\"\ntarget = \"label\"\ntask = \"classification\"\nalgorithm = \"decision_tree\"\nseed = 7\n",
        )
        .expect("spec");
        let trained = crate::train::train(&spec, &table, None, None, &mut |_| {}, &Stop::default())
            .expect("trained");
        Arc::new(Served::load("m", 1, &trained.artifact).expect("loads"))
    }

    #[test]
    fn feedback_is_judged_once_against_what_was_predicted() {
        let served = served();
        let high = served
            .classes()
            .iter()
            .position(|c| c == "high")
            .expect("class");
        let pending = Pending::default();
        pending.keep("a", &served, &[high]);
        pending.keep("b", &served, &[high, high]);
        let truth = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            pending.judge("other", "a", &truth(&["high"])),
            Judged::Unknown
        );
        assert_eq!(
            pending.judge("m", "a", &truth(&["high"])),
            Judged::Matched {
                rows: 1,
                correct: 1
            }
        );
        assert_eq!(pending.judge("m", "a", &truth(&["high"])), Judged::Unknown);
        assert_eq!(
            pending.judge("m", "b", &truth(&["low"])),
            Judged::WrongRows { expected: 2 }
        );
        assert_eq!(
            pending.judge("m", "never", &truth(&["low"])),
            Judged::Unknown
        );
        let window = served.window.take(0);
        assert_eq!((window.feedback, window.correct), (1, 1));
    }

    #[test]
    fn the_newest_predictions_stay_in_a_fixed_table() {
        let served = served();
        let pending = Pending::default();
        let total = 2 * KEEP_AT_MOST;
        for i in 0..total {
            pending.keep(&format!("r{i}"), &served, &[0]);
        }
        let slots: usize = pending
            .shards
            .iter()
            .map(|s| s.lock().expect("shard").len() * WAYS)
            .sum();
        assert!(
            slots <= KEEP_AT_MOST && slots > KEEP_AT_MOST - SHARDS * WAYS,
            "the table is its fixed size: {slots}"
        );
        let kept = |ids: std::ops::Range<usize>| {
            let n = ids.len();
            let found = ids
                .filter(|i| {
                    pending.judge("m", &format!("r{i}"), &["x".to_string()]) != Judged::Unknown
                })
                .count();
            found as f64 / n as f64
        };
        let newest = kept(total - KEEP_AT_MOST / 2..total);
        let oldest = kept(0..KEEP_AT_MOST / 2);
        assert!(newest > 0.9, "{newest} of the newest half-table are kept");
        // A set that few later ids reached still holds old predictions (about 9%): they are
        // within their hour, and the table is no bigger for it.
        assert!(oldest < 0.2, "{oldest} of the oldest are still kept");
    }
}
