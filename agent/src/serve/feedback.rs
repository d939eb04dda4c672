//! Ground truth after the fact: the classes a classifier predicted, kept by request id for a
//! bounded time and number, so that `POST /v2/models/{name}/feedback` can say whether each
//! was right and count it in the answering version's window (live accuracy).
//!
//! The store is a fixed table, set-associative like a CPU cache: a model and request id hash
//! (with a per-process random key, so ids cannot be chosen to collide) to one set of [`WAYS`]
//! slots, and a new prediction takes an empty or expired slot there, or else the oldest one.
//! Keeping a prediction touches one set, whatever the traffic; memory is fixed at
//! [`KEEP_AT_MOST`] (and [`QUEUED`] per shard waiting for their place). An entry names its
//! version by number, so a version unloaded since is freed at once (its feedback is then
//! unknown). What a shadow version predicted for the same request is kept in the same set
//! under a hash of its own (of the request's key and the version), so feedback scores the
//! shadow too.

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
    /// Its place in the order predictions were kept in its shard (the oldest goes first).
    seq: u64,
    /// Seconds since the table was made.
    at: u32,
    version: u32,
    chosen: Chosen,
}

type Set = [Option<Entry>; WAYS];

/// Predictions a shard has taken but not yet placed in its sets.
const QUEUED: usize = 32;

/// One lock's share of the sets, allocated when it keeps its first prediction. New
/// predictions queue up and are placed [`QUEUED`] at a time: each lands in a set anywhere in
/// the table (most likely not in the CPU's cache), and placing many together lets their
/// fetches from memory overlap instead of taking one after another. A lookup places the
/// queue first.
#[derive(Default)]
struct Shard {
    kept: u64,
    sets: Vec<Set>,
    /// Each waiting prediction's set, and its entry (numbered in order when it is placed).
    queue: Vec<(usize, Entry)>,
}

impl Shard {
    /// Takes the prediction `chosen` of `version` made at `at`, for set `set` under `hash`;
    /// places the queue once it is full.
    fn push(&mut self, hash: u64, set: usize, at: u32, version: u32, chosen: &[usize]) {
        let entry = Entry {
            hash,
            seq: 0,
            at,
            version,
            chosen: Chosen::of(chosen),
        };
        self.queue.push((set, entry));
        if self.queue.len() >= QUEUED {
            self.place_queue();
        }
    }

    /// Places every queued prediction: in an empty or expired slot of its set, or the one of
    /// the same request, or else the oldest one's.
    fn place_queue(&mut self) {
        if self.sets.is_empty() {
            self.sets.resize_with(SETS_PER_SHARD, Default::default);
        }
        // Reading every set first costs loads that do not wait on one another, so the CPU
        // fetches the sets from memory together, and the placing below finds them cached.
        let seen = self.queue.iter().fold(0, |seen, (set, _)| {
            self.sets[*set]
                .iter()
                .fold(seen, |seen, e| seen ^ e.as_ref().map_or(0, |e| e.hash))
        });
        std::hint::black_box(seen);
        for (set, mut entry) in self.queue.drain(..) {
            self.kept += 1;
            entry.seq = self.kept;
            let slots = &mut self.sets[set];
            let reusable = |e: &Option<Entry>| {
                e.as_ref()
                    .is_none_or(|e| e.hash == entry.hash || !Pending::fresh(e.at, entry.at))
            };
            let at = slots.iter().position(reusable).unwrap_or_else(|| {
                (0..WAYS)
                    .min_by_key(|&i| slots[i].as_ref().map(|e| e.seq))
                    .unwrap_or(0)
            });
            slots[at] = Some(entry);
        }
    }
}

/// Predictions waiting for their ground truth.
pub struct Pending {
    hasher: RandomState,
    epoch: Instant,
    shards: Vec<Mutex<Shard>>,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            epoch: Instant::now(),
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
    /// The keyed hash of `model` and `id`.
    fn hash(&self, model: &str, id: &str) -> u64 {
        self.hasher.hash_one((model, id))
    }

