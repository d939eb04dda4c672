//! A model's predictions on the held-out rows next to the truth: what the fairness gate and
//! the paired comparison with the production model read.

use drover_ml::table::{ColumnData, Table};
use drover_ml::{fairness, paired, score};
use drover_protocol::run::Metrics;
use drover_protocol::spec::{Task, TrainSpec};

use super::model::Model;
use super::pipeline::Pipeline;
use super::{Prepared, TrainError, column_index};

/// One model's predictions on the held-out rows, with the truth, for fairness and comparison.
pub(super) struct Scored {
    task: Task,
    /// Classification: predicted and true class indices (in the candidate's classes) and the
    /// probabilities; regression: predicted and true values.
    predicted: Vec<usize>,
    truth: Vec<usize>,
    probabilities: ndarray::Array2<f64>,
    values: Vec<f64>,
    targets: Vec<f64>,
    positive: usize,
}

impl Scored {
    /// The reference profile of the predictions: counts per class (in `classes` order, the
    /// candidate's own) or the predicted values' bins.
    pub(super) fn prediction_reference(
        &self,
        classes: &[String],
    ) -> drover_protocol::drift::ColumnReference {
        match self.task {
            Task::Classification => drover_ml::drift::reference::classes(classes, &self.predicted),
            Task::Regression => drover_ml::drift::reference::numeric(
                "prediction",
                self.values.iter().map(|v| Some(*v)),
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        spec: &TrainSpec,
        table: &Table,
        prepared: &Prepared,
        pipeline: &Pipeline,
        model: &Model,
        model_classes: &[String],
        rows: &[usize],
    ) -> Result<Self, TrainError> {
        let x = pipeline
            .transform(table, rows)
            .map_err(|e| TrainError::Data(format!("baseline: {e}")))?;
        let classes = prepared.classes.len();
        let mut probabilities = ndarray::Array2::zeros((rows.len(), classes));
        let (mut values, mut targets) = (Vec::new(), Vec::new());
        match spec.task {
            Task::Classification => {
                let own = model.probabilities(&x, model_classes.len());
                for (j, name) in model_classes.iter().enumerate() {
                    if let Ok(k) = prepared.classes.binary_search(name) {
                        probabilities.column_mut(k).assign(&own.column(j));
                    }
                }
            }
            Task::Regression => {
                values = model.values(&x).to_vec();
                targets = rows.iter().filter_map(|&r| prepared.values[r]).collect();
            }
        }
        let predicted = super::model::most_probable(&probabilities);
        let truth = rows.iter().filter_map(|&r| prepared.labels[r]).collect();
        Ok(Self {
            task: spec.task,
            predicted,
            truth,
            probabilities,
            values,
            targets,
            positive: classes.saturating_sub(1),
        })
    }

    pub(super) fn fairness(
        &self,
        table: &Table,
        column: &str,
        rows: &[usize],
    ) -> Result<Metrics, TrainError> {
        let index = column_index(table, column, "sensitive")?;
        let groups: Vec<String> = rows
            .iter()
            .map(|&r| match &table.columns[index] {
                ColumnData::Numeric(v) => {
                    v[r].map_or_else(|| "(missing)".into(), |x| x.to_string())
                }
                ColumnData::Categorical(v) => v[r].clone().unwrap_or_else(|| "(missing)".into()),
            })
            .collect();
        Ok(fairness::differences(
            &groups,
            &self.truth,
            &self.predicted,
            self.positive,
        ))
    }

    /// The baseline's metrics as `baseline_*`, and the paired test's p-value.
    pub(super) fn against(&self, baseline: &Scored) -> Metrics {
        let (metrics, wins, losses) = match self.task {
            Task::Classification => {
                let right = |s: &Scored, i: usize| s.predicted[i] == s.truth[i];
                let n = self.truth.len();
                let wins = (0..n)
                    .filter(|&i| right(self, i) && !right(baseline, i))
                    .count() as u64;
                let losses = (0..n)
                    .filter(|&i| !right(self, i) && right(baseline, i))
                    .count() as u64;
                (
                    score::classification(&baseline.truth, &baseline.probabilities),
                    wins,
                    losses,
                )
            }
            Task::Regression => {
                let errors = |s: &Scored| {
                    s.values
                        .iter()
                        .zip(&s.targets)
                        .map(|(p, t)| (p - t).abs())
                        .collect::<Vec<f64>>()
                };
                let (mine, theirs) = (errors(self), errors(baseline));
                let wins = mine.iter().zip(&theirs).filter(|(a, b)| a < b).count() as u64;
                let losses = mine.iter().zip(&theirs).filter(|(a, b)| a > b).count() as u64;
                (
                    score::regression(&baseline.targets, &baseline.values),
                    wins,
                    losses,
                )
            }
        };
        let mut out: Metrics = metrics
            .into_iter()
            .map(|(k, v)| (format!("baseline_{k}"), v))
            .collect();
        out.insert("paired_p_value".into(), paired::exact_p_value(wins, losses));
        out
    }
}
