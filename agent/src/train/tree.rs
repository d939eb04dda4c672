//! CART classification trees grown on binned features, as a linfa learner.
//!
//! Each feature is cut once into at most 256 bins (midpoints between distinct values, or
//! quantiles when there are more), so finding the best split of a node costs one pass over its
//! rows per feature instead of a sort. Leaves keep their class frequencies, so the tree gives
//! real probabilities, and features can be sampled per split, which a random forest needs.

use linfa::prelude::*;
use ndarray::{Array1, Array2, ArrayBase, Data, Ix2};
use rand::rngs::StdRng;
use rand::seq::index::sample;

use super::stop::Stop;
use serde::{Deserialize, Serialize};

/// Most bins per feature (codes fit a byte).
const MAX_BINS: usize = 256;

/// How a split's quality is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Criterion {
    Gini,
    Entropy,
}

/// Hyperparameters of one tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeParams {
    pub max_depth: Option<usize>,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    pub criterion: Criterion,
    /// Features drawn at random for each split; all when `None`.
    pub max_features: Option<usize>,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            criterion: Criterion::Gini,
            max_features: None,
        }
    }
}

/// A fitted tree: a split sends a row left when `x[feature] <= threshold`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Node {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    /// Class frequencies of the training rows that ended here.
    Leaf { probabilities: Vec<f64> },
}

/// Features cut into bins: `codes[feature][row]` is the bin of the row's value and a value is
/// in bin `b` when it is at most `cuts[feature][b]` (and above the previous cut).
pub struct Binned {
    codes: Vec<Vec<u8>>,
    cuts: Vec<Vec<f64>>,
}

impl Binned {
    /// Bins every column of `x`.
    pub fn new(x: &Array2<f64>) -> Self {
        let (codes, cuts) = x
            .columns()
            .into_iter()
            .map(|column| {
                let cuts = cuts(column.to_vec());
                let codes = column
                    .iter()
                    .map(|&v| cuts.partition_point(|&c| c < v) as u8)
                    .collect();
                (codes, cuts)
            })
            .unzip();
        Binned { codes, cuts }
    }

    fn features(&self) -> usize {
        self.codes.len()
    }
}

/// At most `MAX_BINS - 1` cut points splitting `values` into bins: midpoints between
/// neighbouring distinct values, taken at quantiles when there are too many.
fn cuts(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_unstable_by(f64::total_cmp);
    values.dedup();
    let step = (values.len() as f64 / MAX_BINS as f64).max(1.0);
    let mut out = Vec::new();
    let mut at = step;
    while (at as usize) < values.len() {
        let i = at as usize;
        out.push(values[i - 1] + (values[i] - values[i - 1]) / 2.0);
        at += step;
    }
    out.dedup();
    out
}

/// The rows of one node waiting to be split.
struct Pending {
    node: usize,
    rows: Vec<u32>,
    depth: usize,
}

impl TreeParams {
    /// Grows a tree on `rows` (repeats allowed, as in a bootstrap sample) of binned features
    /// with class labels `y` below `classes`; `rng` draws the features of each split. Once
    /// `stop` is set no node is split any more (the caller discards the tree).
    pub fn grow(
        &self,
        binned: &Binned,
        y: &[usize],
        classes: usize,
        rows: Vec<u32>,
        rng: &mut StdRng,
        stop: &Stop,
    ) -> Tree {
        let mut nodes = vec![Node::Leaf {
            probabilities: Vec::new(),
        }];
        let mut stack = vec![Pending {
            node: 0,
            rows,
            depth: 0,
        }];
        let mut scratch = Vec::new();
        while let Some(Pending { node, rows, depth }) = stack.pop() {
            let counts = class_counts(&rows, y, classes);
            let can_split = !stop.is_stopped()
                && self.max_depth.is_none_or(|d| depth < d)
                && rows.len() >= self.min_samples_split.max(2)
                && counts.iter().filter(|&&c| c > 0.0).count() > 1;
            let split = if can_split {
                self.best_split(binned, y, classes, &rows, rng, &mut scratch)
            } else {
                None
            };
            let Some((feature, bin)) = split else {
                let total = rows.len().max(1) as f64;
                nodes[node] = Node::Leaf {
                    probabilities: counts.iter().map(|c| c / total).collect(),
                };
                continue;
            };
            let codes = &binned.codes[feature];
            let (left_rows, right_rows): (Vec<u32>, Vec<u32>) = rows
                .iter()
                .partition(|&&r| usize::from(codes[r as usize]) <= bin);
            let left = nodes.len();
            nodes.push(Node::Leaf {
                probabilities: Vec::new(),
            });
            nodes.push(Node::Leaf {
                probabilities: Vec::new(),
            });
            nodes[node] = Node::Split {
                feature,
                threshold: binned.cuts[feature][bin],
                left,
                right: left + 1,
            };
            stack.push(Pending {
                node: left + 1,
                rows: right_rows,
                depth: depth + 1,
            });
            stack.push(Pending {
                node: left,
                rows: left_rows,
                depth: depth + 1,
            });
        }
        Tree { nodes }
    }

