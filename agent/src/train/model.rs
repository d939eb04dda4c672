//! The learners, through linfa: fitting with a hyperparameter combination, class
//! probabilities (classifiers) or values (regressors) for evaluation and serving. Models
//! serialize with serde into the artifact; linear regressors keep only their coefficients,
//! and a random forest is a seeded bag of linfa decision trees on bootstrap samples and
//! feature subsets (linfa's own ensemble cannot be serialized).

use drover_protocol::spec::{Algorithm, ParamValue, Params};
use linfa::prelude::*;
use linfa_bayes::{GaussianNb, NaiveBayes};
use linfa_elasticnet::ElasticNet;
use linfa_linear::LinearRegression;
use linfa_logistic::{
    FittedLogisticRegression, LogisticRegression, MultiFittedLogisticRegression,
    MultiLogisticRegression,
};
use ndarray::{Array1, Array2, ShapeBuilder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::stop::{Stop, Stopped};
use super::tree::{Binned, Criterion, Tree, TreeParams};

/// A fitted model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Model {
    Logistic(MultiFittedLogisticRegression<f64, usize>),
    /// Logistic regression on exactly two classes.
    BinaryLogistic(FittedLogisticRegression<f64, usize>),
    Tree(Tree),
    GaussianNb(GaussianNb<f64, usize>),
    /// Trees whose probabilities are averaged.
    Forest(Vec<Tree>),
    /// `y = x · coefficients + intercept`.
    Linear {
        coefficients: Vec<f64>,
        intercept: f64,
    },
}

/// What a model learns to predict.
pub enum Targets<'a> {
    Classes(&'a Array1<usize>),
    Values(&'a Array1<f64>),
}

/// Why fitting failed.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("invalid hyperparameter {name}: {reason}")]
    Param { name: String, reason: String },
    #[error("{algorithm} failed: {reason}")]
    Learner {
        algorithm: Algorithm,
        reason: String,
    },
    #[error("{algorithm} needs {needs} targets")]
    Targets {
        algorithm: Algorithm,
        needs: &'static str,
    },
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

fn float(params: &Params, name: &str, default: f64) -> Result<f64, FitError> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| FitError::Param {
            name: name.into(),
            reason: format!("{v} is not a number"),
        }),
    }
}

fn count(params: &Params, name: &str, default: usize) -> Result<usize, FitError> {
    match params.get(name) {
        None => Ok(default),
        Some(ParamValue::Int(v)) if *v >= 1 => Ok(*v as usize),
        Some(v) => Err(FitError::Param {
            name: name.into(),
            reason: format!("{v} is not a whole number from 1"),
        }),
    }
}

fn tree_params(params: &Params) -> Result<TreeParams, FitError> {
    let criterion = match params.get("split_quality") {
        None => Criterion::Gini,
        Some(ParamValue::Text(q)) if q == "gini" => Criterion::Gini,
        Some(ParamValue::Text(q)) if q == "entropy" => Criterion::Entropy,
        Some(v) => {
            return Err(FitError::Param {
                name: "split_quality".into(),
                reason: format!("{v} is not gini or entropy"),
            });
        }
    };
    let max_depth = params
        .get("max_depth")
        .map(|_| count(params, "max_depth", 1))
        .transpose()?;
    Ok(TreeParams {
        max_depth,
        min_samples_split: count(params, "min_samples_split", 2)?,
        min_samples_leaf: count(params, "min_samples_leaf", 1)?,
        criterion,
        max_features: None,
    })
}