    /// Where shadow version `version`'s prediction for the request with `key` is kept.
    fn shadow_hash(&self, key: u64, version: u32) -> u64 {
        self.hasher.hash_one((key, version))
    }

    /// The shard of `hash`, and its set in the shard.
    fn split(hash: u64) -> (usize, usize) {
        let shard = (hash % SHARDS as u64) as usize;
        let set = ((hash / SHARDS as u64) % SETS_PER_SHARD as u64) as usize;
        (shard, set)
    }

    /// Seconds from when the table was made to `at`.
    fn seconds(&self, at: Instant) -> u32 {
        let seconds = at.saturating_duration_since(self.epoch).as_secs();
        u32::try_from(seconds).unwrap_or(u32::MAX)
    }

    /// Seconds since the table was made.
    fn now(&self) -> u32 {
        self.seconds(Instant::now())
    }

    /// Whether an entry made at `at` is still waiting at `now`.
    fn fresh(at: u32, now: u32) -> bool {
        u64::from(now.saturating_sub(at)) <= KEEP_FOR.as_secs()
    }

    /// The key of request `id` to `model`: a keyed hash, which ids cannot be chosen to
    /// collide under.
    pub fn key(&self, model: &str, id: &str) -> u64 {
        self.hash(model, id)
    }

    /// Keeps the classes `model@version` predicted (indices in its classes) for request `id`,
    /// made at `at`; returns the request's [key](Self::key).
    pub fn keep(&self, model: &str, version: u32, id: &str, chosen: &[usize], at: Instant) -> u64 {
        let key = self.hash(model, id);
        self.place(key, key, version, chosen, at);
        key
    }

    /// Keeps the classes shadow version `version` predicted for the request with `key` (the
    /// [key](Self::key) of its model and id) at `at`, in the set of the request's answer:
    /// placed soon after it, most often in the same queue, it finds that set in the CPU's cache.
    pub fn keep_shadow(&self, key: u64, version: u32, chosen: &[usize], at: Instant) {
        self.place(self.shadow_hash(key, version), key, version, chosen, at);
    }

    /// Keeps a prediction made at `at` under `hash` in the set of request `key`.
    fn place(&self, hash: u64, key: u64, version: u32, chosen: &[usize], at: Instant) {
        let (shard, set) = Self::split(key);
        let at = self.seconds(at);
        let mut shard = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        shard.push(hash, set, at, version, chosen);
    }

    /// Judges the true `labels` of request `id` to `model` against what was predicted, once;
    /// `loaded` gives the version that predicted it, if it is still loaded.
    pub fn judge(
        &self,
        model: &str,
        id: &str,
        labels: &[String],
        loaded: impl FnOnce(u32) -> Option<Arc<Served>>,
    ) -> Judged {
        let key = self.hash(model, id);
        self.judge_at(key, key, labels, loaded)
    }

    /// Judges the true `labels` of request `id` against what shadow version `model@version`
    /// predicted for it, once, counting them in that version's window.
    pub fn judge_shadow(
        &self,
        model: &str,
        version: u32,
        id: &str,
        labels: &[String],
        loaded: impl FnOnce(u32) -> Option<Arc<Served>>,
    ) -> Judged {
        let key = self.hash(model, id);
        self.judge_at(self.shadow_hash(key, version), key, labels, loaded)
    }

