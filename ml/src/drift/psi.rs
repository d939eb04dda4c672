//! The population stability index of two count vectors over the same bins.

use super::total;

/// The share an empty bin is taken to have, so the logarithm stays finite (as the common
/// drift libraries do).
pub const EMPTY_SHARE: f64 = 1e-4;

/// `sum (live - ref) ln(live / ref)` over bin shares, empty bins at [`EMPTY_SHARE`].
pub fn psi(reference: &[u64], live: &[u64]) -> f64 {
    let (n, m) = (total(reference), total(live));
    if n == 0.0 || m == 0.0 {
        return 0.0;
    }
    reference
        .iter()
        .zip(live)
        .map(|(r, l)| {
            let p = (*r as f64 / n).max(EMPTY_SHARE);
            let q = (*l as f64 / m).max(EMPTY_SHARE);
            (q - p) * (q / p).ln()
        })
        .sum()
}