    /// The feature and bin of the split with the lowest weighted impurity that leaves at least
    /// `min_samples_leaf` rows on each side.
    fn best_split(
        &self,
        binned: &Binned,
        y: &[usize],
        classes: usize,
        rows: &[u32],
        rng: &mut StdRng,
        histogram: &mut Vec<f64>,
    ) -> Option<(usize, usize)> {
        let features: Vec<usize> = match self.max_features {
            Some(m) if m < binned.features() => sample(rng, binned.features(), m.max(1)).into_vec(),
            _ => (0..binned.features()).collect(),
        };
        let total = rows.len() as f64;
        let min_leaf = self.min_samples_leaf.max(1) as f64;
        let mut best: Option<(f64, usize, usize)> = None;
        let mut left = vec![0.0; classes];
        let mut right = vec![0.0; classes];
        let all = class_counts(rows, y, classes);
        for feature in features {
            let bins = binned.cuts[feature].len() + 1;
            if bins < 2 {
                continue;
            }
            histogram.clear();
            histogram.resize(bins * classes, 0.0);
            let codes = &binned.codes[feature];
            for &r in rows {
                let r = r as usize;
                histogram[usize::from(codes[r]) * classes + y[r]] += 1.0;
            }
            left.iter_mut().for_each(|c| *c = 0.0);
            let mut n_left = 0.0;
            for bin in 0..bins - 1 {
                let counts = &histogram[bin * classes..(bin + 1) * classes];
                if counts.iter().all(|&c| c == 0.0) {
                    continue;
                }
                for (l, c) in left.iter_mut().zip(counts) {
                    *l += c;
                    n_left += c;
                }
                let n_right = total - n_left;
                if n_left < min_leaf {
                    continue;
                }
                if n_right < min_leaf {
                    break;
                }
                for ((r, a), l) in right.iter_mut().zip(&all).zip(&left) {
                    *r = a - l;
                }
                let score =
                    self.weighted_impurity(&left, n_left) + self.weighted_impurity(&right, n_right);
                if best.is_none_or(|(s, _, _)| score < s) {
                    best = Some((score, feature, bin));
                }
            }
        }
        best.map(|(_, feature, bin)| (feature, bin))
    }

    /// Impurity of `counts` times their total `n`.
    fn weighted_impurity(&self, counts: &[f64], n: f64) -> f64 {
        match self.criterion {
            Criterion::Gini => n - counts.iter().map(|c| c * c).sum::<f64>() / n,
            Criterion::Entropy => {
                n * n.ln()
                    - counts
                        .iter()
                        .filter(|&&c| c > 0.0)
                        .map(|c| c * c.ln())
                        .sum::<f64>()
            }
        }
    }
}

fn class_counts(rows: &[u32], y: &[usize], classes: usize) -> Vec<f64> {
    let mut counts = vec![0.0; classes];
    for &r in rows {
        counts[y[r as usize]] += 1.0;
    }
    counts
}

