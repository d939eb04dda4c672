//! The Wasserstein-1 (earth mover's) distance between two distributions on the line,
//! exact on sorted samples (scipy's `wasserstein_distance`) or over shared bins.

use super::total;

/// The distance between two sorted samples (NaN-free, ascending).
pub fn distance(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    let mut last = a[0].min(b[0]);
    let mut area = 0.0;
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        area += (i as f64 / n - j as f64 / m).abs() * (x - last);
        last = x;
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
    }
    area
}

/// The distance between two count vectors over the bins `edges` cut (bin `i` between
/// `edges[i-1]` and `edges[i]`, the outer bins reaching `min` and `max`), each bin's mass
/// at its middle.
pub fn binned(reference: &[u64], live: &[u64], edges: &[f64], min: f64, max: f64) -> f64 {
    let (n, m) = (total(reference), total(live));
    if n == 0.0 || m == 0.0 || reference.len() != edges.len() + 1 {
        return 0.0;
    }
    let bound = |i: usize| -> f64 {
        match i {
            0 => min.min(edges.first().copied().unwrap_or(min)),
            i if i > edges.len() => max.max(edges.last().copied().unwrap_or(max)),
            i => edges[i - 1],
        }
    };
    let middle = |i: usize| (bound(i) + bound(i + 1)) / 2.0;
    let (mut a, mut b, mut area) = (0.0, 0.0, 0.0);
    for i in 0..reference.len().saturating_sub(1) {
        a += reference[i] as f64 / n;
        b += live[i] as f64 / m;
        area += (a - b).abs() * (middle(i + 1) - middle(i));
    }
    area
}
