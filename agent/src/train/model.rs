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
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use linfa_trees::{DecisionTree, SplitQuality};
use ndarray::{Array1, Array2, Axis};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A fitted model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Model {
    Logistic(MultiFittedLogisticRegression<f64, usize>),
    Tree(DecisionTree<f64, usize>),
    GaussianNb(GaussianNb<f64, usize>),
    /// Trees with the feature columns each was trained on.
    Forest(Vec<(Vec<usize>, DecisionTree<f64, usize>)>),
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

fn tree_params(params: &Params) -> Result<linfa_trees::DecisionTreeParams<f64, usize>, FitError> {
    let quality = match params.get("split_quality") {
        None => SplitQuality::Gini,
        Some(ParamValue::Text(q)) if q == "gini" => SplitQuality::Gini,
        Some(ParamValue::Text(q)) if q == "entropy" => SplitQuality::Entropy,
        Some(v) => {
            return Err(FitError::Param {
                name: "split_quality".into(),
                reason: format!("{v} is not gini or entropy"),
            });
        }
    };
    let depth = params
        .get("max_depth")
        .map(|_| count(params, "max_depth", 1))
        .transpose()?;
    Ok(DecisionTree::params()
        .max_depth(depth)
        .min_weight_split(count(params, "min_samples_split", 2)? as f32)
        .min_weight_leaf(count(params, "min_samples_leaf", 1)? as f32)
        .split_quality(quality))
}

impl Model {
    /// Fits `algorithm` with `params` to features `x` and `targets`; `seed` drives any
    /// randomness so that a fit is reproducible.
    pub fn fit(
        algorithm: Algorithm,
        params: &Params,
        x: &Array2<f64>,
        targets: Targets<'_>,
        seed: u64,
    ) -> Result<Self, FitError> {
        let learner = |e: &dyn std::fmt::Display| FitError::Learner {
            algorithm,
            reason: e.to_string(),
        };
        match (algorithm, targets) {
            (Algorithm::LogisticRegression, Targets::Classes(y)) => {
                MultiLogisticRegression::default()
                    .alpha(float(params, "alpha", 1.0)?)
                    .max_iterations(count(params, "max_iterations", 100)? as u64)
                    .fit(&DatasetBase::new(x.clone(), y.clone()))
                    .map(Model::Logistic)
                    .map_err(|e| learner(&e))
            }
            (Algorithm::DecisionTree, Targets::Classes(y)) => tree_params(params)?
                .fit(&DatasetBase::new(x.clone(), y.clone()))
                .map(Model::Tree)
                .map_err(|e| learner(&e)),
            (Algorithm::GaussianNb, Targets::Classes(y)) => GaussianNb::params()
                .var_smoothing(float(params, "var_smoothing", 1e-9)?)
                .fit(&DatasetBase::new(x.clone(), y.clone()))
                .map(Model::GaussianNb)
                .map_err(|e| learner(&e)),
            (Algorithm::RandomForest, Targets::Classes(y)) => {
                forest(params, x, y, seed).map_err(|e| match e {
                    FitError::Learner { reason, .. } => FitError::Learner { algorithm, reason },
                    other => other,
                })
            }
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
            Model::Tree(model) => {
                for (i, &class) in model.predict(x).iter().enumerate() {
                    out[[i, class]] = 1.0;
                }
            }
            Model::GaussianNb(model) => {
                let (probs, order) = model.predict_proba(x.view());
                for (j, &&class) in order.iter().enumerate() {
                    out.column_mut(class).assign(&probs.column(j));
                }
            }
            Model::Forest(trees) => {
                for (columns, tree) in trees {
                    for (i, &class) in tree.predict(&x.select(Axis(1), columns)).iter().enumerate()
                    {
                        out[[i, class]] += 1.0 / trees.len() as f64;
                    }
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

/// Share of features each tree sees. linfa's trees cannot sample features per split, so each
/// tree samples once (random subspaces); a large share keeps every tree useful.
const DEFAULT_FEATURE_FRACTION: f64 = 0.7;

/// A seeded bag of decision trees, each on a bootstrap sample of the rows and a random subset
/// of the features.
fn forest(
    params: &Params,
    x: &Array2<f64>,
    y: &Array1<usize>,
    seed: u64,
) -> Result<Model, FitError> {
    let trees = count(params, "n_trees", 100)?;
    let fraction = float(params, "feature_fraction", DEFAULT_FEATURE_FRACTION)?;
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(FitError::Param {
            name: "feature_fraction".into(),
            reason: format!("{fraction} is not in (0, 1]"),
        });
    }
    let per_tree = ((x.ncols() as f64 * fraction).round() as usize).clamp(1, x.ncols().max(1));
    let tree_params = tree_params(params)?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0xf07e57);
    let mut bag = Vec::with_capacity(trees);
    for _ in 0..trees {
        let rows: Vec<usize> = (0..x.nrows())
            .map(|_| rng.gen_range(0..x.nrows()))
            .collect();
        let mut columns = sample(&mut rng, x.ncols(), per_tree).into_vec();
        columns.sort_unstable();
        let sample_x = x.select(Axis(0), &rows).select(Axis(1), &columns);
        let sample_y = y.select(Axis(0), &rows);
        let tree = tree_params
            .clone()
            .fit(&DatasetBase::new(sample_x, sample_y))
            .map_err(|e| FitError::Learner {
                algorithm: Algorithm::RandomForest,
                reason: e.to_string(),
            })?;
        bag.push((columns, tree));
    }
    Ok(Model::Forest(bag))
}
