//! Computing evaluation metrics (named in [`crate::metric`]). Classification: accuracy, precision, recall, F1 (binary: of the second
//! class; more classes: macro average), ROC AUC (binary: rank statistic; more classes: macro
//! one-vs-rest) and log loss. Regression: RMSE, MAE, R².

use drover_protocol::run::Metrics;
use ndarray::{Array2, ArrayView1};

const EPS: f64 = 1e-15;

/// Classification metrics from true labels and class probabilities (rows sum to 1).
pub fn classification(truth: &[usize], probabilities: &Array2<f64>) -> Metrics {
    let classes = probabilities.ncols();
    let predicted: Vec<usize> = probabilities.outer_iter().map(argmax).collect();
    let n = truth.len().max(1) as f64;
    let accuracy = truth.iter().zip(&predicted).filter(|(t, p)| t == p).count() as f64 / n;
    let per_class: Vec<(f64, f64, f64)> = (0..classes)
        .map(|c| precision_recall_f1(truth, &predicted, c))
        .collect();
    let (precision, recall, f1) = if classes == 2 {
        per_class[1]
    } else {
        let k = classes.max(1) as f64;
        per_class.iter().fold((0.0, 0.0, 0.0), |acc, m| {
            (acc.0 + m.0 / k, acc.1 + m.1 / k, acc.2 + m.2 / k)
        })
    };
    let roc_auc = if classes == 2 {
        auc(truth, probabilities.column(1), 1)
    } else {
        (0..classes)
            .map(|c| auc(truth, probabilities.column(c), c))
            .sum::<f64>()
            / classes.max(1) as f64
    };
    let log_loss = -truth
        .iter()
        .enumerate()
        .map(|(i, &t)| probabilities[[i, t]].clamp(EPS, 1.0 - EPS).ln())
        .sum::<f64>()
        / n;
    Metrics::from([
        ("accuracy".into(), accuracy),
        ("precision".into(), precision),
        ("recall".into(), recall),
        ("f1".into(), f1),
        ("roc_auc".into(), roc_auc),
        ("log_loss".into(), log_loss),
    ])
}

fn argmax(row: ArrayView1<f64>) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &p)| {
            if p > best.1 { (i, p) } else { best }
        })
        .0
}

fn precision_recall_f1(truth: &[usize], predicted: &[usize], class: usize) -> (f64, f64, f64) {
    let tp = truth
        .iter()
        .zip(predicted)
        .filter(|(t, p)| **t == class && **p == class)
        .count() as f64;
    let predicted_pos = predicted.iter().filter(|p| **p == class).count() as f64;
    let actual_pos = truth.iter().filter(|t| **t == class).count() as f64;
    let precision = if predicted_pos > 0.0 {
        tp / predicted_pos
    } else {
        0.0
    };
    let recall = if actual_pos > 0.0 {
        tp / actual_pos
    } else {
        0.0
    };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    (precision, recall, f1)
}

/// Area under the ROC curve of `scores` for `positive`: the probability that a random positive
/// scores above a random negative (ties count half). 0.5 when one side is empty.
fn auc(truth: &[usize], scores: ArrayView1<f64>, positive: usize) -> f64 {
    let mut ranked: Vec<(f64, bool)> = scores
        .iter()
        .zip(truth)
        .map(|(s, t)| (*s, *t == positive))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = ranked.iter().filter(|r| r.1).count() as f64;
    let negatives = ranked.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return 0.5;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < ranked.len() {
        let mut j = i;
        while j < ranked.len() && ranked[j].0 == ranked[i].0 {
            j += 1;
        }
        let average_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += average_rank * ranked[i..j].iter().filter(|r| r.1).count() as f64;
        i = j;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

/// Regression metrics from true and predicted values.
pub fn regression(truth: &[f64], predicted: &[f64]) -> Metrics {
    let n = truth.len().max(1) as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let sse: f64 = truth
        .iter()
        .zip(predicted)
        .map(|(t, p)| (t - p).powi(2))
        .sum();
    let sst: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    let mae = truth
        .iter()
        .zip(predicted)
        .map(|(t, p)| (t - p).abs())
        .sum::<f64>()
        / n;
    let r2 = if sst > 0.0 { 1.0 - sse / sst } else { 0.0 };
    Metrics::from([
        ("rmse".into(), (sse / n).sqrt()),
        ("mae".into(), mae),
        ("r2".into(), r2),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn binary_metrics_match_hand_counts() {
        let truth = [1, 0, 1, 1, 0];
        let probs = array![[0.2, 0.8], [0.6, 0.4], [0.7, 0.3], [0.1, 0.9], [0.3, 0.7]];
        let m = classification(&truth, &probs);
        assert!((m["accuracy"] - 0.6).abs() < 1e-12);
        assert!((m["precision"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((m["recall"] - 2.0 / 3.0).abs() < 1e-12);
        // Positives score 0.8, 0.3, 0.9; negatives 0.4, 0.7: 4 of 6 pairs ordered right.
        assert!((m["roc_auc"] - 4.0 / 6.0).abs() < 1e-12);
        assert!(m["log_loss"] > 0.0);
    }

    #[test]
    fn auc_counts_ties_half_and_regression_is_exact_when_perfect() {
        let probs = array![[0.5, 0.5], [0.5, 0.5]];
        assert_eq!(classification(&[0, 1], &probs)["roc_auc"], 0.5);
        let m = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]);
        assert_eq!((m["rmse"], m["mae"], m["r2"]), (0.0, 0.0, 1.0));
    }
}
