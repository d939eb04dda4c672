//! The learners, through linfa: fitting with a hyperparameter combination, and class
//! probabilities for evaluation and serving. Models serialize with serde into the artifact.

use drover_protocol::spec::{Algorithm, ParamValue, Params};
use linfa::prelude::*;
use linfa_bayes::{GaussianNb, NaiveBayes};
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use linfa_trees::{DecisionTree, SplitQuality};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// A fitted model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Model {
    Logistic(MultiFittedLogisticRegression<f64, usize>),
    Tree(DecisionTree<f64, usize>),
    GaussianNb(GaussianNb<f64, usize>),
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

impl Model {
    /// Fits `algorithm` with `params` to features `x` and class indices `y`.
    pub fn fit(
        algorithm: Algorithm,
        params: &Params,
        x: &Array2<f64>,
        y: &Array1<usize>,
    ) -> Result<Self, FitError> {
        let learner = |e: &dyn std::fmt::Display| FitError::Learner {
            algorithm,
            reason: e.to_string(),
        };
        let data = DatasetBase::new(x.clone(), y.clone());
        match algorithm {
            Algorithm::LogisticRegression => {
                let alpha = float(params, "alpha", 1.0)?;
                let iterations = count(params, "max_iterations", 100)? as u64;
                MultiLogisticRegression::default()
                    .alpha(alpha)
                    .max_iterations(iterations)
                    .fit(&data)
                    .map(Model::Logistic)
                    .map_err(|e| learner(&e))
            }
            Algorithm::DecisionTree => {
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
                DecisionTree::params()
                    .max_depth(depth)
                    .min_weight_split(count(params, "min_samples_split", 2)? as f32)
                    .min_weight_leaf(count(params, "min_samples_leaf", 1)? as f32)
                    .split_quality(quality)
                    .fit(&data)
                    .map(Model::Tree)
                    .map_err(|e| learner(&e))
            }
            Algorithm::GaussianNb => GaussianNb::params()
                .var_smoothing(float(params, "var_smoothing", 1e-9)?)
                .fit(&data)
                .map(Model::GaussianNb)
                .map_err(|e| learner(&e)),
        }
    }

    /// Probability of each of `classes` classes for every row of `x`.
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
        }
        out
    }
}
