//! Ground truth after the fact: the labels a classifier predicted, kept by request id for a
//! bounded time and number, so that `POST /v2/models/{name}/feedback` can say whether each
//! was right and count it in the answering version's window (live accuracy).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::model::Served;

/// How long a prediction waits for its feedback.
pub const KEEP_FOR: Duration = Duration::from_secs(3600);
/// Most predictions kept at once (over all shards); the oldest go first.
pub const KEEP_AT_MOST: usize = 100_000;
const SHARDS: usize = 16;

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
    served: Arc<Served>,
    chosen: Chosen,
    at: Instant,
}

/// Entries by a keyed hash of their request id (the key is random per process, so ids
/// cannot be chosen to collide), and the hashes in the order they came.
#[derive(Default)]
struct Shard {
    entries: HashMap<u64, Entry>,
    order: VecDeque<(u64, Instant)>,
}

/// Predictions waiting for their ground truth.
pub struct Pending {
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
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
    fn shard(&self, id: &str) -> (u64, &Mutex<Shard>) {
        let hash = self.hasher.hash_one(id);
        (hash, &self.shards[(hash % SHARDS as u64) as usize])
    }

    /// Keeps the classes `served` predicted (indices in its classes) for request `id`.
    pub fn keep(&self, id: &str, served: &Arc<Served>, chosen: &[usize]) {
        let (hash, shard) = self.shard(id);
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while let Some(&(oldest, at)) = shard.order.front() {
            if now.duration_since(at) <= KEEP_FOR && shard.order.len() < KEEP_AT_MOST / SHARDS {
                break;
            }
            shard.order.pop_front();
            if shard.entries.get(&oldest).is_some_and(|e| e.at == at) {
                shard.entries.remove(&oldest);
            }
        }
        let entry = Entry {
            served: served.clone(),
            chosen: Chosen::of(chosen),
            at: now,
        };
        shard.entries.insert(hash, entry);
        shard.order.push_back((hash, now));
    }

    /// Judges the true `labels` of request `id` to model `model` against what was
    /// predicted, once.
    pub fn judge(&self, model: &str, id: &str, labels: &[String]) -> Judged {
        let (hash, shard) = self.shard(id);
        let entry = {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            match shard.entries.get(&hash) {
                Some(entry) if entry.at.elapsed() <= KEEP_FOR && entry.served.name == model => {}
                _ => return Judged::Unknown,
            }
            match shard.entries.remove(&hash) {
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
