//! Drift: the statistics comparing live or current data with a reference, one file per
//! statistic, the reference profiles models carry, thresholds calibrated from them, the
//! verdict on a live window, and the offline comparison of two tables.

pub mod calibrate;
pub mod chi_squared;
pub mod compare;
pub mod jensen_shannon;
pub mod ks;
pub mod psi;
pub mod rank;
pub mod reference;
pub mod score;
pub mod wasserstein;

#[cfg(test)]
mod fixtures;

/// How many values counts over bins hold, as a float for shares.
fn total(counts: &[u64]) -> f64 {
    counts.iter().sum::<u64>() as f64
}
