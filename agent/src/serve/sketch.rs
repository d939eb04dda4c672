//! Live sketches: every input value and prediction of a served version counted in the bins
//! of its reference profile (a fixed size per version, whatever the traffic), taken and reset
//! when the window closes. A request's values are counted under one lock, which costs less
//! than an atomic increment per value.

use std::collections::HashMap;
use std::sync::Mutex;

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

/// One column: its binning, and where its counts sit in the tally (its bins, then its
/// nulls, then its invalid values).
#[derive(Debug)]
struct Column {
    binning: Binning,
    at: usize,
    bins: usize,
}

impl Column {
    fn new(reference: &ColumnReference, at: usize) -> Self {
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
            binning,
            at,
            bins: reference.shape.bins(),
        }
    }

    /// How many places the column takes in the tally.
    fn width(&self) -> usize {
        self.bins + 2
    }

    /// The tally place of bin `bin`, or of the invalid values.
    fn bin(&self, bin: Option<usize>) -> usize {
        match bin.filter(|&b| b < self.bins) {
            Some(b) => self.at + b,
            None => self.at + self.bins + 1,
        }
    }

    /// The tally place of one request value. A number for a categorical column, or text
    /// for a numeric one, is invalid (the request is refused, but the sketch still sees it).
    fn place(&self, cell: &Cell) -> usize {
        match (cell, &self.binning) {
            (Cell::Missing, _) => self.at + self.bins,
            (Cell::Number(v), Binning::Numeric(edges)) => self.bin(Shape::bin_number(edges, *v)),
            (Cell::Text(t), Binning::Categorical(bins, other)) => {
                self.bin(bins.get(t.as_str()).copied().or(*other))
            }
            _ => self.bin(None),
        }
    }

    fn counts(&self, tally: &[u64]) -> ColumnCounts {
        let end = self.at + self.bins;
        ColumnCounts {
            counts: tally[self.at..end].to_vec(),
            nulls: tally[end],
            invalid: tally[end + 1],
        }
    }
}

/// What a window has counted so far.
#[derive(Debug)]
struct Tally {
    opened_ms: u64,
    rows: u64,
    counts: Vec<u64>,
}

/// A version's sketch since its window opened.
#[derive(Debug)]
pub struct Sketch {
    model: String,
    version: u32,
    columns: Vec<Column>,
    predictions: Column,
    tally: Mutex<Tally>,
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
        if !matches {
            return None;
        }
        let mut places = 0;
        let mut column = |reference: &ColumnReference| {
            let column = Column::new(reference, places);
            places += column.width();
            column
        };
        let columns = reference.columns.iter().map(&mut column).collect();
        let predictions = column(&reference.predictions);
        Some(Self {
            model: model.into(),
            version,
            columns,
            predictions,
            tally: Mutex::new(Tally {
                opened_ms: now_ms,
                rows: 0,
                counts: vec![0; places],
            }),
        })
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the cells of rows, row after row in input order.
    pub fn inputs(&self, cells: &[Cell]) {
        let width = self.columns.len().max(1);
        let mut tally = self.tally();
        tally.rows += (cells.len() / width) as u64;
        for (cell, column) in cells.iter().zip(self.columns.iter().cycle()) {
            tally.counts[column.place(cell)] += 1;
        }
    }

    /// Counts what the model predicted: class indices (a classifier) or values.
    pub fn predicted(&self, chosen: &[usize], values: &[f64]) {
        let column = &self.predictions;
        let mut tally = self.tally();
        for &c in chosen {
            tally.counts[column.bin(Some(c))] += 1;
        }
        for &v in values {
            tally.counts[column.place(&Cell::Number(v))] += 1;
        }
    }

    /// Closes the window at `now_ms`: what it counted, when it saw any row.
    pub fn take(&self, now_ms: u64) -> Option<SketchWindow> {
        let (start_ms, rows, counts) = {
            let mut tally = self.tally();
            let zeros = vec![0; tally.counts.len()];
            let start_ms = std::mem::replace(&mut tally.opened_ms, now_ms);
            let rows = std::mem::take(&mut tally.rows);
            (start_ms, rows, std::mem::replace(&mut tally.counts, zeros))
        };
        (rows > 0).then(|| SketchWindow {
            model: self.model.clone(),
            version: self.version,
            start_ms,
            end_ms: now_ms,
            columns: self.columns.iter().map(|c| c.counts(&counts)).collect(),
            predictions: self.predictions.counts(&counts),
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
