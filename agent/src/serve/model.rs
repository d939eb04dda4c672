//! A model as served: its artifact read once, the input columns it takes, and predictions
//! for a batch of rows through the pipeline and model stored at training time.

use drover_protocol::spec::Task;
use ndarray::Array2;

use super::window::Window;
use crate::train::model::most_probable;
use crate::train::pipeline::{BadCell, Cell};
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
}

/// What a model predicted for each row.
#[derive(Debug, Clone, PartialEq)]
pub enum Predictions {
    /// Classifiers: the most probable class of each row, and every class's probability
    /// (rows x classes, in the order of `classes`).
    Classes {
        labels: Vec<String>,
        /// Index of each row's label in `classes`.
        chosen: Vec<usize>,
        classes: Vec<String>,
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
            Predictions::Classes { labels, .. } => labels.len(),
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
        let inputs = artifact
            .pipeline
            .inputs()
            .map(|(name, numeric)| (name.to_string(), numeric))
            .collect();
        Ok(Self {
            name: name.into(),
            version,
            inputs,
            shadow_requests: metrics::counter!("drover_shadow_requests_total", &labels),
            shadow_rows_differing: metrics::counter!("drover_shadow_rows_differing_total", &labels),
            window: Window::new(name, version, classes, drover_protocol::types::unix_ms()),
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

    /// What the model predicts.
    pub fn task(&self) -> Task {
        self.artifact.algorithm.task()
    }

    /// Predictions for `rows` rows given as one column of cells per input, in
    /// [`Served::inputs`] order. The most probable class is chosen as at training time (the
    /// first of equal probabilities).
    pub fn predict(&self, columns: &[Vec<Cell>], rows: usize) -> Result<Predictions, BadCell> {
        let x = self.artifact.pipeline.transform_cells(columns, rows)?;
        let a = &self.artifact;
        Ok(match self.task() {
            Task::Classification => {
                let probabilities = a.model.probabilities(&x, a.classes.len());
                let chosen = most_probable(&probabilities);
                let labels = chosen
                    .iter()
                    .map(|&best| a.classes.get(best).cloned().unwrap_or_default())
                    .collect();
                Predictions::Classes {
                    labels,
                    chosen,
                    classes: a.classes.clone(),
                    probabilities,
                }
            }
            Task::Regression => Predictions::Values(a.model.values(&x).to_vec()),
        })
    }
}
