//! Reference profiles: the bins of each training column (quantile edges for numbers, the
//! most frequent categories for labels) and the training values' counts in them.

use std::collections::HashMap;

use drover_protocol::drift::{ColumnReference, REFERENCE_BINS, REFERENCE_CATEGORIES, Shape};

use crate::profile::{mean_std, quantile};

/// The reference of a numeric column from its values (`None` for missing); NaN and
/// infinities are left out of the bins.
pub fn numeric(name: &str, values: impl Iterator<Item = Option<f64>>) -> ColumnReference {
    let mut nulls = 0;
    let mut sorted: Vec<f64> = values
        .filter_map(|v| {
            if v.is_none() {
                nulls += 1;
            }
            v.filter(|v| v.is_finite())
        })
        .collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let edges = quantile_edges(&sorted, REFERENCE_BINS);
    let counts = sorted_counts(&sorted, &edges);
    let (mean, std) = mean_std(&sorted);
    ColumnReference {
        name: name.into(),
        shape: Shape::Numeric {
            edges,
            min: sorted.first().copied().unwrap_or(0.0),
            max: sorted.last().copied().unwrap_or(0.0),
            mean,
            std,
        },
        counts,
        nulls,
    }
}

/// Interior edges at the `1/bins .. (bins-1)/bins` quantiles of sorted values (linear
/// interpolation, as numpy's default), repeated edges once.
pub fn quantile_edges(sorted: &[f64], bins: usize) -> Vec<f64> {
    if sorted.is_empty() {
        return Vec::new();
    }
    let mut edges: Vec<f64> = (1..bins)
        .map(|i| quantile(sorted, i as f64 / bins as f64))
        .collect();
    edges.dedup();
    edges
}

/// Counts of sorted values in the bins `edges` cut (`edges[i-1] <= v < edges[i]`).
pub fn sorted_counts(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let mut counts = Vec::with_capacity(edges.len() + 1);
    let mut from = 0;
    for &edge in edges {
        let to = from + sorted[from..].partition_point(|&v| v < edge);
        counts.push((to - from) as u64);
        from = to;
    }
    counts.push((sorted.len() - from) as u64);
    counts
}

/// The reference of a categorical column: its categories, most frequent first (ties by
/// name); beyond [`REFERENCE_CATEGORIES`], the rest share an "other" bin.
pub fn categorical<'a>(
    name: &str,
    values: impl Iterator<Item = Option<&'a str>>,
) -> ColumnReference {
    let mut nulls = 0;
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for value in values {
        match value {
            Some(v) => *counts.entry(v).or_default() += 1,
            None => nulls += 1,
        }
    }
    let mut sorted: Vec<(&str, u64)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let other = (sorted.len() > REFERENCE_CATEGORIES)
        .then(|| sorted.split_off(REFERENCE_CATEGORIES - 1))
        .map(|rest| rest.iter().map(|(_, n)| n).sum::<u64>());
    let mut counts: Vec<u64> = sorted.iter().map(|(_, n)| *n).collect();
    counts.extend(other);
    ColumnReference {
        name: name.into(),
        shape: Shape::Categorical {
            categories: sorted.iter().map(|(c, _)| c.to_string()).collect(),
            other: other.is_some(),
        },
        counts,
        nulls,
    }
}

/// The reference of a classifier's predictions: its counts per class, in the model's
/// class order.
pub fn classes(classes: &[String], chosen: &[usize]) -> ColumnReference {
    let mut counts = vec![0; classes.len()];
    for &c in chosen {
        if let Some(n) = counts.get_mut(c) {
            *n += 1;
        }
    }
    ColumnReference {
        name: "prediction".into(),
        shape: Shape::Categorical {
            categories: classes.to_vec(),
            other: false,
        },
        counts,
        nulls: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_edges_are_quantiles_and_repeated_values_share_a_bin() {
        let values = (0..=100)
            .map(|v| Some(v as f64))
            .chain([None, Some(f64::NAN)]);
        let reference = numeric("x", values);
        let Shape::Numeric {
            edges, min, max, ..
        } = &reference.shape
        else {
            panic!("numeric");
        };
        assert_eq!(edges.len(), REFERENCE_BINS - 1);
        assert_eq!((edges[0], *min, *max), (5.0, 0.0, 100.0));
        assert_eq!(reference.counts.iter().sum::<u64>(), 101);
        assert_eq!(reference.nulls, 1);
        assert_eq!(reference.counts[0], 5, "0..=4 below the first edge");

        let flags = numeric("f", [0.0, 0.0, 0.0, 1.0].into_iter().map(Some));
        let Shape::Numeric { edges, .. } = &flags.shape else {
            panic!("numeric");
        };
        assert_eq!(edges[0], 0.0, "the zeros' quantiles collapse into one edge");
        assert_eq!(flags.counts[0], 0);
        assert_eq!(flags.counts[1], 3, "the zeros share a bin");
        assert_eq!(flags.counts.last(), Some(&1));
    }

    #[test]
    fn categories_are_kept_most_frequent_first() {
        let values = ["b", "a", "b", "c"].into_iter().map(Some).chain([None]);
        let reference = categorical("plan", values);
        assert_eq!(
            reference.shape,
            Shape::Categorical {
                categories: vec!["b".into(), "a".into(), "c".into()],
                other: false,
            }
        );
        assert_eq!(
            (reference.counts.clone(), reference.nulls),
            (vec![2, 1, 1], 1)
        );
        let many: Vec<String> = (0..100).map(|i| format!("zip{i:03}")).collect();
        let wide = categorical("zip", many.iter().map(|z| Some(z.as_str())));
        let Shape::Categorical { categories, other } = &wide.shape else {
            panic!("categorical");
        };
        assert_eq!((categories.len(), *other), (REFERENCE_CATEGORIES - 1, true));
        assert_eq!(wide.counts.len(), REFERENCE_CATEGORIES);
        assert_eq!(
            wide.counts.last(),
            Some(&(100 - 63)),
            "the rest share the other bin"
        );
    }
}
