//! Ground truth after the fact: the classes a classifier predicted, kept under a prediction
//! id the agent issued in its answer (128 random bits: never the client's choice, so it can be
//! neither guessed nor reused) for a bounded time and number, so that
//! `POST /v2/models/{name}/feedback` can say whether each row was right and count it in the
//! answering version's window (live accuracy).
//!
//! The store is a fixed table, set-associative like a CPU cache: a model and prediction id
//! hash (with a per-process random key) to one set of [`WAYS`] slots, and a new prediction
//! takes an empty or expired slot there, or else the oldest one. Keeping a prediction touches
//! one set, whatever the traffic; its slots are fixed at [`KEEP_AT_MOST`] (and [`QUEUED`] per
//! shard waiting for their place), and the classes of batches, kept apart, at
//! [`BATCH_BYTES`] (`drover_agent_feedback_batch_bytes`; a batch past it gets no prediction
//! id). An entry names its version by number, so a version unloaded since is freed at once
//! (its feedback is then unknown). What a shadow version predicted for the same request is
//! kept in the same set under a hash of its own (of the request's key and the version), so
//! feedback scores the shadow too. A prediction of a version the request pinned is judged but
//! counted in no window: a rollout's evidence comes from the traffic the split sent.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::model::Served;

/// How long a prediction waits for its feedback.
pub const KEEP_FOR: Duration = Duration::from_secs(3600);
/// Most predictions kept at once; past that, each new one replaces the oldest of its set.
pub const KEEP_AT_MOST: usize = 100_000;
/// Bytes the classes of kept batches may take in all.
pub const BATCH_BYTES: usize = 32 << 20;
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

    /// Bytes it holds beyond its slot.
    fn heap_bytes(&self) -> usize {
        match self {
            Chosen::One(_) => 0,
            Chosen::Many(many) => std::mem::size_of_val(&**many),
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
    /// Whether its feedback counts in the version's window (not when the request pinned it).
    counted: bool,
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
    /// Takes `entry` for set `set`; places the queue once it is full (freeing from `held` the
    /// batches it replaces).
    fn push(&mut self, set: usize, entry: Entry, held: &AtomicUsize) {
        self.queue.push((set, entry));
        if self.queue.len() >= QUEUED {
            self.place_queue(held);
        }
    }

    /// Places every queued prediction: in an empty or expired slot of its set, or the one of
    /// the same request, or else the oldest one's; what it replaces is freed from `held`.
    fn place_queue(&mut self, held: &AtomicUsize) {
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
            if let Some(old) = slots[at].replace(entry) {
                release(held, old.chosen.heap_bytes());
            }
        }
    }
}

/// Frees `bytes` of kept batches from `held`.
fn release(held: &AtomicUsize, bytes: usize) {
    if bytes > 0 {
        let now = held.fetch_sub(bytes, Ordering::Relaxed) - bytes;
        metrics::gauge!("drover_agent_feedback_batch_bytes").set(now as f64);
    }
}

/// Predictions waiting for their ground truth.
pub struct Pending {
    hasher: RandomState,
    epoch: Instant,
    shards: Vec<Mutex<Shard>>,
    /// Bytes the classes of kept batches take.
    held: AtomicUsize,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            epoch: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            held: AtomicUsize::new(0),
        }
    }
}

/// The id of a kept prediction, as the answer gives it: 128 random bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PredictionId(u128);

impl PredictionId {
    fn new() -> Self {
        Self(rand::random())
    }

    /// An id as a client sends it back (32 hex digits), if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u128::from_str_radix(text, 16).ok().map(Self))
            .flatten()
    }
}

impl std::fmt::Display for PredictionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A prediction kept for its feedback: the id its answer gives, and its key.
#[derive(Debug, Clone, Copy)]
pub struct Kept {
    pub id: PredictionId,
    /// The keyed hash of its model and id (what shadows and sampled rows are kept under).
    pub key: u64,
}

/// What feedback on one request came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Judged {
    /// Matched: how many rows, how many the model got right, and how many of them counted
    /// in its version's window.
    Matched {
        rows: usize,
        correct: usize,
        counted: usize,
    },
    /// No prediction with that id is kept (unknown, already judged, or expired).
    Unknown,
    /// The request had another number of rows.
    WrongRows { expected: usize },
}

