//! The preprocessing pipeline stored inside every model: missing values imputed (median for
//! numbers, most frequent category for labels), numbers standardized, categories one-hot
//! encoded. Fitted on training rows only, so nothing leaks from validation or test rows.

use std::collections::BTreeMap;

use drover_ml::table::{ColumnData, Table};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// How one input column becomes model features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Feature {
    /// One standardized feature: `(value or fill - mean) / scale`.
    Numeric {
        column: String,
        fill: f64,
        mean: f64,
        scale: f64,
    },
    /// One 0/1 feature per category seen in training; unseen categories are all zeros.
    Categorical {
        column: String,
        fill: String,
        categories: Vec<String>,
    },
}

/// The fitted pipeline: input columns in order and what each becomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub features: Vec<Feature>,
}

/// One input value as a prediction request carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Missing,
    Number(f64),
    Text(String),
}

/// A request value that does not fit the column it is for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{column}: {reason}")]
pub struct BadCell {
    pub column: String,
    pub reason: String,
}

/// A missing feature column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the data has no column {0:?}")]
pub struct MissingColumn(pub String);

/// The median, found by selection rather than a full sort.
fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let even = values.len().is_multiple_of(2);
    let (lower, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if even {
        let below = lower
            .iter()
            .copied()
            .max_by(f64::total_cmp)
            .unwrap_or(upper);
        (below + upper) / 2.0
    } else {
        upper
    }
}

