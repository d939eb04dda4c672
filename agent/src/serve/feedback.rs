//! Ground truth after the fact: the labels a classifier predicted, kept by request id for a
//! bounded time and number, so that `POST /v2/models/{name}/feedback` can say whether each
//! was right and count it in the answering version's window (live accuracy).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::model::Served;

/// How long a prediction waits for its feedback.
pub const KEEP_FOR: Duration = Duration::from_secs(3600);
/// Most predictions kept at once (over all shards); the oldest go first.
pub const KEEP_AT_MOST: usize = 100_000;
const SHARDS: usize = 16;

struct Entry {
    served: Arc<Served>,
    labels: Vec<String>,
    at: Instant,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<String, Entry>,
    order: VecDeque<String>,
}

/// Predictions waiting for their ground truth.
pub struct Pending {
    shards: Vec<Mutex<Shard>>,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
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
    fn shard(&self, id: &str) -> &Mutex<Shard> {
        let hash = id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        &self.shards[hash % SHARDS]
    }

    /// Keeps what `served` predicted for request `id`.
    pub fn keep(&self, id: &str, served: &Arc<Served>, labels: &[String]) {
        let mut shard = self.shard(id).lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while let Some(oldest) = shard.order.front() {
            let expired = shard
                .entries
                .get(oldest)
                .is_none_or(|e| now.duration_since(e.at) > KEEP_FOR);
            if !expired && shard.order.len() < KEEP_AT_MOST / SHARDS {
                break;
            }
            if let Some(oldest) = shard.order.pop_front() {
                shard.entries.remove(&oldest);
            }
        }
        let entry = Entry {
            served: served.clone(),
            labels: labels.to_vec(),
            at: now,
        };
        if shard.entries.insert(id.to_string(), entry).is_none() {
            shard.order.push_back(id.to_string());
        }
    }

    /// Judges the true `labels` of request `id` to model `model` against what was
    /// predicted, once.
    pub fn judge(&self, model: &str, id: &str, labels: &[String]) -> Judged {
        let entry = {
            let mut shard = self.shard(id).lock().unwrap_or_else(|e| e.into_inner());
            match shard.entries.get(id) {
                Some(entry) if entry.at.elapsed() <= KEEP_FOR && entry.served.name == model => {}
                _ => return Judged::Unknown,
            }
            match shard.entries.remove(id) {
                Some(entry) => entry,
                None => return Judged::Unknown,
            }
        };
        if entry.labels.len() != labels.len() {
            return Judged::WrongRows {
                expected: entry.labels.len(),
            };
        }
        let mut correct = 0;
        for (predicted, truth) in entry.labels.iter().zip(labels) {
            let right = predicted == truth;
            correct += usize::from(right);
            entry.served.window.feedback(right);
        }
        Judged::Matched {
            rows: labels.len(),
            correct,
        }
    }
}
