//! Scoring one column's live counts against its reference: the statistic, the method
//! chosen by column type and size, and the verdict.

use drover_protocol::drift::{ColumnCounts, ColumnDrift, ColumnReference, Method, Shape, Status};

use super::{chi_squared, jensen_shannon, ks, psi, wasserstein};

/// A column whose reference holds fewer values than this is scored with KS (numbers) or
/// chi-squared (labels); from it, with Wasserstein and Jensen–Shannon, as the common drift
/// libraries choose. The choice rests on the reference, so a column keeps its method (and
/// its calibrated thresholds) however the live window's size moves.
pub const LARGE_SAMPLE: u64 = 1_000;

/// How a column is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judging {
    /// Fewest live values for a verdict; fewer is inconclusive.
    pub min_samples: u64,
    /// Largest live share of NaN, infinite or unseen values that is no drift.
    pub invalid_share: f64,
    /// Largest rise of the share of missing values over the reference's that is no drift.
    pub null_rise: f64,
}

impl Default for Judging {
    fn default() -> Self {
        Self {
            min_samples: 100,
            invalid_share: 0.01,
            null_rise: 0.05,
        }
    }
}

/// The method for a column of this shape whose reference holds `values` values.
pub fn default_method(shape: &Shape, values: u64) -> Method {
    match (shape, values < LARGE_SAMPLE) {
        (Shape::Numeric { .. }, true) => Method::Ks,
        (Shape::Numeric { .. }, false) => Method::Wasserstein,
        (Shape::Categorical { .. }, true) => Method::ChiSquared,
        (Shape::Categorical { .. }, false) => Method::JensenShannon,
    }
}

/// The statistic of `live` counts against `reference` counts over the bins of `shape`.
/// Methods for numbers only score a categorical shape with Jensen–Shannon.
pub fn score(method: Method, shape: &Shape, reference: &[u64], live: &[u64]) -> f64 {
    match (method, shape) {
        (Method::Psi, _) => psi::psi(reference, live),
        (Method::JensenShannon, _) => jensen_shannon::distance(reference, live),
        (Method::ChiSquared, _) => chi_squared::statistic(reference, live).0,
        (Method::Ks, Shape::Numeric { .. }) => ks::binned(reference, live),
        (
            Method::Wasserstein,
            Shape::Numeric {
                edges,
                min,
                max,
                std,
                ..
            },
        ) => wasserstein::binned(reference, live, edges, *min, *max) / std.max(f64::EPSILON),
        (Method::Ks | Method::Wasserstein, Shape::Categorical { .. }) => {
            jensen_shannon::distance(reference, live)
        }
    }
}

/// The verdict on one column: its score against `threshold`, then its missing and invalid
/// values as signals of their own.
pub fn judge(
    reference: &ColumnReference,
    live: &ColumnCounts,
    method: Method,
    threshold: f64,
    judging: &Judging,
) -> ColumnDrift {
    let seen = live.seen();
    let samples = live.total();
    let share = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    let reference_null_share = share(reference.nulls, reference.nulls + reference.total());
    let null_share = share(live.nulls, seen);
    let invalid_share = share(live.invalid, seen);
    let score = if live.counts.len() == reference.counts.len() {
        score(method, &reference.shape, &reference.counts, &live.counts)
    } else {
        f64::NAN
    };
    let mut reasons = Vec::new();
    let status = if seen < judging.min_samples || !score.is_finite() {
        Status::Inconclusive
    } else {
        if samples >= judging.min_samples && score > threshold {
            reasons.push(format!("{method} {score:.4} > {threshold:.4}"));
        }
        if null_share - reference_null_share > judging.null_rise {
            reasons.push(format!(
                "missing {:.1}% (reference {:.1}%)",
                null_share * 100.0,
                reference_null_share * 100.0
            ));
        }
        if invalid_share > judging.invalid_share {
            reasons.push(format!(
                "{:.1}% NaN, infinite or unseen",
                invalid_share * 100.0
            ));
        }
        if reasons.is_empty() {
            Status::Stable
        } else {
            Status::Drifted
        }
    };
    let shares = |counts: &[u64]| {
        let total = counts.iter().sum::<u64>().max(1) as f64;
        counts
            .iter()
            .map(|&c| c as f64 / total)
            .collect::<Vec<f64>>()
    };
    ColumnDrift {
        bins: reference.shape.bin_names(),
        reference_shares: shares(&reference.counts),
        live_shares: shares(&live.counts),
        column: reference.name.clone(),
        method,
        score: if score.is_finite() { score } else { 0.0 },
        threshold,
        samples,
        null_share,
        reference_null_share,
        invalid_share,
        status,
        reason: reasons.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::reference;

    fn x() -> ColumnReference {
        reference::numeric("x", (0..1_000).map(|v| Some((v % 100) as f64)))
    }

    #[test]
    fn an_empty_or_small_window_is_inconclusive_never_drifted() {
        let r = x();
        let empty = ColumnCounts::empty(r.counts.len());
        let judged = judge(&r, &empty, Method::Ks, 0.1, &Judging::default());
        assert_eq!(
            (judged.status, judged.samples, judged.score),
            (Status::Inconclusive, 0, 0.0)
        );
        let mut few = ColumnCounts::empty(r.counts.len());
        few.counts[0] = 50;
        let judged = judge(&r, &few, Method::Ks, 0.1, &Judging::default());
        assert_eq!(
            judged.status,
            Status::Inconclusive,
            "50 values, all in one bin"
        );
    }

    #[test]
    fn missing_and_invalid_values_are_drift_signals_of_their_own() {
        let r = x();
        let mut live = ColumnCounts::empty(r.counts.len());
        for (bin, count) in live.counts.iter_mut().zip(&r.counts) {
            *bin = *count;
        }
        let stable = judge(&r, &live, Method::Ks, 0.1, &Judging::default());
        assert_eq!(stable.status, Status::Stable);
        live.invalid = 50;
        let invalid = judge(&r, &live, Method::Ks, 0.1, &Judging::default());
        assert_eq!(invalid.status, Status::Drifted);
        assert!(
            invalid.reason.contains("NaN, infinite or unseen"),
            "{}",
            invalid.reason
        );
        live.invalid = 0;
        live.nulls = 200;
        let nulls = judge(&r, &live, Method::Ks, 0.1, &Judging::default());
        assert!(nulls.reason.contains("missing"), "{}", nulls.reason);
    }

    #[test]
    fn sketches_of_other_bins_are_inconclusive() {
        let r = x();
        let mut odd = ColumnCounts::empty(3);
        odd.counts[0] = 500;
        assert_eq!(
            judge(&r, &odd, Method::Psi, 0.1, &Judging::default()).status,
            Status::Inconclusive
        );
    }
}