impl Model {
    /// Fits `algorithm` with `params` to features `x` and `targets`; `seed` drives any
    /// randomness so that a fit is reproducible. Trees look at `stop` between splits and
    /// forests between trees; the other learners are bounded by their iteration limits.
    pub fn fit(
        algorithm: Algorithm,
        params: &Params,
        x: &Array2<f64>,
        targets: Targets<'_>,
        seed: u64,
        stop: &Stop,
    ) -> Result<Self, FitError> {
        let learner = |e: &dyn std::fmt::Display| FitError::Learner {
            algorithm,
            reason: e.to_string(),
        };
        match (algorithm, targets) {
            (Algorithm::LogisticRegression, Targets::Classes(y)) => {
                let alpha = float(params, "alpha", 1.0)?;
                let iterations = count(params, "max_iterations", 100)? as u64;
                // linfa minimises the summed loss; scaling the tolerance by the row count
                // stops at the same point as a solver of the mean loss (scikit-learn's 1e-4).
                let tolerance = float(params, "tolerance", 1e-4)? * x.nrows().max(1) as f64;
                // Column-major features: without BLAS, ndarray's matrix-vector product walks
                // rows, and the gradient multiplies by the transpose.
                let mut columns = Array2::zeros(x.raw_dim().f());
                columns.assign(x);
                let data = DatasetBase::new(columns, y.clone());
                if distinct(y) == 2 {
                    LogisticRegression::default()
                        .alpha(alpha)
                        .max_iterations(iterations)
                        .gradient_tolerance(tolerance)
                        .fit(&data)
                        .map(Model::BinaryLogistic)
                        .map_err(|e| learner(&e))
                } else {
                    MultiLogisticRegression::default()
                        .alpha(alpha)
                        .max_iterations(iterations)
                        .gradient_tolerance(tolerance)
                        .fit(&data)
                        .map(Model::Logistic)
                        .map_err(|e| learner(&e))
                }
            }
            (Algorithm::DecisionTree, Targets::Classes(y)) => {
                let tree = tree_params(params)?
                    .grow_all(x, y, stop)
                    .map_err(|e| learner(&e))?;
                stop.check()?;
                Ok(Model::Tree(tree))
            }
            (Algorithm::GaussianNb, Targets::Classes(y)) => GaussianNb::params()
                .var_smoothing(float(params, "var_smoothing", 1e-9)?)
                .fit(&DatasetBase::new(x.clone(), y.clone()))
                .map(Model::GaussianNb)
                .map_err(|e| learner(&e)),
            (Algorithm::RandomForest, Targets::Classes(y)) => forest(params, x, y, seed, stop)
                .map_err(|e| match e {
                    FitError::Learner { reason, .. } => FitError::Learner { algorithm, reason },
                    other => other,
                }),
            (Algorithm::LinearRegression, Targets::Values(y)) => {
                let fitted = LinearRegression::new()
                    .fit(&DatasetBase::new(x.clone(), y.clone()))
                    .map_err(|e| learner(&e))?;
                Ok(Model::Linear {
                    coefficients: fitted.params().to_vec(),
                    intercept: fitted.intercept(),
                })
            }
            (Algorithm::Ridge | Algorithm::Lasso, Targets::Values(y)) => {
                let base = if algorithm == Algorithm::Ridge {
                    ElasticNet::ridge()
                } else {
                    ElasticNet::lasso()
                };
                let fitted = base
                    .penalty(float(params, "alpha", 1.0)?)
                    .max_iterations(count(params, "max_iterations", 1000)? as u32)
                    .fit(&DatasetBase::new(x.clone(), y.clone()))
                    .map_err(|e| learner(&e))?;
                Ok(Model::Linear {
                    coefficients: fitted.hyperplane().to_vec(),
                    intercept: fitted.intercept(),
                })
            }
            (_, Targets::Classes(_)) => Err(FitError::Targets {
                algorithm,
                needs: "numeric",
            }),
            (_, Targets::Values(_)) => Err(FitError::Targets {
                algorithm,
                needs: "class",
            }),
        }
    }

    /// Probability of each of `classes` classes for every row of `x` (classifiers).
    pub fn probabilities(&self, x: &Array2<f64>, classes: usize) -> Array2<f64> {
        let mut out = Array2::zeros((x.nrows(), classes));
        match self {
            Model::Logistic(model) => {
                let probs = model.predict_probabilities(x);
                for (j, &class) in model.classes().iter().enumerate() {
                    out.column_mut(class).assign(&probs.column(j));
                }
            }
            Model::BinaryLogistic(model) => {
                let positive = model.predict_probabilities(x);
                let labels = model.labels();
                out.column_mut(labels.pos.class).assign(&positive);
                out.column_mut(labels.neg.class)
                    .assign(&positive.mapv(|p| 1.0 - p));
            }
            Model::Tree(tree) => tree.add_probabilities(x, 1.0, &mut out),
            Model::GaussianNb(model) => {
                let (probs, order) = model.predict_proba(x.view());
                for (j, &&class) in order.iter().enumerate() {
                    out.column_mut(class).assign(&probs.column(j));
                }
            }
            Model::Forest(trees) => {
                for tree in trees {
                    tree.add_probabilities(x, 1.0 / trees.len() as f64, &mut out);
                }
            }
            Model::Linear { .. } => {}
        }
        out
    }

