//! The reference profile a model carries from training: the training rows' bins per input
//! column, the predictions on the held-out rows, and each input's permutation importance on
//! them.

use drover_ml::drift::reference;
use drover_ml::table::{ColumnData, Table};
use drover_protocol::drift::{ColumnReference, Reference};
use drover_protocol::spec::{Task, TrainSpec};

use super::model::Model;
use super::pipeline::Pipeline;
use super::scored::Scored;
use super::{Prepared, importance};

/// The profile of a model fitted as `fitted` on the `(train, test)` rows of `table`.
pub(super) fn reference(
    spec: &TrainSpec,
    table: &Table,
    prepared: &Prepared,
    fitted: (&Pipeline, &Model),
    candidate: &Scored,
    (train_rows, test_rows): (&[usize], &[usize]),
) -> Reference {
    let (pipeline, model) = fitted;
    Reference {
        rows: train_rows.len() as u64,
        columns: prepared
            .features
            .iter()
            .map(|&c| column_reference(table, c, train_rows))
            .collect(),
        predictions: candidate.prediction_reference(&prepared.classes),
        importance: held_out_importance(spec, table, prepared, pipeline, model, test_rows),
    }
}

/// Permutation importance of each input column on the held-out `rows` (accuracy for a
/// classifier, scaled RMSE for a regressor); empty when they cannot be scored.
fn held_out_importance(
    spec: &TrainSpec,
    table: &Table,
    prepared: &Prepared,
    pipeline: &Pipeline,
    model: &Model,
    rows: &[usize],
) -> Vec<f64> {
    let kept: Vec<usize> = rows
        .iter()
        .copied()
        .filter(|&r| match spec.task {
            Task::Classification => prepared.labels.get(r).copied().flatten().is_some(),
            Task::Regression => prepared.values.get(r).copied().flatten().is_some(),
        })
        .collect();
    let Ok(x) = pipeline.transform(table, &kept) else {
        return Vec::new();
    };
    // One of the two is empty: the labels of a classifier, the values of a regressor.
    let truth: Vec<usize> = kept
        .iter()
        .filter_map(|&r| prepared.labels.get(r).copied().flatten())
        .collect();
    let targets: Vec<f64> = kept
        .iter()
        .filter_map(|&r| prepared.values.get(r).copied().flatten())
        .collect();
    let classes = prepared.classes.len();
    let spread = importance::spread(&targets);
    let score = |x: &ndarray::Array2<f64>| match spec.task {
        Task::Classification => importance::accuracy(model, classes, x, &truth),
        Task::Regression => importance::scaled_rmse(model, x, &targets, spread),
    };
    importance::permutation(&x, &pipeline.spans(), score, spec.seed)
}

/// The reference profile of column `c` over the training `rows`.
fn column_reference(table: &Table, c: usize, rows: &[usize]) -> ColumnReference {
    let name = &table.schema.columns[c].name;
    match &table.columns[c] {
        ColumnData::Numeric(values) => reference::numeric(name, rows.iter().map(|&r| values[r])),
        ColumnData::Categorical(values) => {
            reference::categorical(name, rows.iter().map(|&r| values[r].as_deref()))
        }
    }
}
