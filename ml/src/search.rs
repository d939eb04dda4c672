//! Hyperparameter candidates (grid or seeded random draws) and the seeded splits: a held-out
//! test set and k cross-validation folds over the rest.

use drover_protocol::run::Trial;
use drover_protocol::spec::{Params, Search, SearchMethod, Task};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::metric;

/// The hyperparameter combinations to try, in order, at most `cap`.
pub fn candidates(search: &Search, seed: u64, cap: usize) -> Vec<Params> {
    let mut grid: Vec<Params> = vec![Params::new()];
    for (name, values) in &search.params {
        grid = grid
            .into_iter()
            .flat_map(|combo| {
                values.iter().map(move |v| {
                    let mut next = combo.clone();
                    next.insert(name.clone(), v.clone());
                    next
                })
            })
            .collect();
    }
    let limit = search.trials.map_or(cap, |t| (t as usize).min(cap));
    if search.method == SearchMethod::Random {
        grid.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x5eed));
    }
    grid.truncate(limit);
    grid
}

/// Index into `trials` of the best by the task's selection metric; the lowest trial number
/// wins a tie, wherever the trials ran.
pub fn best_trial(task: Task, trials: &[Trial]) -> usize {
    let name = metric::selection(task);
    let merit = |t: &Trial| metric::merit(name, t.mean.get(name).copied());
    (0..trials.len()).fold(0, |best, i| {
        let (a, b) = (merit(&trials[i]), merit(&trials[best]));
        if a > b || (a == b && trials[i].trial < trials[best].trial) {
            i
        } else {
            best
        }
    })
}

/// Row indices shuffled by `seed`, split into `(train, test)` with `test_fraction` held out.
pub fn holdout(rows: usize, test_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order = shuffled(rows, seed);
    let test = ((rows as f64) * test_fraction)
        .round()
        .clamp(1.0, rows.saturating_sub(1) as f64) as usize;
    let train = order.split_off(test);
    (train, order)
}

/// Row indices `0..rows` in a seeded random order.
pub fn shuffled(rows: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rows).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    order
}

/// `k` folds over `rows`: for each, `(fit rows, validation rows)`.
pub fn folds(rows: &[usize], k: usize) -> Vec<(Vec<usize>, Vec<usize>)> {
    (0..k)
        .map(|fold| {
            let (mut fit, mut validate) = (Vec::new(), Vec::new());
            for (i, &r) in rows.iter().enumerate() {
                if i % k == fold {
                    validate.push(r)
                } else {
                    fit.push(r)
                }
            }
            (fit, validate)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_protocol::spec::ParamValue;

    #[test]
    fn grid_is_the_cartesian_product_and_random_is_a_seeded_sample() {
        let mut search = Search::default();
        search
            .params
            .insert("a".into(), vec![ParamValue::Int(1), ParamValue::Int(2)]);
        search.params.insert(
            "b".into(),
            vec![
                ParamValue::Float(0.1),
                ParamValue::Float(0.2),
                ParamValue::Float(0.3),
            ],
        );
        assert_eq!(candidates(&search, 1, 100).len(), 6);
        search.method = SearchMethod::Random;
        search.trials = Some(3);
        let drawn = candidates(&search, 1, 100);
        assert_eq!(drawn.len(), 3);
        assert_eq!(drawn, candidates(&search, 1, 100));
        assert_eq!(candidates(&Search::default(), 1, 100), vec![Params::new()]);
    }

    #[test]
    fn splits_cover_every_row_once() {
        let (train, test) = holdout(100, 0.2, 7);
        assert_eq!((train.len(), test.len()), (80, 20));
        assert_eq!(holdout(100, 0.2, 7), (train.clone(), test.clone()));
        let folds = folds(&train, 5);
        let mut seen: Vec<usize> = folds.iter().flat_map(|(_, v)| v.clone()).collect();
        seen.sort_unstable();
        let mut expected = train.clone();
        expected.sort_unstable();
        assert_eq!(seen, expected);
    }
}
