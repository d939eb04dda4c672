//! Recent labelled rows of a served classifier, for feature importance on live feedback: one
//! request in [`SAMPLE_ONE_IN`] (a one-row request, picked by its key: the keyed hash of its
//! model and id that [`super::feedback::Pending::key`] gives, so ids cannot be chosen to
//! collide) keeps its cells in a fixed table of [`SLOTS`]; when its true label arrives the
//! row joins a ring of the last [`RING`] labelled rows. Memory is fixed whatever the traffic,
//! and an unsampled request costs one division.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::train::pipeline::Cell;

/// One request in this many keeps its row.
pub const SAMPLE_ONE_IN: u64 = 8;
/// Rows waiting for their label.
const SLOTS: usize = 1_024;
/// Labelled rows kept.
pub const RING: usize = 512;

/// A row waiting for its label, under its request id's hash.
type Waiting = Mutex<Option<(u64, Vec<Cell>)>>;

/// A version's sampled rows and its recent labelled ones.
pub struct Labelled {
    waiting: Vec<Waiting>,
    ring: Mutex<VecDeque<(Vec<Cell>, usize)>>,
}

impl std::fmt::Debug for Labelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Labelled").finish_non_exhaustive()
    }
}

impl Default for Labelled {
    fn default() -> Self {
        Self {
            waiting: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
            ring: Mutex::new(VecDeque::with_capacity(RING)),
        }
    }
}

impl Labelled {
    /// The slot of the request with `key`, if the request is sampled.
    fn slot(&self, key: u64) -> Option<&Waiting> {
        key.is_multiple_of(SAMPLE_ONE_IN)
            .then(|| &self.waiting[(key / SAMPLE_ONE_IN) as usize % SLOTS])
    }

    /// Keeps the one row `cells` of the request with `key`, when the request is sampled.
    pub fn offer(&self, key: u64, cells: &[Cell]) {
        if let Some(slot) = self.slot(key) {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, cells.to_vec()));
        }
    }

    /// The true class of the request with `key` arrived: its row, if kept, joins the
    /// labelled ring.
    pub fn label(&self, key: u64, class: usize) {
        let Some(slot) = self.slot(key) else {
            return;
        };
        let taken = {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            match slot.take() {
                Some((kept, cells)) if kept == key => Some(cells),
                other => {
                    *slot = other;
                    None
                }
            }
        };
        if let Some(cells) = taken {
            let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
            if ring.len() == RING {
                ring.pop_front();
            }
            ring.push_back((cells, class));
        }
    }

    /// The labelled rows: their cells row after row, and their true classes.
    pub fn rows(&self) -> (Vec<Cell>, Vec<usize>) {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let mut cells = Vec::new();
        let mut classes = Vec::with_capacity(ring.len());
        for (row, class) in ring.iter() {
            cells.extend(row.iter().cloned());
            classes.push(*class);
        }
        (cells, classes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampled_rows_join_the_ring_when_their_label_arrives_and_the_ring_is_bounded() {
        use std::hash::BuildHasher;
        let keys = std::hash::RandomState::new();
        let labelled = Labelled::default();
        for i in 0..20_000 {
            let key = keys.hash_one(format!("r{i}"));
            labelled.offer(key, &[Cell::Number(i as f64)]);
            labelled.label(key, i % 2);
        }
        let (cells, classes) = labelled.rows();
        assert_eq!(classes.len(), RING, "bounded");
        assert_eq!(cells.len(), RING);
        labelled.label(keys.hash_one("never-offered"), 1);
        assert_eq!(labelled.rows().1.len(), RING);
        let Cell::Number(last) = cells[RING - 1] else {
            panic!("a number");
        };
        assert!(last > 19_000.0, "the newest rows are kept: {last}");
    }
}
