//! Profiling a parsed table: counts and missing values for every column; quantiles, moments
//! and an equal-width histogram for numeric columns; frequencies for categorical ones. The
//! profile types live in `drover_protocol::data::profile`.

use std::collections::HashMap;

use drover_protocol::data::profile::{
    CategoricalProfile, ColumnProfile, Histogram, MAX_VALUE_CHARS, NumericProfile, Profile,
    QUANTILES, TOP_CATEGORIES,
};

use crate::table::{ColumnData, Table};

/// Profiles every column of `table`.
pub fn profile(table: &Table) -> Profile {
    let columns = table
        .schema
        .columns
        .iter()
        .zip(&table.columns)
        .map(|(column, data)| {
            let nulls = data.nulls() as u64;
            let (numeric, categorical) = match data {
                ColumnData::Numeric(values) => (numeric(values), None),
                ColumnData::Categorical(values) => (None, Some(categorical(values))),
            };
            ColumnProfile {
                name: column.name.clone(),
                kind: column.kind,
                count: table.rows as u64 - nulls,
                nulls,
                numeric,
                categorical,
            }
        })
        .collect();
    Profile {
        rows: table.rows as u64,
        columns,
    }
}

fn numeric(values: &[Option<f64>]) -> Option<NumericProfile> {
    numeric_exact(values.iter().flatten().copied().collect())
}

/// The profile of a numeric column's present values, with exact quantiles.
pub(crate) fn numeric_exact(mut sorted: Vec<f64>) -> Option<NumericProfile> {
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let (mean, std) = mean_std(&sorted);
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    let quantiles = QUANTILES
        .iter()
        .map(|q| (*q, quantile(&sorted, *q)))
        .collect();
    let mut histogram = Histogram::spanning(min, max);
    sorted.iter().for_each(|v| histogram.add(*v));
    Some(NumericProfile {
        min,
        max,
        mean,
        std,
        quantiles,
        histogram,
    })
}

/// The mean and the (population) standard deviation of `values`; zeros when empty.
pub(crate) fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    (mean, std)
}

/// Linear interpolation between the closest ranks of sorted values.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = q * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

fn categorical(values: &[Option<String>]) -> CategoricalProfile {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for value in values.iter().flatten() {
        match counts.get_mut(value.as_str()) {
            Some(count) => *count += 1,
            None => {
                counts.insert(value.clone(), 1);
            }
        }
    }
    categorical_from(counts, 0)
}

/// The profile of a categorical column from its counts; `untracked` values were counted in
/// no category (a bounded counter ran out of room), so they go to `other` and `distinct` is
/// then a lower bound.
pub(crate) fn categorical_from(counts: HashMap<String, u64>, untracked: u64) -> CategoricalProfile {
    let mut sorted: Vec<(String, u64)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let distinct = sorted.len() as u64;
    let other = untracked
        + sorted
            .iter()
            .skip(TOP_CATEGORIES)
            .map(|(_, c)| c)
            .sum::<u64>();
    sorted.truncate(TOP_CATEGORIES);
    for (value, _) in &mut sorted {
        cut(value);
    }
    CategoricalProfile {
        distinct,
        top: sorted,
        other,
    }
}

/// Cuts `value` to [`MAX_VALUE_CHARS`] characters, marking the cut with an ellipsis.
pub(crate) fn cut(value: &mut String) {
    if let Some((at, _)) = value.char_indices().nth(MAX_VALUE_CHARS) {
        value.truncate(at);
        value.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::parse;
    use drover_protocol::data::profile::HISTOGRAM_BINS;

    #[test]
    fn numeric_profiles_have_quantiles_and_a_full_histogram() {
        let mut csv = String::from("x\n");
        for i in 0..=100 {
            csv.push_str(&format!("{i}\n"));
        }
        csv.push_str("NA\n");
        let profile = profile(&parse(csv.as_bytes()).expect("parses"));
        let x = &profile.columns[0];
        assert_eq!((x.count, x.nulls), (101, 1));
        let numeric = x.numeric.as_ref().expect("numeric");
        assert_eq!((numeric.min, numeric.max, numeric.mean), (0.0, 100.0, 50.0));
        assert_eq!(numeric.quantiles[4], (0.5, 50.0));
        assert_eq!(numeric.quantiles[3], (0.25, 25.0));
        assert_eq!(numeric.histogram.counts.iter().sum::<u64>(), 101);
        assert_eq!(numeric.histogram.counts.len(), HISTOGRAM_BINS);
        assert_eq!(numeric.histogram.bin(-5.0), 0);
        assert_eq!(numeric.histogram.bin(1e9), HISTOGRAM_BINS - 1);
    }

    #[test]
    fn long_category_values_are_cut_in_profiles() {
        let long = "é".repeat(50_000);
        let csv = format!("x\n{long}\n{long}\nb\n");
        let profile = profile(&parse(csv.as_bytes()).expect("parses"));
        let top = &profile.columns[0]
            .categorical
            .as_ref()
            .expect("categorical")
            .top;
        assert_eq!(top[0].1, 2);
        assert_eq!(top[0].0.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(top[0].0.ends_with('…'));
        assert_eq!(top[1], ("b".to_string(), 1));
    }

    #[test]
    fn categorical_profiles_count_each_category() {
        let profile = profile(&parse(b"c\nb\na\nb\nNA\nb\n").expect("parses"));
        let c = profile.columns[0]
            .categorical
            .as_ref()
            .expect("categorical");
        assert_eq!(c.top, vec![("b".to_string(), 3), ("a".to_string(), 1)]);
        assert_eq!((c.distinct, c.other, profile.columns[0].nulls), (2, 0, 1));
    }

    #[test]
    fn a_constant_column_has_one_bin() {
        let profile = profile(&parse(b"k\n3\n3\n").expect("parses"));
        let h = &profile.columns[0]
            .numeric
            .as_ref()
            .expect("numeric")
            .histogram;
        assert_eq!(
            (h.edges.clone(), h.counts.clone()),
            (vec![3.0, 3.0], vec![2])
        );
    }
}
