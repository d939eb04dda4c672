//! Thresholds calibrated from the reference itself: the score's distribution when nothing
//! changed, found by drawing reference-sized and live-sized samples from the reference's
//! bin shares many times, and its `1 - false_alarm` quantile taken as the threshold. A
//! fixed cut-off (PSI 0.2, say) fires on small unchanged samples; this one does not.

use drover_protocol::drift::{ColumnReference, Method};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Binomial, Distribution, StandardNormal};

use super::score;

/// Samples drawn per calibration.
pub const DRAWS: usize = 1_000;

/// The score `method` stays under, on `live` values drawn from the reference's own
/// distribution, with probability `1 - false_alarm`. The same inputs give the same
/// threshold (a fixed seed).
pub fn threshold(reference: &ColumnReference, method: Method, live: u64, false_alarm: f64) -> f64 {
    let total = reference.total();
    if total == 0 || live == 0 {
        return f64::INFINITY;
    }
    let shares: Vec<f64> = reference
        .counts
        .iter()
        .map(|&c| c as f64 / total as f64)
        .collect();
    let mut rng = StdRng::seed_from_u64(live ^ (reference.counts.len() as u64) << 32);
    let mut scores: Vec<f64> = (0..DRAWS)
        .map(|_| {
            let again = multinomial(&mut rng, total, &shares);
            let drawn = multinomial(&mut rng, live, &shares);
            score::score(method, &reference.shape, &again, &drawn)
        })
        .collect();
    scores.sort_unstable_by(f64::total_cmp);
    let rank = ((1.0 - false_alarm.clamp(0.0, 1.0)) * (DRAWS - 1) as f64).ceil() as usize;
    scores[rank.min(DRAWS - 1)]
}

/// Counts of `n` draws over bins of the given shares, one binomial per bin given the draws
/// left; a binomial expecting at least [`NORMAL_FROM`] successes and failures is drawn from
/// its normal approximation (several times faster, and as good at those counts).
fn multinomial(rng: &mut StdRng, n: u64, shares: &[f64]) -> Vec<u64> {
    let mut left = n;
    let mut mass = 1.0;
    shares
        .iter()
        .map(|&share| {
            if left == 0 || mass <= 0.0 {
                return 0;
            }
            let p = (share / mass).clamp(0.0, 1.0);
            mass -= share;
            let mean = left as f64 * p;
            let k = if mean >= NORMAL_FROM && left as f64 - mean >= NORMAL_FROM {
                let z: f64 = StandardNormal.sample(rng);
                (mean + z * (mean * (1.0 - p)).sqrt())
                    .round()
                    .clamp(0.0, left as f64) as u64
            } else {
                Binomial::new(left, p).map_or(0, |b| b.sample(rng))
            };
            left -= k;
            k
        })
        .collect()
}

/// Expected successes (and failures) from which a binomial is drawn as a normal.
const NORMAL_FROM: f64 = 30.0;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::reference;
    use rand::Rng;

    #[test]
    fn multinomial_draws_sum_to_n() {
        let mut rng = StdRng::seed_from_u64(1);
        let counts = multinomial(&mut rng, 1_000, &[0.5, 0.25, 0.25]);
        assert_eq!(counts.iter().sum::<u64>(), 1_000);
        assert!(counts[0] > 400 && counts[0] < 600, "{counts:?}");
    }

    #[test]
    fn thresholds_shrink_as_live_windows_grow() {
        let mut rng = StdRng::seed_from_u64(2);
        let values: Vec<Option<f64>> = (0..5_000).map(|_| Some(rng.r#gen::<f64>())).collect();
        let r = reference::numeric("x", values.into_iter());
        let small = threshold(&r, Method::Psi, 100, 0.01);
        let large = threshold(&r, Method::Psi, 10_000, 0.01);
        assert!(small > 4.0 * large, "{small} vs {large}");
        assert!(
            small > 0.2,
            "a fixed PSI cut-off of 0.2 fires on 100 unchanged values: {small}"
        );
        assert_eq!(
            small,
            threshold(&r, Method::Psi, 100, 0.01),
            "deterministic"
        );
    }

    /// Unchanged data: fresh live windows from the distribution the reference was drawn
    /// from, every method, never more false alarms than the configured rate allows (with
    /// three standard deviations of slack for the simulation's own noise).
    #[test]
    fn calibrated_thresholds_keep_false_alarms_at_the_configured_rate() {
        let mut rng = StdRng::seed_from_u64(11);
        let normal = |rng: &mut StdRng| {
            let (u1, u2): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.r#gen());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        };
        let values: Vec<Option<f64>> = (0..4_000).map(|_| Some(normal(&mut rng))).collect();
        let numeric = reference::numeric("x", values.into_iter());
        let plans = ["basic", "plus", "pro", "team"];
        let shares = [0.4, 0.3, 0.2, 0.1];
        let pick = |rng: &mut StdRng| {
            let mut x: f64 = rng.r#gen();
            for (plan, share) in plans.iter().zip(shares) {
                if x < share {
                    return *plan;
                }
                x -= share;
            }
            "team"
        };
        let labels: Vec<&str> = (0..4_000).map(|_| pick(&mut rng)).collect();
        let categorical = reference::categorical("plan", labels.iter().map(|l| Some(*l)));
        let (false_alarm, windows) = (0.05, 400);
        for live in [300u64, 2_000] {
            for method in Method::ALL {
                let column = if method.numeric_only() || method == Method::Psi {
                    &numeric
                } else {
                    &categorical
                };
                let cut = threshold(column, method, live, false_alarm);
                let alarms = (0..windows)
                    .filter(|_| {
                        let mut counts = vec![0; column.counts.len()];
                        for _ in 0..live {
                            let bin = match &column.shape {
                                drover_protocol::drift::Shape::Numeric { edges, .. } => {
                                    drover_protocol::drift::Shape::bin_number(
                                        edges,
                                        normal(&mut rng),
                                    )
                                }
                                drover_protocol::drift::Shape::Categorical {
                                    categories, ..
                                } => {
                                    let plan = pick(&mut rng);
                                    categories.iter().position(|c| c == plan)
                                }
                            };
                            if let Some(bin) = bin {
                                counts[bin] += 1;
                            }
                        }
                        score::score(method, &column.shape, &column.counts, &counts) > cut
                    })
                    .count();
                let rate = alarms as f64 / windows as f64;
                let slack = 3.0 * (false_alarm * (1.0 - false_alarm) / windows as f64).sqrt();
                assert!(
                    rate <= false_alarm + slack,
                    "{method} on {live} values: {alarms} false alarms in {windows} windows"
                );
            }
        }
    }
}
