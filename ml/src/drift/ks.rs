//! The two-sample Kolmogorov–Smirnov statistic: the largest gap between two cumulative
//! shares, exact on sorted samples or over shared bins, and its asymptotic p-value.

use super::total;

/// The statistic of two sorted samples (NaN-free, ascending).
pub fn statistic(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut gap) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        gap = gap.max((i as f64 / n - j as f64 / m).abs());
    }
    gap
}

/// The statistic of two count vectors over the same ordered bins: the largest gap between
/// their cumulative shares at the bins' edges (a lower bound of the exact statistic).
pub fn binned(reference: &[u64], live: &[u64]) -> f64 {
    let (n, m) = (total(reference), total(live));
    if n == 0.0 || m == 0.0 {
        return 0.0;
    }
    let (mut a, mut b, mut gap) = (0.0, 0.0, 0.0f64);
    for (r, l) in reference.iter().zip(live) {
        a += *r as f64;
        b += *l as f64;
        gap = gap.max((a / n - b / m).abs());
    }
    gap
}

/// The two-sided p-value of statistic `d` for samples of `n` and `m` values, from the
/// limiting Kolmogorov distribution at `sqrt(n m / (n + m)) d` (scipy's `kstwobign.sf`).
pub fn p_value(d: f64, n: usize, m: usize) -> f64 {
    if n == 0 || m == 0 {
        return 1.0;
    }
    let en = (n as f64 * m as f64) / (n + m) as f64;
    kolmogorov_sf(en.sqrt() * d)
}

/// `P(K > x)` for the Kolmogorov distribution.
pub fn kolmogorov_sf(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < 1.0 {
        // The alternating series converges slowly here; use the Jacobi theta form of the
        // CDF: sqrt(2 pi)/x * sum exp(-(2k-1)^2 pi^2 / (8 x^2)).
        let f = -std::f64::consts::PI.powi(2) / (8.0 * x * x);
        let cdf = (2.0 * std::f64::consts::PI).sqrt() / x
            * (1..=20)
                .map(|k| (f * ((2 * k - 1) as f64).powi(2)).exp())
                .sum::<f64>();
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    let sum: f64 = (1..=100)
        .map(|k| {
            let sign = if k % 2 == 1 { 1.0 } else { -1.0 };
            sign * (-2.0 * (k * k) as f64 * x * x).exp()
        })
        .sum();
    (2.0 * sum).clamp(0.0, 1.0)
}
