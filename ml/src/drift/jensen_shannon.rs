//! The Jensen–Shannon distance of two count vectors over the same bins (natural
//! logarithm, as scipy's `jensenshannon`).

use super::total;

/// `sqrt((KL(p || m) + KL(q || m)) / 2)` with `m` the mean of the two shares.
pub fn distance(reference: &[u64], live: &[u64]) -> f64 {
    let (n, m) = (total(reference), total(live));
    if n == 0.0 || m == 0.0 {
        return 0.0;
    }
    let divergence: f64 = reference
        .iter()
        .zip(live)
        .map(|(r, l)| {
            let (p, q) = (*r as f64 / n, *l as f64 / m);
            let mid = (p + q) / 2.0;
            kl(p, mid) + kl(q, mid)
        })
        .sum();
    (divergence / 2.0).max(0.0).sqrt()
}

fn kl(p: f64, m: f64) -> f64 {
    if p > 0.0 { p * (p / m).ln() } else { 0.0 }
}
