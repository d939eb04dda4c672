//! Per-column profiles of a dataset: counts and missing values for every column; quantiles,
//! moments and an equal-width histogram for numeric columns; frequencies for categorical
//! ones. The reference that drift detection compares live traffic against. `drover-ml`
//! computes them.

use serde::{Deserialize, Serialize};

use super::schema::ColumnKind;

/// Quantiles every numeric profile records.
pub const QUANTILES: &[f64] = &[0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0];
/// Histogram bins of a numeric profile.
pub const HISTOGRAM_BINS: usize = 20;
/// Most characters of a category value a profile keeps; longer values are cut, so that a
/// profile stays small whatever the cells hold.
pub const MAX_VALUE_CHARS: usize = 120;
/// Most categories listed by name; the rest are counted together.
pub const TOP_CATEGORIES: usize = 50;

/// Profiles of every column of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
}

/// One column's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub name: String,
    pub kind: ColumnKind,
    /// Values present.
    pub count: u64,
    pub nulls: u64,
    pub numeric: Option<NumericProfile>,
    pub categorical: Option<CategoricalProfile>,
}

/// Distribution of a numeric column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericProfile {
    #[serde(with = "crate::float")]
    pub min: f64,
    #[serde(with = "crate::float")]
    pub max: f64,
    #[serde(with = "crate::float")]
    pub mean: f64,
    #[serde(with = "crate::float")]
    pub std: f64,
    /// `(q, value)` for each of [`QUANTILES`].
    #[serde(with = "crate::float::pairs")]
    pub quantiles: Vec<(f64, f64)>,
    pub histogram: Histogram,
}

/// Counts of values in equal-width bins; `edges` has one more entry than `counts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    #[serde(with = "crate::float::vec")]
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

impl Histogram {
    /// The bin `value` falls in; values outside the edges go to the first or last bin.
    pub fn bin(&self, value: f64) -> usize {
        let last = self.counts.len().saturating_sub(1);
        self.edges[1..self.edges.len() - 1]
            .partition_point(|edge| *edge <= value)
            .min(last)
    }
}

/// Frequencies of a categorical column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalProfile {
    pub distinct: u64,
    /// The most frequent categories with their counts, most frequent first.
    pub top: Vec<(String, u64)>,
    /// Values of categories beyond the top ones.
    pub other: u64,
}

impl Histogram {
    /// [`HISTOGRAM_BINS`] empty equal-width bins from `min` to `max` (one bin when they are
    /// equal).
    pub fn spanning(min: f64, max: f64) -> Self {
        Self::with_bins(min, max, HISTOGRAM_BINS)
    }

    /// `bins` empty equal-width bins from `min` to `max` (one bin when they are equal).
    pub fn with_bins(min: f64, max: f64, bins: usize) -> Self {
        let bins = if max > min { bins.max(1) } else { 1 };
        let width = (max - min) / bins as f64;
        let edges = (0..=bins)
            .map(|i| {
                if i == bins {
                    max
                } else {
                    min + width * i as f64
                }
            })
            .collect();
        Self {
            edges,
            counts: vec![0; bins],
        }
    }

    /// Counts one value.
    pub fn add(&mut self, value: f64) {
        let bin = self.bin(value);
        self.counts[bin] += 1;
    }
}
