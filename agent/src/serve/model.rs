//! A model as served: its artifact read once, the input columns it takes, and predictions
//! for a batch of rows through the pipeline and model stored at training time.

use std::borrow::Cow;

use axum::http::HeaderValue;
use drover_protocol::spec::Task;
use ndarray::Array2;
use serde::Serialize;

use super::labelled::Labelled;
use super::request::Rows;
use super::sketch::Sketch;
use super::window::Window;
use crate::train::model::most_probable;
use crate::train::pipeline::BadCell;
use crate::train::{ARTIFACT_FORMAT, ModelArtifact};

/// A loaded model version.
#[derive(Debug)]
pub struct Served {
    pub name: String,
    pub version: u32,
    artifact: ModelArtifact,
    /// The input columns in order, and whether each is numeric.
    inputs: Vec<(String, bool)>,
    /// Requests it answered as a shadow, and the rows on which it disagreed with the answer
    /// the caller got (registered once, so the hot path only adds).
    pub shadow_requests: metrics::Counter,
    pub shadow_rows_differing: metrics::Counter,
    /// What it served since the window opened.
    pub window: Window,
    /// Its inputs and predictions in the bins of its reference profile, when the artifact
    /// has one.
    pub sketch: Option<Sketch>,
    /// Recent labelled rows (classifiers), for feature importance on live feedback.
    pub labelled: Labelled,
    /// `name@version`, as the `x-drover-version` header of its answers.
    pub stamp: HeaderValue,
    /// The version number as text, as OIP answers name it.
    pub version_text: String,
    /// The class names as numbers, when every one is an integer (as the training CSV had
    /// them): labels are then answered as numbers.
    class_numbers: Option<Vec<i64>>,
}

