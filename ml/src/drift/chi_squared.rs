//! Pearson's chi-squared goodness of fit of live counts against the reference's shares,
//! and its p-value (scipy's `chisquare` with expected counts from the reference).

use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::total;

/// The statistic and its degrees of freedom. Bins the reference never filled expect
/// nothing and are left out (values there count as unseen, a signal of their own).
pub fn statistic(reference: &[u64], live: &[u64]) -> (f64, usize) {
    let (n, m) = (total(reference), total(live));
    if n == 0.0 || m == 0.0 {
        return (0.0, 0);
    }
    let kept: Vec<(f64, f64)> = reference
        .iter()
        .zip(live)
        .filter(|(r, _)| **r > 0)
        .map(|(r, l)| (*r as f64 / n, *l as f64))
        .collect();
    let kept_total: f64 = kept.iter().map(|(_, l)| l).sum();
    let shares: f64 = kept.iter().map(|(p, _)| p).sum();
    let chi = kept
        .iter()
        .map(|(p, l)| {
            let expected = p / shares * kept_total;
            (l - expected).powi(2) / expected
        })
        .sum();
    (chi, kept.len().saturating_sub(1))
}

/// `P(X > chi)` for a chi-squared variable with `dof` degrees of freedom.
pub fn p_value(chi: f64, dof: usize) -> f64 {
    if dof == 0 {
        return 1.0;
    }
    ChiSquared::new(dof as f64).map_or(1.0, |d| d.sf(chi))
}
