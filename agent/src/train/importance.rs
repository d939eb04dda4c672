//! Permutation importance: how much a model's score drops when one input column's values are
//! shuffled across rows (all of its model features together, so a one-hot column moves as
//! one), averaged over a few seeded shuffles. Measured at training time on the held-out rows
//! and, while serving, on recent labelled feedback, with the same code.

use std::ops::Range;

use ndarray::Array2;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::model::{Model, most_probable};

/// Shuffles per column.
const REPEATS: u64 = 3;

/// The score drop per input column (`spans` of `x`'s columns), for `score`, higher better.
pub fn permutation(
    x: &Array2<f64>,
    spans: &[Range<usize>],
    score: impl Fn(&Array2<f64>) -> f64,
    seed: u64,
) -> Vec<f64> {
    let base = score(x);
    let rows = x.nrows();
    spans
        .iter()
        .enumerate()
        .map(|(i, span)| {
            let drops: f64 = (0..REPEATS)
                .map(|repeat| {
                    let mut order: Vec<usize> = (0..rows).collect();
                    order.shuffle(&mut StdRng::seed_from_u64(seed ^ (i as u64) << 8 ^ repeat));
                    let mut shuffled = x.clone();
                    for (to, &from) in order.iter().enumerate() {
                        for c in span.clone() {
                            shuffled[[to, c]] = x[[from, c]];
                        }
                    }
                    base - score(&shuffled)
                })
                .sum();
            drops / REPEATS as f64
        })
        .collect()
}

/// Accuracy of a classifier on features `x` against the true class indices.
pub fn accuracy(model: &Model, classes: usize, x: &Array2<f64>, truth: &[usize]) -> f64 {
    let chosen = most_probable(&model.probabilities(x, classes));
    let right = chosen.iter().zip(truth).filter(|(a, b)| a == b).count();
    right as f64 / truth.len().max(1) as f64
}

/// The spread [`scaled_rmse`] divides by: the targets' standard deviation.
pub fn spread(targets: &[f64]) -> f64 {
    let n = targets.len().max(1) as f64;
    let mean = targets.iter().sum::<f64>() / n;
    (targets.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / n)
        .sqrt()
        .max(f64::EPSILON)
}

/// Minus the root mean squared error of a regressor over the targets' `spread` (so higher is
/// better and the drop is relative).
pub fn scaled_rmse(model: &Model, x: &Array2<f64>, targets: &[f64], spread: f64) -> f64 {
    let n = targets.len().max(1) as f64;
    let predicted = model.values(x);
    let mse = predicted
        .iter()
        .zip(targets)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / n;
    -mse.sqrt() / spread
}