impl Tree {
    /// Adds the class probabilities of each row of `x` times `weight` to `out`.
    pub fn add_probabilities<D: Data<Elem = f64>>(
        &self,
        x: &ArrayBase<D, Ix2>,
        weight: f64,
        out: &mut Array2<f64>,
    ) {
        for (row, mut target) in x.rows().into_iter().zip(out.rows_mut()) {
            let mut at = 0;
            loop {
                match &self.nodes[at] {
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    } => {
                        at = if row[*feature] <= *threshold {
                            *left
                        } else {
                            *right
                        }
                    }
                    Node::Leaf { probabilities } => {
                        for (t, p) in target.iter_mut().zip(probabilities) {
                            *t += p * weight;
                        }
                        break;
                    }
                }
            }
        }
    }

    /// Class probabilities of each row of `x`, `classes` columns.
    pub fn probabilities<D: Data<Elem = f64>>(
        &self,
        x: &ArrayBase<D, Ix2>,
        classes: usize,
    ) -> Array2<f64> {
        let mut out = Array2::zeros((x.nrows(), classes));
        self.add_probabilities(x, 1.0, &mut out);
        out
    }
}

impl TreeParams {
    /// Grows a tree on every row of `x` with labels `y`, as long as `stop` is not set.
    pub fn grow_all(
        &self,
        x: &Array2<f64>,
        y: &Array1<usize>,
        stop: &Stop,
    ) -> Result<Tree, linfa::Error> {
        if x.nrows() == 0 {
            return Err(linfa::Error::NotEnoughSamples);
        }
        let classes = y.iter().max().map_or(0, |m| m + 1);
        let binned = Binned::new(x);
        let rows = (0..x.nrows() as u32).collect();
        let mut rng = rand::SeedableRng::seed_from_u64(0);
        Ok(self.grow(&binned, &y.to_vec(), classes, rows, &mut rng, stop))
    }
}

impl Fit<Array2<f64>, Array1<usize>, linfa::Error> for TreeParams {
    type Object = Tree;

    fn fit(&self, dataset: &DatasetBase<Array2<f64>, Array1<usize>>) -> Result<Tree, linfa::Error> {
        self.grow_all(dataset.records(), dataset.targets(), &Stop::default())
    }
}

impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<usize>> for Tree {
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<usize>) {
        let classes = self
            .nodes
            .iter()
            .find_map(|n| match n {
                Node::Leaf { probabilities } => Some(probabilities.len()),
                Node::Split { .. } => None,
            })
            .unwrap_or(0);
        let probabilities = self.probabilities(x, classes);
        for (target, row) in y.iter_mut().zip(probabilities.rows()) {
            *target = row
                .iter()
                .enumerate()
                .fold(
                    (0, f64::MIN),
                    |best, (i, &p)| if p > best.1 { (i, p) } else { best },
                )
                .0;
        }
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<usize> {
        Array1::zeros(x.nrows())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn cuts_fall_between_distinct_values() {
        assert_eq!(cuts(vec![3.0, 1.0, 2.0, 2.0]), vec![1.5, 2.5]);
        assert!(cuts(vec![1.0; 10]).is_empty());
        let many = cuts((0..10_000).map(f64::from).collect());
        assert!(many.len() < MAX_BINS && many.len() > 200);
        assert!(many.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn learns_a_threshold_and_leaf_frequencies() {
        let x = array![[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]];
        let y = array![0, 0, 0, 1, 1, 1];
        let tree = TreeParams::default()
            .fit(&DatasetBase::new(x.clone(), y.clone()))
            .expect("fits");
        assert_eq!(tree.predict(&x), y);
        assert_eq!(tree.probabilities(&array![[3.4]], 2), array![[1.0, 0.0]]);

        let shallow = TreeParams {
            max_depth: Some(1),
            min_samples_leaf: 2,
            ..TreeParams::default()
        };
        let noisy = array![0, 0, 1, 1, 1, 1];
        let tree = shallow
            .fit(&DatasetBase::new(x.clone(), noisy))
            .expect("fits");
        let p = tree.probabilities(&array![[1.0], [6.0]], 2);
        assert_eq!(p, array![[1.0, 0.0], [0.0, 1.0]]);
    }

    #[test]
    fn depth_limit_keeps_mixed_leaves() {
        let x = array![[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]];
        let y = array![0, 1, 1, 0];
        let stump = TreeParams {
            max_depth: Some(0),
            ..TreeParams::default()
        }
        .fit(&DatasetBase::new(x.clone(), y))
        .expect("fits");
        assert_eq!(stump.probabilities(&x, 2).row(0).to_vec(), vec![0.5, 0.5]);
    }
}