/// The values of an output tensor, written as a JSON list.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Data<'a> {
    Integers(Vec<i64>),
    Texts(Vec<&'a str>),
    Numbers(Cow<'a, [f64]>),
}

/// What a model predicted for each row.
#[derive(Debug, Clone, PartialEq)]
pub enum Predictions {
    /// Classifiers: the index of each row's most probable class in [`Served::classes`], and
    /// every class's probability (rows x classes, in that order).
    Classes {
        chosen: Vec<usize>,
        probabilities: Array2<f64>,
    },
    /// Regressors: one value per row.
    Values(Vec<f64>),
}

impl Predictions {
    /// The class index predicted for each row (empty for a regressor).
    pub fn chosen(&self) -> &[usize] {
        match self {
            Predictions::Classes { chosen, .. } => chosen,
            Predictions::Values(_) => &[],
        }
    }

    /// How many rows were predicted.
    pub fn rows(&self) -> usize {
        match self {
            Predictions::Classes { chosen, .. } => chosen.len(),
            Predictions::Values(values) => values.len(),
        }
    }
}

impl Served {
    /// Reads a model artifact; an artifact of another layout is refused.
    pub fn load(name: &str, version: u32, bytes: &[u8]) -> Result<Self, String> {
        let artifact: ModelArtifact = serde_json::from_slice(bytes)
            .map_err(|e| format!("{name}@{version}: not a drover model artifact: {e}"))?;
        if artifact.format != ARTIFACT_FORMAT {
            return Err(format!(
                "{name}@{version}: artifact format {} is not {ARTIFACT_FORMAT}; upgrade the agent",
                artifact.format
            ));
        }
        let labels = [
            ("model", name.to_string()),
            ("version", version.to_string()),
        ];
        let classes = artifact.classes.len();
        let inputs: Vec<(String, bool)> = artifact
            .pipeline
            .inputs()
            .map(|(name, numeric)| (name.to_string(), numeric))
            .collect();
        let class_numbers = artifact
            .classes
            .iter()
            .map(|c| c.parse::<i64>().ok())
            .collect();
        let now_ms = drover_protocol::types::unix_ms();
        let sketch = artifact
            .reference
            .as_ref()
            .and_then(|r| Sketch::new(name, version, r, &inputs, now_ms));
        let stamp = HeaderValue::from_str(&format!("{name}@{version}"))
            .map_err(|_| format!("{name}@{version}: the model name cannot be a header value"))?;
        Ok(Self {
            stamp,
            version_text: version.to_string(),
            class_numbers,
            name: name.into(),
            version,
            inputs,
            shadow_requests: metrics::counter!("drover_shadow_requests_total", &labels),
            shadow_rows_differing: metrics::counter!("drover_shadow_rows_differing_total", &labels),
            window: Window::new(name, version, classes, now_ms),
            sketch,
            labelled: Labelled::default(),
            artifact,
        })
    }

    /// The input columns in order, and whether each is numeric.
    pub fn inputs(&self) -> &[(String, bool)] {
        &self.inputs
    }

    /// The class names of a classifier (empty for a regressor).
    pub fn classes(&self) -> &[String] {
        &self.artifact.classes
    }

    /// The datatype of predicted labels: `INT64` when every class name is an integer,
    /// `BYTES` otherwise.
    pub fn label_datatype(&self) -> &'static str {
        if self.class_numbers.is_some() {
            "INT64"
        } else {
            "BYTES"
        }
    }

    /// The labels of classes `chosen` (indices in [`Served::classes`]).
    pub fn labels(&self, chosen: &[usize]) -> Data<'_> {
        match &self.class_numbers {
            Some(numbers) => Data::Integers(
                chosen
                    .iter()
                    .map(|&c| numbers.get(c).copied().unwrap_or_default())
                    .collect(),
            ),
            None => Data::Texts(
                chosen
                    .iter()
                    .map(|&c| self.classes().get(c).map_or("", String::as_str))
                    .collect(),
            ),
        }
    }

    /// Permutation importance of each input column on the recent labelled rows, and how
    /// many rows; `None` for a regressor, with fewer than `min_rows` rows, or rows the model
    /// now refuses.
    pub fn live_importance(&self, min_rows: usize) -> Option<(usize, Vec<f64>)> {
        if self.task() != Task::Classification {
            return None;
        }
        let (cells, truth) = self.labelled.rows();
        if truth.len() < min_rows {
            return None;
        }
        let a = &self.artifact;
        let x = a.pipeline.transform_cells(&cells).ok()?;
        let classes = a.classes.len();
        let importance = crate::train::importance::permutation(
            &x,
            &a.pipeline.spans(),
            |x| crate::train::importance::accuracy(&a.model, classes, x, &truth),
            u64::from(self.version),
        );
        Some((truth.len(), importance))
    }

    /// The column the model was trained to predict.
    pub fn target(&self) -> &str {
        &self.artifact.target
    }

    /// What the model predicts.
    pub fn task(&self) -> Task {
        self.artifact.algorithm.task()
    }

    /// Predictions for rows of cells in [`Served::inputs`] order. The most probable class is
    /// chosen as at training time (the first of equal probabilities).
    /// Inputs and predictions are sketched, refused rows' inputs included.
    pub fn predict(&self, rows: &Rows) -> Result<Predictions, BadCell> {
        if let Some(sketch) = &self.sketch {
            sketch.inputs(rows.cells());
        }
        let x = self.artifact.pipeline.transform_cells(rows.cells())?;
        let a = &self.artifact;
        let predictions = match self.task() {
            Task::Classification => {
                let probabilities = a.model.probabilities(&x, a.classes.len());
                Predictions::Classes {
                    chosen: most_probable(&probabilities),
                    probabilities,
                }
            }
            Task::Regression => Predictions::Values(a.model.values(&x).to_vec()),
        };
        if let Some(sketch) = &self.sketch {
            let values = match &predictions {
                Predictions::Values(values) => values.as_slice(),
                Predictions::Classes { .. } => &[],
            };
            sketch.predicted(predictions.chosen(), values);
        }
        Ok(predictions)
    }
}