impl Pending {
    /// The keyed hash of `model` and `id`.
    fn hash(&self, model: &str, id: PredictionId) -> u64 {
        self.hasher.hash_one((model, id.0))
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

    /// The key of prediction `id` of `model`: a keyed hash.
    pub fn key(&self, model: &str, id: PredictionId) -> u64 {
        self.hash(model, id)
    }

    /// Keeps the classes `model@version` predicted (indices in its classes) at `at`, under a
    /// new prediction id; `counted` when its feedback counts in the version's window. `None`
    /// when it is a batch and kept batches already hold [`BATCH_BYTES`].
    pub fn keep(
        &self,
        model: &str,
        version: u32,
        chosen: &[usize],
        at: Instant,
        counted: bool,
    ) -> Option<Kept> {
        let id = PredictionId::new();
        let key = self.hash(model, id);
        self.place(key, key, version, chosen, at, counted)
            .then_some(Kept { id, key })
    }

    /// Keeps the classes shadow version `version` predicted for the request with `key` (the
    /// [key](Self::key) of its model and id) at `at`, in the set of the request's answer:
    /// placed soon after it, most often in the same queue, it finds that set in the CPU's cache.
    pub fn keep_shadow(&self, key: u64, version: u32, chosen: &[usize], at: Instant) {
        self.place(
            self.shadow_hash(key, version),
            key,
            version,
            chosen,
            at,
            true,
        );
    }

    /// Keeps a prediction made at `at` under `hash` in the set of request `key`, unless it is
    /// a batch that would take kept batches past [`BATCH_BYTES`].
    fn place(
        &self,
        hash: u64,
        key: u64,
        version: u32,
        chosen: &[usize],
        at: Instant,
        counted: bool,
    ) -> bool {
        let chosen = Chosen::of(chosen);
        let bytes = chosen.heap_bytes();
        if bytes > 0 {
            let held = self.held.fetch_add(bytes, Ordering::Relaxed) + bytes;
            if held > BATCH_BYTES {
                release(&self.held, bytes);
                metrics::counter!("drover_agent_feedback_unkept_total").increment(1);
                return false;
            }
            metrics::gauge!("drover_agent_feedback_batch_bytes").set(held as f64);
        }
        let (shard, set) = Self::split(key);
        let entry = Entry {
            hash,
            seq: 0,
            at: self.seconds(at),
            version,
            counted,
            chosen,
        };
        let mut shard = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        shard.push(set, entry, &self.held);
        true
    }

    /// Judges the true `labels` of prediction `id` of `model` against what was predicted,
    /// once, counting at most `allowance` rows in the version's window; `loaded` gives the
    /// version that predicted it, if it is still loaded.
    pub fn judge(
        &self,
        model: &str,
        id: PredictionId,
        labels: &[String],
        allowance: usize,
        loaded: impl FnOnce(u32) -> Option<Arc<Served>>,
    ) -> Judged {
        let key = self.hash(model, id);
        self.judge_at(key, key, labels, allowance, loaded)
    }

    /// Judges the true `labels` of prediction `id` against what shadow version
    /// `model@version` predicted for its request, once, counting at most `allowance` rows in
    /// that version's window.
    pub fn judge_shadow(
        &self,
        (model, version): (&str, u32),
        id: PredictionId,
        labels: &[String],
        allowance: usize,
        loaded: impl FnOnce(u32) -> Option<Arc<Served>>,
    ) -> Judged {
        let key = self.hash(model, id);
        self.judge_at(
            self.shadow_hash(key, version),
            key,
            labels,
            allowance,
            loaded,
        )
    }

    /// Judges `labels` against the prediction kept under `hash` in the set of request `key`.
    fn judge_at(
        &self,
        hash: u64,
        key: u64,
        labels: &[String],
        allowance: usize,
        loaded: impl FnOnce(u32) -> Option<Arc<Served>>,
    ) -> Judged {
        let (shard, set) = Self::split(key);
        let shard = &self.shards[shard];
        let now = self.now();
        let entry = {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.place_queue(&self.held);
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
        release(&self.held, entry.chosen.heap_bytes());
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
        let counted = if entry.counted {
            allowance.min(labels.len())
        } else {
            0
        };
        let mut correct = 0;
        for (row, (&predicted, truth)) in chosen.iter().zip(labels).enumerate() {
            let right = classes.get(predicted as usize) == Some(truth);
            correct += usize::from(right);
            if row < counted {
                served.window.feedback(right);
            }
        }
        Judged::Matched {
            rows: labels.len(),
            correct,
            counted,
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

    /// The index of class `name` of `served`.
    fn class(served: &Served, name: &str) -> usize {
        served
            .classes()
            .iter()
            .position(|c| c == name)
            .expect("class")
    }

    #[test]
    fn a_shadow_prediction_is_judged_apart_from_the_answer() {
        let served = served();
        let high = class(&served, "high");
        let low = 1 - high;
        let pending = Pending::default();
        let kept = pending
            .keep("m", 1, &[high], Instant::now(), true)
            .expect("kept");
        pending.keep_shadow(kept.key, 1, &[low], Instant::now());
        let labels = vec!["high".to_string()];
        let loaded = |v: u32| (v == 1).then(|| served.clone());
        let matched = |correct| Judged::Matched {
            rows: 1,
            correct,
            counted: 1,
        };
        assert_eq!(pending.judge("m", kept.id, &labels, 9, loaded), matched(1));
        assert_eq!(
            pending.judge_shadow(("m", 1), kept.id, &labels, 9, loaded),
            matched(0),
            "the shadow's own prediction, still there after the answer was judged"
        );
        assert_eq!(
            pending.judge_shadow(("m", 2), kept.id, &labels, 9, loaded),
            Judged::Unknown
        );
        assert_eq!(
            pending.judge_shadow(("m", 1), kept.id, &labels, 9, loaded),
            Judged::Unknown
        );
    }

    #[test]
    fn feedback_is_judged_once_against_what_was_predicted_and_counted_as_allowed() {
        let served = served();
        let high = class(&served, "high");
        let pending = Pending::default();
        let keep = |chosen: &[usize], counted| {
            pending
                .keep("m", 1, chosen, Instant::now(), counted)
                .expect("kept")
                .id
        };
        let (a, b, c) = (
            keep(&[high], true),
            keep(&[high; 2], true),
            keep(&[high], true),
        );
        let (d, pinned) = (keep(&[high; 3], true), keep(&[high], false));
        let loaded = |v: u32| (v == 1).then(|| served.clone());
        let judge = |model: &str, id, labels: &[&str], allowance| {
            let labels: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
            pending.judge(model, id, &labels, allowance, loaded)
        };
        let matched = |rows, correct, counted| Judged::Matched {
            rows,
            correct,
            counted,
        };
        assert_eq!(judge("other", a, &["high"], 9), Judged::Unknown);
        assert_eq!(judge("m", a, &["high"], 9), matched(1, 1, 1));
        assert_eq!(judge("m", a, &["high"], 9), Judged::Unknown, "judged once");
        assert_eq!(
            judge("m", b, &["low"], 9),
            Judged::WrongRows { expected: 2 }
        );
        assert_eq!(
            judge("m", PredictionId::new(), &["low"], 9),
            Judged::Unknown
        );
        assert_eq!(
            pending.judge("m", c, &["high".into()], 9, |_| None),
            Judged::Unknown,
            "a version unloaded since"
        );
        assert_eq!(
            judge("m", d, &["high", "high", "low"], 2),
            matched(3, 2, 2),
            "judged whole, counted as far as allowed"
        );
        assert_eq!(
            judge("m", pinned, &["high"], 9),
            matched(1, 1, 0),
            "a pinned version's prediction counts in no window"
        );
        let (window, _) = served.window.take(0);
        assert_eq!((window.feedback, window.correct), (3, 3));
    }

    #[test]
    fn ids_are_issued_not_chosen_and_read_back_only_whole() {
        let id = PredictionId::new();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(PredictionId::parse(&text), Some(id));
        assert_ne!(PredictionId::new(), id);
        for forged in [
            "",
            "req-1",
            &text[1..],
            &format!("{text}0"),
            "+0000000000000000000000000000001",
        ] {
            assert_eq!(PredictionId::parse(forged), None, "{forged:?}");
        }
    }

    #[test]
    fn kept_batches_stay_within_their_bytes() {
        let pending = Pending::default();
        let batch = vec![0usize; 1 << 20];
        let kept = (0..16)
            .filter(|_| pending.keep("m", 1, &batch, Instant::now(), true).is_some())
            .count();
        assert_eq!(
            kept,
            BATCH_BYTES / (4 << 20),
            "batches past the budget are not kept"
        );
        assert!(pending.held.load(Ordering::Relaxed) <= BATCH_BYTES);
        assert!(
            pending.keep("m", 1, &[0], Instant::now(), true).is_some(),
            "one row is kept in its slot whatever batches hold"
        );
    }

    #[test]
    fn the_newest_predictions_stay_in_a_fixed_table() {
        let served = served();
        let pending = Pending::default();
        let total = 2 * KEEP_AT_MOST;
        let ids: Vec<PredictionId> = (0..total)
            .map(|_| {
                pending
                    .keep("m", 1, &[0], Instant::now(), true)
                    .expect("kept")
                    .id
            })
            .collect();
        let slots: usize = pending
            .shards
            .iter()
            .map(|s| s.lock().expect("shard").sets.len() * WAYS)
            .sum();
        assert!(
            slots <= KEEP_AT_MOST && slots > KEEP_AT_MOST - SHARDS * WAYS,
            "the table is its fixed size: {slots}"
        );
        let kept = |range: std::ops::Range<usize>| {
            let n = range.len();
            let found = ids[range]
                .iter()
                .filter(|&&id| {
                    let judged = pending.judge("m", id, &["x".into()], 1, |_| Some(served.clone()));
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