    /// Predicted values for every row of `x` (regressors).
    pub fn values(&self, x: &Array2<f64>) -> Array1<f64> {
        match self {
            Model::Linear {
                coefficients,
                intercept,
            } => x.dot(&Array1::from(coefficients.clone())) + *intercept,
            _ => Array1::zeros(x.nrows()),
        }
    }
}

/// The most probable class of each row of `probabilities` (the first of equal ones): what
/// evaluation and serving both predict.
pub fn most_probable(probabilities: &Array2<f64>) -> Vec<usize> {
    probabilities
        .outer_iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (i, &p)| if p > b.1 { (i, p) } else { b },
                )
                .0
        })
        .collect()
}

/// How many different classes `y` holds.
fn distinct(y: &Array1<usize>) -> usize {
    let mut seen: Vec<usize> = y.to_vec();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// Share of features drawn for each split of a forest's trees.
const DEFAULT_FEATURE_FRACTION: f64 = 0.7;

/// A seeded bag of decision trees, each on a bootstrap sample of the rows, drawing a share of
/// the features at every split.
fn forest(
    params: &Params,
    x: &Array2<f64>,
    y: &Array1<usize>,
    seed: u64,
    stop: &Stop,
) -> Result<Model, FitError> {
    let trees = count(params, "n_trees", 100)?;
    let fraction = float(params, "feature_fraction", DEFAULT_FEATURE_FRACTION)?;
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(FitError::Param {
            name: "feature_fraction".into(),
            reason: format!("{fraction} is not in (0, 1]"),
        });
    }
    if x.nrows() == 0 {
        return Err(FitError::Learner {
            algorithm: Algorithm::RandomForest,
            reason: "no training rows".into(),
        });
    }
    let tree_params = TreeParams {
        max_features: Some(((x.ncols() as f64 * fraction) as usize).max(1)),
        ..tree_params(params)?
    };
    let binned = Binned::new(x);
    let labels = y.to_vec();
    let classes = y.iter().max().map_or(0, |m| m + 1);
    let mut rng = StdRng::seed_from_u64(seed ^ 0xf07e57);
    let mut bag = Vec::with_capacity(trees);
    for _ in 0..trees {
        stop.check()?;
        let rows = (0..x.nrows())
            .map(|_| rng.gen_range(0..x.nrows() as u32))
            .collect();
        bag.push(tree_params.grow(&binned, &labels, classes, rows, &mut rng, stop));
    }
    stop.check()?;
    Ok(Model::Forest(bag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(rows: usize) -> (Array2<f64>, Array1<usize>) {
        let mut rng = StdRng::seed_from_u64(3);
        let x = Array2::from_shape_fn((rows, 8), |_| rng.gen_range(0.0..1.0));
        let y = x
            .rows()
            .into_iter()
            .map(|r| usize::from(r[0] + r[1] > 1.0))
            .collect();
        (x, y)
    }

    #[test]
    fn a_stop_ends_a_forest_between_trees_and_a_tree_between_splits() {
        let (x, y) = noisy(2000);
        let params: Params = [("n_trees".to_string(), ParamValue::Int(1000))].into();
        let stop = Stop::default();
        let setter = stop.clone();
        let timer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            setter.stop();
        });
        let forest = Model::fit(
            Algorithm::RandomForest,
            &params,
            &x,
            Targets::Classes(&y),
            1,
            &stop,
        );
        timer.join().expect("timer");
        assert!(matches!(forest, Err(FitError::Stopped(_))), "{forest:?}");
        let tree = Model::fit(
            Algorithm::DecisionTree,
            &Params::new(),
            &x,
            Targets::Classes(&y),
            1,
            &stop,
        );
        assert!(matches!(tree, Err(FitError::Stopped(_))), "{tree:?}");
        let unstopped = Model::fit(
            Algorithm::DecisionTree,
            &Params::new(),
            &x,
            Targets::Classes(&y),
            1,
            &Stop::default(),
        );
        assert!(unstopped.is_ok());
    }
}
