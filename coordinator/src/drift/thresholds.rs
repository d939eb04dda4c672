//! Calibrated thresholds, kept per column at live sizes on a grid of powers of two and
//! interpolated between them on a log-log scale (a threshold falls smoothly as the live window
//! grows), so a window size that drifts with traffic costs no new calibration. Calibrating
//! takes milliseconds per column: each pass spends at most a budget on it, and a column left
//! without a threshold is inconclusive until a later pass.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use drover_ml::drift::calibrate;
use drover_protocol::drift::{ColumnReference, Method};

/// A column of a served version under one method: model, version, its place in the
/// reference (`usize::MAX` for the predictions) and the method.
pub type Column = (String, u32, usize, Method);

/// Thresholds calibrated so far, and this pass's calibration time.
#[derive(Debug)]
pub struct Thresholds {
    cache: HashMap<(Column, u32), f64>,
    budget: Duration,
    spent: Duration,
}

impl Thresholds {
    /// No threshold yet; each pass calibrates for at most `budget`.
    pub fn new(budget: Duration) -> Self {
        Self {
            cache: HashMap::new(),
            budget,
            spent: Duration::ZERO,
        }
    }

    /// A new pass: its calibration budget is whole again.
    pub fn start_pass(&mut self) {
        self.spent = Duration::ZERO;
    }

    /// The threshold of `column` for `live` values, or `None` while it is not calibrated and
    /// this pass's budget is spent.
    pub fn get(
        &mut self,
        column: &Column,
        reference: &ColumnReference,
        live: u64,
        false_alarm: f64,
    ) -> Option<f64> {
        let n = live.max(1);
        let k = 63 - n.leading_zeros();
        let low = self.point(column, k, reference, false_alarm)?;
        if n.is_power_of_two() {
            return Some(low);
        }
        let high = self.point(column, k + 1, reference, false_alarm)?;
        let (a, b) = ((1u64 << k) as f64, (1u64 << (k + 1)) as f64);
        let w = ((n as f64).ln() - a.ln()) / (b.ln() - a.ln());
        Some(if low > 0.0 && high > 0.0 {
            (low.ln() + w * (high.ln() - low.ln())).exp()
        } else {
            low + w * (high - low)
        })
    }

    fn point(
        &mut self,
        column: &Column,
        k: u32,
        reference: &ColumnReference,
        false_alarm: f64,
    ) -> Option<f64> {
        let key = (column.clone(), k);
        if let Some(t) = self.cache.get(&key) {
            return Some(*t);
        }
        if self.spent >= self.budget {
            return None;
        }
        let started = Instant::now();
        let t = calibrate::threshold(reference, column.3, 1u64 << k, false_alarm);
        self.spent += started.elapsed();
        self.cache.insert(key, t);
        Some(t)
    }

    /// Forgets the thresholds of versions no longer served.
    pub fn retain(&mut self, served: &[(String, u32)]) {
        self.cache
            .retain(|((m, v, ..), _), _| served.iter().any(|(sm, sv)| sm == m && sv == v));
    }

    /// Thresholds kept.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_ml::drift::reference;

    #[test]
    fn thresholds_between_grid_points_fall_between_theirs_and_the_budget_holds() {
        let r = reference::numeric("x", (0..2_000).map(|v| Some((v % 97) as f64)));
        let column: Column = ("m".into(), 1, 0, Method::Ks);
        let mut thresholds = Thresholds::new(Duration::from_secs(60));
        let at = |t: &mut Thresholds, n| t.get(&column, &r, n, 0.01).expect("calibrated");
        let (low, mid, high) = (
            at(&mut thresholds, 512),
            at(&mut thresholds, 700),
            at(&mut thresholds, 1_024),
        );
        assert!(low > mid && mid > high, "{low} > {mid} > {high}");
        assert_eq!(thresholds.len(), 2, "700 needs no calibration of its own");
        let mut none = Thresholds::new(Duration::ZERO);
        assert_eq!(
            none.get(&column, &r, 700, 0.01),
            None,
            "no budget, no threshold"
        );
    }
}
