//! Always-valid comparisons for rollouts: the difference between a candidate's and a
//! baseline's rate of something (errors, correct answers, slow requests, a predicted class),
//! with a confidence sequence that may be looked at after every window without inflating its
//! error rate.
//!
//! The sequence is the normal-mixture sequential probability ratio test (mSPRT) of Johari,
//! Pekelis and Walsh, "Always valid inference" (2017), the test behind Optimizely's stats
//! engine, applied to the difference of two proportions with its plug-in variance. With a
//! normal prior of variance `tau^2` on the difference, the interval
//!
//! ```text
//! d ± sqrt( V (V + tau²) / tau² · (2 ln(1/alpha) + ln((V + tau²) / V)) )
//! ```
//!
//! (`d` the observed difference, `V` its variance) covers the true difference at every
//! sample size at once with probability at least `1 - alpha`: a rollout may stop the first
//! time it excludes a value, and its chance of a wrong call stays under `alpha`.

/// How many of `n` trials were hits (errors, correct answers, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Proportion {
    pub hits: u64,
    pub n: u64,
}

impl Proportion {
    /// `hits` of `n` (hits beyond `n` are capped: counts come from agents).
    pub fn new(hits: u64, n: u64) -> Self {
        Self {
            hits: hits.min(n),
            n,
        }
    }

    /// The observed rate (0 with no trial).
    pub fn rate(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.hits as f64 / self.n as f64
        }
    }

    /// The variance of the observed rate, with the rate pulled towards 1/2 by one pseudo-hit
    /// and one pseudo-miss so that a run of all hits or all misses still has some.
    fn variance(&self) -> f64 {
        let p = (self.hits as f64 + 1.0) / (self.n as f64 + 2.0);
        p * (1.0 - p) / self.n as f64
    }
}

/// An always-valid interval for `candidate rate - baseline rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// The confidence sequence for the difference of rates at error rate `alpha`, with mixture
/// scale `tau` (the size of difference the test is tuned to find fastest); `None` while
/// either side has no trial.
pub fn difference(
    candidate: Proportion,
    baseline: Proportion,
    alpha: f64,
    tau: f64,
) -> Option<Interval> {
    if candidate.n == 0 || baseline.n == 0 {
        return None;
    }
    let alpha = alpha.clamp(1e-12, 0.5);
    let tau2 = (tau * tau).max(1e-12);
    let v = candidate.variance() + baseline.variance();
    let radius =
        (v * (v + tau2) / tau2 * (2.0 * (1.0 / alpha).ln() + ((v + tau2) / v).ln())).sqrt();
    let estimate = candidate.rate() - baseline.rate();
    Some(Interval {
        estimate,
        low: estimate - radius,
        high: estimate + radius,
    })
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn the_interval_narrows_with_samples_and_centres_on_the_difference() {
        let small = difference(
            Proportion::new(10, 100),
            Proportion::new(5, 100),
            0.05,
            0.02,
        )
        .expect("interval");
        let large = difference(
            Proportion::new(10_000, 100_000),
            Proportion::new(5_000, 100_000),
            0.05,
            0.02,
        )
        .expect("interval");
        assert!((large.estimate - 0.05).abs() < 1e-12);
        assert!(small.high - small.low > 10.0 * (large.high - large.low));
        assert!(small.low < 0.0 && large.low > 0.04, "{small:?} {large:?}");
        assert_eq!(
            difference(Proportion::new(0, 0), Proportion::new(1, 2), 0.05, 0.02),
            None
        );
        let all_hits = difference(Proportion::new(50, 50), Proportion::new(50, 50), 0.05, 0.02)
            .expect("interval");
        assert!(all_hits.low < 0.0 && all_hits.high > 0.0, "{all_hits:?}");
    }

    /// Looking after every batch, the interval excludes the true difference (zero, the two
    /// sides being the same) in at most about `alpha` of runs: the point of a confidence
    /// sequence. A fixed-sample interval peeked at this often would be wrong far more.
    #[test]
    fn peeking_after_every_batch_keeps_the_error_rate() {
        let mut rng = StdRng::seed_from_u64(7);
        let (runs, alpha) = (400, 0.05);
        let mut wrong = 0;
        for _ in 0..runs {
            let (mut a, mut b) = (Proportion::default(), Proportion::default());
            for _ in 0..200 {
                for _ in 0..50 {
                    a = Proportion::new(a.hits + u64::from(rng.gen_bool(0.1)), a.n + 1);
                    b = Proportion::new(b.hits + u64::from(rng.gen_bool(0.1)), b.n + 1);
                }
                let i = difference(a, b, alpha, 0.02).expect("interval");
                if i.low > 0.0 || i.high < 0.0 {
                    wrong += 1;
                    break;
                }
            }
        }
        assert!(
            f64::from(wrong) / f64::from(runs) <= alpha,
            "{wrong} of {runs} runs excluded the truth"
        );
    }
}
