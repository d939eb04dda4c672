//! Fairness across the groups of a sensitive column, on held-out rows: the demographic parity
//! difference (spread of the positive-prediction rate) and the equal-opportunity difference
//! (spread of the true-positive rate). The positive class is the last class (`1` of `0/1`).

use std::collections::BTreeMap;

use drover_protocol::run::Metrics;

/// Both differences, from each row's group, true class and predicted class.
pub fn differences(
    groups: &[String],
    truth: &[usize],
    predicted: &[usize],
    positive: usize,
) -> Metrics {
    #[derive(Default)]
    struct Counts {
        rows: f64,
        predicted_positive: f64,
        actual_positive: f64,
        true_positive: f64,
    }
    let mut by_group: BTreeMap<&str, Counts> = BTreeMap::new();
    for ((group, &t), &p) in groups.iter().zip(truth).zip(predicted) {
        let c = by_group.entry(group).or_default();
        c.rows += 1.0;
        c.predicted_positive += f64::from(p == positive);
        c.actual_positive += f64::from(t == positive);
        c.true_positive += f64::from(t == positive && p == positive);
    }
    let spread = |values: Vec<f64>| match (
        values.iter().copied().reduce(f64::max),
        values.iter().copied().reduce(f64::min),
    ) {
        (Some(max), Some(min)) => max - min,
        _ => 0.0,
    };
    let parity = spread(
        by_group
            .values()
            .map(|c| c.predicted_positive / c.rows)
            .collect(),
    );
    let opportunity = spread(
        by_group
            .values()
            .filter(|c| c.actual_positive > 0.0)
            .map(|c| c.true_positive / c.actual_positive)
            .collect(),
    );
    Metrics::from([
        ("demographic_parity_diff".into(), parity),
        ("equal_opportunity_diff".into(), opportunity),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_match_hand_counts() {
        let groups: Vec<String> = ["a", "a", "a", "a", "b", "b", "b", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let truth = [1, 1, 0, 0, 1, 1, 0, 0];
        let predicted = [1, 1, 1, 0, 1, 0, 0, 0];
        let m = differences(&groups, &truth, &predicted, 1);
        // Positive rate: a 3/4, b 1/4. True-positive rate: a 2/2, b 1/2.
        assert!((m["demographic_parity_diff"] - 0.5).abs() < 1e-12);
        assert!((m["equal_opportunity_diff"] - 0.5).abs() < 1e-12);
    }
}
