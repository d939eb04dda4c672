//! A paired exact test between a candidate and a baseline on the same rows: each row where
//! exactly one of the two does better counts for it; under "no difference" those counts are
//! Binomial(n, 1/2). For classification correctness this is McNemar's exact test.

/// Two-sided exact p-value for `candidate_wins` against `baseline_wins` discordant rows.
pub fn exact_p_value(candidate_wins: u64, baseline_wins: u64) -> f64 {
    let n = candidate_wins + baseline_wins;
    if n == 0 {
        return 1.0;
    }
    let k = candidate_wins.min(baseline_wins);
    // log of C(n, i) / 2^n, summed for i = 0..=k with log-sum-exp.
    let mut log_pmf = -(n as f64) * std::f64::consts::LN_2;
    let mut logs = Vec::with_capacity(k as usize + 1);
    for i in 0..=k {
        logs.push(log_pmf);
        log_pmf += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = max + logs.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
    (2.0 * tail.exp()).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(exact_p_value(0, 0), 1.0);
        // 10 discordant rows split 9 to 1: 2 * (1 + 10) / 1024.
        assert!((exact_p_value(9, 1) - 22.0 / 1024.0).abs() < 1e-12);
        assert!((exact_p_value(5, 5) - 1.0).abs() < 1e-12);
        assert!(
            exact_p_value(4000, 3000) < 1e-10,
            "large counts do not underflow to nonsense"
        );
    }
}
