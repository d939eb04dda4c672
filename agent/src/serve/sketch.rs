//! Live sketches: every input value and prediction of a served version counted in the bins
//! of its reference profile, with atomics (a fixed size per version, whatever the traffic),
//! taken and reset when the window closes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use drover_protocol::drift::{ColumnCounts, ColumnReference, Reference, Shape, SketchWindow};

use crate::train::pipeline::Cell;

/// How one column's values find their bin.
#[derive(Debug)]
enum Binning {
    Numeric(Vec<f64>),
    /// Each listed category's bin, and the bin of every other value, if the reference has
    /// one (otherwise such a value is unseen).
    Categorical(HashMap<String, usize>, Option<usize>),
}

/// One column's counts.
#[derive(Debug)]
struct Counter {
    binning: Binning,
    counts: Vec<AtomicU64>,
    nulls: AtomicU64,
    invalid: AtomicU64,
}

impl Counter {
    fn new(reference: &ColumnReference) -> Self {
        let binning = match &reference.shape {
            Shape::Numeric { edges, .. } => Binning::Numeric(edges.clone()),
            Shape::Categorical { categories, other } => Binning::Categorical(
                categories
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), i))
                    .collect(),
                other.then_some(categories.len()),
            ),
        };
        Self {
            counts: (0..reference.shape.bins())
                .map(|_| AtomicU64::new(0))
                .collect(),
            binning,
            nulls: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
        }
    }

    fn bump(&self, bin: Option<usize>) {
        match bin.and_then(|b| self.counts.get(b)) {
            Some(count) => count.fetch_add(1, Ordering::Relaxed),
            None => self.invalid.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Counts one request value. A number for a categorical column, or text for a numeric
    /// one, is invalid (the request is refused, but the sketch still sees it).
    fn cell(&self, cell: &Cell) {
        match (cell, &self.binning) {
            (Cell::Missing, _) => {
                self.nulls.fetch_add(1, Ordering::Relaxed);
            }
            (Cell::Number(v), Binning::Numeric(edges)) => self.bump(Shape::bin_number(edges, *v)),
            (Cell::Text(t), Binning::Categorical(bins, other)) => {
                self.bump(bins.get(t.as_str()).copied().or(*other))
            }
            _ => self.bump(None),
        }
    }

    fn take(&self) -> ColumnCounts {
        let take = |a: &AtomicU64| a.swap(0, Ordering::Relaxed);
        ColumnCounts {
            counts: self.counts.iter().map(take).collect(),
            nulls: take(&self.nulls),
            invalid: take(&self.invalid),
        }
    }
}

/// A version's sketch since its window opened.
#[derive(Debug)]
pub struct Sketch {
    model: String,
    version: u32,
    opened_ms: AtomicU64,
    rows: AtomicU64,
    columns: Vec<Counter>,
    predictions: Counter,
}

impl Sketch {
    /// A sketch with the bins of `reference`, when its columns are the model's `inputs`.
    pub fn new(
        model: &str,
        version: u32,
        reference: &Reference,
        inputs: &[(String, bool)],
        now_ms: u64,
    ) -> Option<Self> {
        let matches = reference.columns.len() == inputs.len()
            && reference
                .columns
                .iter()
                .zip(inputs)
                .all(|(c, (name, _))| &c.name == name);
        matches.then(|| Self {
            model: model.into(),
            version,
            opened_ms: AtomicU64::new(now_ms),
            rows: AtomicU64::new(0),
            columns: reference.columns.iter().map(Counter::new).collect(),
            predictions: Counter::new(&reference.predictions),
        })
    }

    /// Counts the cells of rows, row after row in input order.
    pub fn inputs(&self, cells: &[Cell]) {
        let width = self.columns.len().max(1);
        self.rows
            .fetch_add((cells.len() / width) as u64, Ordering::Relaxed);
        for (cell, counter) in cells.iter().zip(self.columns.iter().cycle()) {
            counter.cell(cell);
        }
    }

    /// Counts what the model predicted: class indices (a classifier) or values.
    pub fn predicted(&self, chosen: &[usize], values: &[f64]) {
        for &c in chosen {
            self.predictions.bump(Some(c));
        }
        for &v in values {
            self.predictions.cell(&Cell::Number(v));
        }
    }

    /// Closes the window at `now_ms`: what it counted, when it saw any row.
    pub fn take(&self, now_ms: u64) -> Option<SketchWindow> {
        let start_ms = self.opened_ms.swap(now_ms, Ordering::Relaxed);
        let rows = self.rows.swap(0, Ordering::Relaxed);
        let columns: Vec<ColumnCounts> = self.columns.iter().map(Counter::take).collect();
        let predictions = self.predictions.take();
        (rows > 0).then(|| SketchWindow {
            model: self.model.clone(),
            version: self.version,
            start_ms,
            end_ms: now_ms,
            columns,
            predictions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_ml::drift::reference;

    #[test]
    fn cells_fall_in_their_reference_bins_and_odd_ones_are_counted_apart() {
        let x = reference::numeric("x", (0..100).map(|v| Some(v as f64)));
        let plan = reference::categorical("plan", ["a", "b", "a"].into_iter().map(Some));
        let profile = Reference {
            rows: 100,
            columns: vec![x, plan],
            predictions: reference::classes(&["0".into(), "1".into()], &[0, 1]),
            importance: Vec::new(),
        };
        let inputs = [("x".to_string(), true), ("plan".to_string(), false)];
        let sketch = Sketch::new("m", 1, &profile, &inputs, 5).expect("columns match");
        let cells = [
            Cell::Number(1.0),
            Cell::Text("a".into()),
            Cell::Number(f64::NAN),
            Cell::Text("zzz".into()),
            Cell::Missing,
            Cell::Number(3.0),
        ];
        sketch.inputs(&cells);
        sketch.predicted(&[1], &[]);
        let window = sketch.take(9).expect("rows seen");
        assert_eq!((window.start_ms, window.end_ms), (5, 9));
        let (x, plan) = (&window.columns[0], &window.columns[1]);
        assert_eq!((x.total(), x.invalid, x.nulls), (1, 1, 1));
        assert_eq!(
            (plan.counts.clone(), plan.invalid),
            (vec![1, 0], 2),
            "zzz is unseen, 3.0 no category"
        );
        assert!(sketch.take(10).is_none(), "an empty window sends nothing");
        let other = [("y".to_string(), true), ("plan".to_string(), false)];
        assert!(Sketch::new("m", 1, &profile, &other, 5).is_none());
    }

    #[test]
    fn values_beyond_a_wide_columns_listed_categories_fall_in_its_other_bin() {
        let zips: Vec<String> = (0..100).map(|i| format!("z{i}")).collect();
        let zip = reference::categorical("zip", zips.iter().map(|z| Some(z.as_str())));
        let profile = Reference {
            rows: 100,
            columns: vec![zip],
            predictions: reference::classes(&["0".into(), "1".into()], &[0, 1]),
            importance: Vec::new(),
        };
        let inputs = [("zip".to_string(), false)];
        let sketch = Sketch::new("m", 1, &profile, &inputs, 0).expect("columns match");
        sketch.inputs(&[Cell::Text("z99".into()), Cell::Text("never".into())]);
        let window = sketch.take(1).expect("rows");
        let zip = &window.columns[0];
        assert_eq!((zip.counts.last(), zip.invalid), (Some(&2), 0));
    }
}