    /// Judges `labels` against the prediction kept under `hash` in the set of request `key`.
    fn judge_at(
        &self,
        hash: u64,
        key: u64,
        labels: &[String],
        loaded: impl FnOnce(u32) -> Option<Arc<Served>>,
    ) -> Judged {
        let (shard, set) = Self::split(key);
        let shard = &self.shards[shard];
        let now = self.now();
        let entry = {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.place_queue();
            let Some(slots) = shard.sets.get_mut(set) else {
                return Judged::Unknown;
            };
            let kept = slots.iter_mut().find(|e| {
                e.as_ref()
                    .is_some_and(|e| e.hash == hash && Self::fresh(e.at, now))
            });
            match kept.and_then(Option::take) {
                Some(entry) => entry,
                None => return Judged::Unknown,
            }
        };
        let Some(served) = loaded(entry.version) else {
            return Judged::Unknown;
        };
        let chosen = entry.chosen.as_slice();
        if chosen.len() != labels.len() {
            return Judged::WrongRows {
                expected: chosen.len(),
            };
        }
        let classes = served.classes();
        let mut correct = 0;
        for (&predicted, truth) in chosen.iter().zip(labels) {
            let right = classes.get(predicted as usize) == Some(truth);
            correct += usize::from(right);
            served.window.feedback(right);
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
    fn a_shadow_prediction_is_judged_apart_from_the_answer() {
        let served = served();
        let high = served
            .classes()
            .iter()
            .position(|c| c == "high")
            .expect("class");
        let low = 1 - high;
        let pending = Pending::default();
        let key = pending.keep("m", 1, "r1", &[high], Instant::now());
        pending.keep_shadow(key, 1, &[low], Instant::now());
        let labels = vec!["high".to_string()];
        let loaded = |v: u32| (v == 1).then(|| served.clone());
        assert_eq!(
            pending.judge("m", "r1", &labels, loaded),
            Judged::Matched {
                rows: 1,
                correct: 1
            }
        );
        assert_eq!(
            pending.judge_shadow("m", 1, "r1", &labels, loaded),
            Judged::Matched {
                rows: 1,
                correct: 0
            },
            "the shadow's own prediction, still there after the answer was judged"
        );
        assert_eq!(
            pending.judge_shadow("m", 2, "r1", &labels, loaded),
            Judged::Unknown
        );
        assert_eq!(
            pending.judge_shadow("m", 1, "r1", &labels, loaded),
            Judged::Unknown
        );
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
        pending.keep("m", 1, "a", &[high], Instant::now());
        pending.keep("m", 1, "b", &[high, high], Instant::now());
        pending.keep("m", 1, "c", &[high], Instant::now());
        let loaded = |v: u32| (v == 1).then(|| served.clone());
        let judge = |model: &str, id: &str, labels: &[&str]| {
            let labels: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
            pending.judge(model, id, &labels, loaded)
        };
        assert_eq!(judge("other", "a", &["high"]), Judged::Unknown);
        assert_eq!(
            judge("m", "a", &["high"]),
            Judged::Matched {
                rows: 1,
                correct: 1
            }
        );
        assert_eq!(judge("m", "a", &["high"]), Judged::Unknown, "judged once");
        assert_eq!(judge("m", "b", &["low"]), Judged::WrongRows { expected: 2 });
        assert_eq!(judge("m", "never", &["low"]), Judged::Unknown);
        assert_eq!(
            pending.judge("m", "c", &["high".into()], |_| None),
            Judged::Unknown,
            "a version unloaded since"
        );
        let (window, _) = served.window.take(0);
        assert_eq!((window.feedback, window.correct), (1, 1));
    }

    #[test]
    fn the_newest_predictions_stay_in_a_fixed_table() {
        let served = served();
        let pending = Pending::default();
        let total = 2 * KEEP_AT_MOST;
        for i in 0..total {
            pending.keep("m", 1, &format!("r{i}"), &[0], Instant::now());
        }
        let slots: usize = pending
            .shards
            .iter()
            .map(|s| s.lock().expect("shard").sets.len() * WAYS)
            .sum();
        assert!(
            slots <= KEEP_AT_MOST && slots > KEEP_AT_MOST - SHARDS * WAYS,
            "the table is its fixed size: {slots}"
        );
        let kept = |ids: std::ops::Range<usize>| {
            let n = ids.len();
            let found = ids
                .filter(|i| {
                    let judged = pending.judge("m", &format!("r{i}"), &["x".into()], |_| {
                        Some(served.clone())
                    });
                    judged != Judged::Unknown
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
