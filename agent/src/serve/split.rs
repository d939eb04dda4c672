//! The traffic split of a deployment: which version answers a request. Weighted; sticky by
//! key with weighted rendezvous hashing, so a key keeps its version on every agent and across
//! restarts, and a weight change moves only the keys it must; random without a key. Shadow
//! versions never answer: they get copies.
//!
//! A key's score for a version comes from rapidhash V3 of the key seeded with the version
//! number (the reference implementation's `rapidhash_withSeed`): portable and stable, so
//! every agent scores a key alike, and a few nanoseconds for a short key.

use drover_protocol::serve::Deployment;
use rapidhash::v3::{RapidSecrets, rapidhash_v3_seeded};

/// How a deployment's requests are shared out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Versions that answer, with their weights.
    variants: Vec<(u32, u32)>,
    /// Versions that get a copy of each request.
    pub shadows: Vec<u32>,
}

/// A key's score for a version: a uniform draw in (0, 1) from the key and version.
fn draw(key: &[u8], version: u32) -> f64 {
    let secrets = RapidSecrets::seed_cpp(u64::from(version));
    (rapidhash_v3_seeded(key, &secrets) as f64 + 0.5) / (u64::MAX as f64 + 1.0)
}

impl Split {
    /// The split a deployment asks for.
    pub fn of(deployment: &Deployment) -> Self {
        Self {
            variants: deployment
                .variants
                .iter()
                .filter(|v| !v.shadow)
                .map(|v| (v.version, v.weight))
                .collect(),
            shadows: deployment
                .variants
                .iter()
                .filter(|v| v.shadow)
                .map(|v| v.version)
                .collect(),
        }
    }

    /// The version that answers: by `key` when the request has one, else by `roll` (uniform
    /// over `u64`), among the versions `ready` accepts. `None` when none is ready.
    pub fn pick(&self, key: Option<&[u8]>, roll: u64, ready: impl Fn(u32) -> bool) -> Option<u32> {
        let live = || {
            self.variants
                .iter()
                .copied()
                .filter(|(v, w)| *w > 0 && ready(*v))
        };
        match key {
            Some(key) => live()
                .map(|(v, w)| (v, f64::from(w) / -draw(key, v).ln()))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(v, _)| v),
            None => {
                let total: u64 = live().map(|(_, w)| u64::from(w)).sum();
                let mut at = roll.checked_rem(total)?;
                live().find_map(|(v, w)| {
                    if at < u64::from(w) {
                        Some(v)
                    } else {
                        at -= u64::from(w);
                        None
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use drover_protocol::hash::ContentHash;
    use drover_protocol::serve::Variant;

    use super::*;

    fn split(weights: &[(u32, u32, bool)]) -> Split {
        Split::of(&Deployment {
            model: "m".into(),
            variants: weights
                .iter()
                .map(|&(version, weight, shadow)| Variant {
                    version,
                    artifact_hash: ContentHash::of(b"x"),
                    weight,
                    shadow,
                })
                .collect(),
            selector: Default::default(),
            updated_ms: 0,
        })
    }

    #[test]
    fn ninety_ten_is_ninety_ten_and_keys_stick() {
        let split = split(&[(1, 90, false), (2, 10, false), (3, 0, true)]);
        assert_eq!(split.shadows, [3]);
        let n = 20_000u32;
        let keyed = (0..n)
            .filter(|i| split.pick(Some(format!("user-{i}").as_bytes()), 0, |_| true) == Some(2))
            .count() as f64;
        let rolled = (0..n)
            .filter(|i| split.pick(None, u64::from(*i) * 7919, |_| true) == Some(2))
            .count() as f64;
        // 10% of 20,000: the standard deviation is about 42, so 4 of them is 170.
        for share in [keyed, rolled] {
            assert!((share - 2_000.0).abs() < 170.0, "{share}");
        }
        let first = split.pick(Some(b"user-7"), 1, |_| true);
        assert!((0..50).all(|r| split.pick(Some(b"user-7"), r, |_| true) == first));
        assert_eq!(
            Split::clone(&split).pick(Some(b"user-7"), 99, |_| true),
            first,
            "the same key on another agent"
        );
    }

    /// Through a canary's steps a key that reached the candidate stays on it: rising weights
    /// only ever move keys from the baseline to the candidate.
    #[test]
    fn keys_stick_to_the_candidate_through_the_steps() {
        let steps = [5, 25, 50, 100];
        let mut on_candidate = std::collections::BTreeSet::new();
        for weight in steps {
            let split = split(&[(1, 100 - weight, false), (2, weight, false)]);
            let now: std::collections::BTreeSet<u32> = (0..5_000)
                .filter(|i| split.pick(Some(format!("k{i}").as_bytes()), 0, |_| true) == Some(2))
                .collect();
            assert!(on_candidate.is_subset(&now), "a key went back at {weight}%");
            let share = now.len() as f64 / 5_000.0;
            assert!(
                (share - f64::from(weight) / 100.0).abs() < 0.03,
                "{weight}%: {share}"
            );
            on_candidate = now;
        }
    }

    #[test]
    fn only_ready_versions_answer_and_a_weight_change_moves_few_keys() {
        let even = split(&[(1, 50, false), (2, 50, false)]);
        assert_eq!(even.pick(Some(b"k"), 0, |v| v == 1), Some(1));
        assert_eq!(even.pick(None, 3, |_| false), None);
        let shifted = split(&[(1, 40, false), (2, 60, false)]);
        let moved = (0..10_000)
            .filter(|i| {
                let key = format!("k{i}");
                even.pick(Some(key.as_bytes()), 0, |_| true)
                    != shifted.pick(Some(key.as_bytes()), 0, |_| true)
            })
            .count();
        assert!(moved < 1_500, "only about 10% should move, {moved} did");
    }
}