impl Pipeline {
    /// Fits the pipeline for `columns` of `table`, looking only at `rows`.
    pub fn fit(table: &Table, columns: &[usize], rows: &[usize]) -> Self {
        let features = columns
            .iter()
            .map(|&c| {
                let name = table.schema.columns[c].name.clone();
                match &table.columns[c] {
                    ColumnData::Numeric(values) => {
                        let present: Vec<f64> = rows.iter().filter_map(|&r| values[r]).collect();
                        let fill = median(present);
                        let n = rows.len().max(1) as f64;
                        let filled = || rows.iter().map(|&r| values[r].unwrap_or(fill));
                        let mean = filled().sum::<f64>() / n;
                        let std = (filled().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
                        Feature::Numeric {
                            column: name,
                            fill,
                            mean,
                            scale: if std > 1e-12 { std } else { 1.0 },
                        }
                    }
                    ColumnData::Categorical(values) => {
                        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                        for value in rows.iter().filter_map(|&r| values[r].as_deref()) {
                            *counts.entry(value).or_default() += 1;
                        }
                        let fill = counts
                            .iter()
                            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                            .map_or_else(String::new, |(k, _)| k.to_string());
                        Feature::Categorical {
                            column: name,
                            fill,
                            categories: counts.keys().map(|k| k.to_string()).collect(),
                        }
                    }
                }
            })
            .collect();
        Self { features }
    }

    /// Features per row.
    pub fn width(&self) -> usize {
        self.features
            .iter()
            .map(|f| match f {
                Feature::Numeric { .. } => 1,
                Feature::Categorical { categories, .. } => categories.len(),
            })
            .sum()
    }

    /// Each input column's range of model features (one for a number, one per category for
    /// a label), in input order.
    pub fn spans(&self) -> Vec<std::ops::Range<usize>> {
        let mut offset = 0;
        self.features
            .iter()
            .map(|f| {
                let width = match f {
                    Feature::Numeric { .. } => 1,
                    Feature::Categorical { categories, .. } => categories.len(),
                };
                offset += width;
                offset - width..offset
            })
            .collect()
    }

    /// Names of the model's features (`column` or `column=category`).
    pub fn feature_names(&self) -> Vec<String> {
        self.features
            .iter()
            .flat_map(|f| match f {
                Feature::Numeric { column, .. } => vec![column.clone()],
                Feature::Categorical {
                    column, categories, ..
                } => categories.iter().map(|c| format!("{column}={c}")).collect(),
            })
            .collect()
    }

    /// The input columns in order, and whether each is numeric.
    pub fn inputs(&self) -> impl Iterator<Item = (&str, bool)> {
        self.features.iter().map(|f| match f {
            Feature::Numeric { column, .. } => (column.as_str(), true),
            Feature::Categorical { column, .. } => (column.as_str(), false),
        })
    }

    /// The feature matrix for rows of cells, one per input column in [`Pipeline::inputs`]
    /// order, row after row: the arithmetic of [`Pipeline::transform`], so a served
    /// prediction equals the one made at training time bit for bit.
    pub fn transform_cells(&self, cells: &[Cell]) -> Result<Array2<f64>, BadCell> {
        let inputs = self.features.len().max(1);
        let rows = cells.len() / inputs;
        let mut x = Array2::zeros((rows, self.width()));
        let mut offset = 0;
        for (j, feature) in self.features.iter().enumerate() {
            let column = cells.iter().skip(j).step_by(inputs).take(rows);
            let bad = |column: &str, reason: String| BadCell {
                column: column.to_string(),
                reason,
            };
            match feature {
                Feature::Numeric {
                    column: name,
                    fill,
                    mean,
                    scale,
                } => {
                    for (i, cell) in column.enumerate() {
                        let value = match cell {
                            Cell::Missing => *fill,
                            Cell::Number(v) if v.is_finite() => *v,
                            Cell::Number(v) => {
                                return Err(bad(name, format!("{v} is not a finite number")));
                            }
                            Cell::Text(t) => {
                                return Err(bad(
                                    name,
                                    format!("expected a number, got the string {t:?}"),
                                ));
                            }
                        };
                        x[[i, offset]] = (value - mean) / scale;
                    }
                    offset += 1;
                }
                Feature::Categorical {
                    column: name,
                    fill,
                    categories,
                } => {
                    for (i, cell) in column.enumerate() {
                        let value = match cell {
                            Cell::Missing => fill.as_str(),
                            Cell::Text(t) => t.as_str(),
                            Cell::Number(v) => {
                                return Err(bad(
                                    name,
                                    format!("expected a category (a string), got the number {v}"),
                                ));
                            }
                        };
                        if let Ok(k) = categories.binary_search_by(|c| c.as_str().cmp(value)) {
                            x[[i, offset + k]] = 1.0;
                        }
                    }
                    offset += categories.len();
                }
            }
        }
        Ok(x)
    }

    /// The feature matrix for `rows` of `table` (any table with the fitted columns).
    pub fn transform(&self, table: &Table, rows: &[usize]) -> Result<Array2<f64>, MissingColumn> {
        let mut x = Array2::zeros((rows.len(), self.width()));
        let mut offset = 0;
        for feature in &self.features {
            let column = match feature {
                Feature::Numeric { column, .. } | Feature::Categorical { column, .. } => column,
            };
            let index = table
                .schema
                .columns
                .iter()
                .position(|c| &c.name == column)
                .ok_or_else(|| MissingColumn(column.clone()))?;
            match (feature, &table.columns[index]) {
                (
                    Feature::Numeric {
                        fill, mean, scale, ..
                    },
                    ColumnData::Numeric(values),
                ) => {
                    for (i, &r) in rows.iter().enumerate() {
                        x[[i, offset]] = (values[r].unwrap_or(*fill) - mean) / scale;
                    }
                    offset += 1;
                }
                (
                    Feature::Categorical {
                        fill, categories, ..
                    },
                    ColumnData::Categorical(values),
                ) => {
                    for (i, &r) in rows.iter().enumerate() {
                        let value = values[r].as_deref().unwrap_or(fill);
                        if let Ok(k) = categories.binary_search_by(|c| c.as_str().cmp(value)) {
                            x[[i, offset + k]] = 1.0;
                        }
                    }
                    offset += categories.len();
                }
                _ => {
                    return Err(MissingColumn(format!(
                        "{column} (with the type it was trained on)"
                    )));
                }
            }
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_ml::table::parse;

    #[test]
    fn median_by_selection_matches_the_sorted_middle() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![7.0]), 7.0);
        assert_eq!(median(Vec::new()), 0.0);
    }

    #[test]
    fn fits_on_training_rows_only_and_encodes() {
        let table = parse(b"x,c\n1,a\n3,b\nNA,a\n100,z\n").expect("csv");
        let pipeline = Pipeline::fit(&table, &[0, 1], &[0, 1, 2]);
        assert_eq!(pipeline.feature_names(), vec!["x", "c=a", "c=b"]);
        let Feature::Numeric { fill, mean, .. } = &pipeline.features[0] else {
            panic!("numeric")
        };
        assert_eq!(
            (*fill, *mean),
            (2.0, 2.0),
            "the 100 in the held-out row is not seen"
        );
        let x = pipeline.transform(&table, &[2, 3]).expect("transform");
        assert_eq!(
            x.row(0).to_vec(),
            vec![0.0, 1.0, 0.0],
            "missing x is the median, standardized to 0"
        );
        assert_eq!(
            &x.row(1).to_vec()[1..],
            &[0.0, 0.0],
            "an unseen category is all zeros"
        );
    }
}
