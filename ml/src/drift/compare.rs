//! Comparing two tables column by column with every statistic that applies, p-values where
//! the method has one, and a verdict by the common libraries' default rule: for a
//! reference of up to [`SMALL_REFERENCE`] values, KS (numbers) or chi-squared (labels) at
//! p < 0.05; beyond it, normed Wasserstein (numbers) or Jensen–Shannon (labels) of 0.1 or
//! more.

use std::collections::HashMap;

use drover_protocol::drift::{Method, REFERENCE_BINS};
use serde::Serialize;

use super::{chi_squared, jensen_shannon, ks, psi, reference, wasserstein};
use crate::table::{ColumnData, Table};

/// References of up to this many values are judged by a test's p-value.
pub const SMALL_REFERENCE: usize = 1_000;
/// The p-value under which a test says the column drifted.
pub const P_DRIFT: f64 = 0.05;
/// The distance from which Wasserstein (normed) and Jensen–Shannon say it drifted.
pub const DISTANCE_DRIFT: f64 = 0.1;

/// One statistic of one column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statistic {
    pub method: Method,
    pub value: f64,
    pub p_value: Option<f64>,
}

/// One column compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnComparison {
    pub column: String,
    pub numeric: bool,
    /// Present values in each file, and missing ones.
    pub reference: usize,
    pub current: usize,
    pub reference_nulls: usize,
    pub current_nulls: usize,
    /// Current values the reference never had (labels only).
    pub unseen: usize,
    pub statistics: Vec<Statistic>,
    /// The method the verdict rests on.
    pub method: Method,
    pub drifted: bool,
}

/// Why two tables cannot be compared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompareError {
    #[error("column {0:?} is not in the reference file")]
    NotInReference(String),
    #[error("column {0:?} is not in the current file")]
    NotInCurrent(String),
    #[error(
        "the files' columns differ: only in the reference {reference:?}, only in the current {current:?}; name the shared ones with --columns"
    )]
    Columns {
        reference: Vec<String>,
        current: Vec<String>,
    },
    #[error("column {0:?} holds numbers in one file and text in the other")]
    Kind(String),
}

/// Compares `current` against `reference` on `columns` (every column when empty; the two
/// files must then have the same ones). Columns are spread over the machine's cores.
pub fn compare(
    reference: &Table,
    current: &Table,
    columns: &[String],
) -> Result<Vec<ColumnComparison>, CompareError> {
    let index = |t: &Table| -> HashMap<String, usize> {
        t.schema
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect()
    };
    let (in_ref, in_cur) = (index(reference), index(current));
    let names: Vec<String> = if columns.is_empty() {
        let only = |a: &Table, b: &HashMap<String, usize>| -> Vec<String> {
            a.schema
                .columns
                .iter()
                .filter(|c| !b.contains_key(&c.name))
                .map(|c| c.name.clone())
                .collect()
        };
        let (r, c) = (only(reference, &in_cur), only(current, &in_ref));
        if !r.is_empty() || !c.is_empty() {
            return Err(CompareError::Columns {
                reference: r,
                current: c,
            });
        }
        reference
            .schema
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect()
    } else {
        columns.to_vec()
    };
    let mut pairs = Vec::with_capacity(names.len());
    for name in &names {
        let r = *in_ref
            .get(name)
            .ok_or_else(|| CompareError::NotInReference(name.clone()))?;
        let c = *in_cur
            .get(name)
            .ok_or_else(|| CompareError::NotInCurrent(name.clone()))?;
        let (r, c) = (&reference.columns[r], &current.columns[c]);
        if numeric_column(r) != numeric_column(c) {
            return Err(CompareError::Kind(name.clone()));
        }
        pairs.push((name.as_str(), r, c));
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = pairs.len().div_ceil(threads).max(1);
    Ok(std::thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(name, r, c)| column(name, r, c))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    }))
}

fn numeric_column(data: &ColumnData) -> bool {
    matches!(data, ColumnData::Numeric(_))
}

fn column(name: &str, r: &ColumnData, c: &ColumnData) -> ColumnComparison {
    match (r, c) {
        (ColumnData::Numeric(r), ColumnData::Numeric(c)) => numeric(name, r, c),
        (ColumnData::Categorical(r), ColumnData::Categorical(c)) => categorical(name, r, c),
        _ => unreachable!("kinds were checked"),
    }
}

/// Present, finite values sorted, and how many were missing.
fn sorted(values: &[Option<f64>]) -> (Vec<f64>, usize) {
    let mut present: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let nulls = values.len() - present.len();
    present.sort_unstable_by(f64::total_cmp);
    (present, nulls)
}

fn numeric(name: &str, r: &[Option<f64>], c: &[Option<f64>]) -> ColumnComparison {
    let (r, reference_nulls) = sorted(r);
    let (c, current_nulls) = sorted(c);
    let edges = reference::quantile_edges(&r, REFERENCE_BINS);
    let (rb, cb) = (
        reference::sorted_counts(&r, &edges),
        reference::sorted_counts(&c, &edges),
    );
    let d = ks::statistic(&r, &c);
    let (_, std) = crate::profile::mean_std(&r);
    let w = wasserstein::distance(&r, &c) / std.max(f64::EPSILON);
    let (chi, dof) = chi_squared::statistic(&rb, &cb);
    let statistics = vec![
        Statistic {
            method: Method::Ks,
            value: d,
            p_value: Some(ks::p_value(d, r.len(), c.len())),
        },
        Statistic {
            method: Method::Psi,
            value: psi::psi(&rb, &cb),
            p_value: None,
        },
        Statistic {
            method: Method::Wasserstein,
            value: w,
            p_value: None,
        },
        Statistic {
            method: Method::JensenShannon,
            value: jensen_shannon::distance(&rb, &cb),
            p_value: None,
        },
        Statistic {
            method: Method::ChiSquared,
            value: chi,
            p_value: Some(chi_squared::p_value(chi, dof)),
        },
    ];
    let small = r.len() <= SMALL_REFERENCE;
    let (method, drifted) = if small {
        (Method::Ks, statistics[0].p_value.unwrap_or(1.0) < P_DRIFT)
    } else {
        (Method::Wasserstein, w >= DISTANCE_DRIFT)
    };
    ColumnComparison {
        column: name.into(),
        numeric: true,
        reference: r.len(),
        current: c.len(),
        reference_nulls,
        current_nulls,
        unseen: 0,
        statistics,
        method,
        drifted,
    }
}

fn categorical(name: &str, r: &[Option<String>], c: &[Option<String>]) -> ColumnComparison {
    let mut bins: HashMap<&str, usize> = HashMap::new();
    let mut rb: Vec<u64> = Vec::new();
    for v in r.iter().flatten() {
        let next = bins.len();
        let bin = *bins.entry(v.as_str()).or_insert(next);
        if bin == rb.len() {
            rb.push(0);
        }
        rb[bin] += 1;
    }
    let known = rb.len();
    let mut cb = vec![0u64; known];
    let mut unseen = 0;
    for v in c.iter().flatten() {
        let next = bins.len();
        let bin = *bins.entry(v.as_str()).or_insert(next);
        if bin >= known {
            unseen += 1;
        }
        if bin >= cb.len() {
            cb.resize(bin + 1, 0);
        }
        cb[bin] += 1;
    }
    rb.resize(cb.len(), 0);
    let (chi, dof) = chi_squared::statistic(&rb, &cb);
    let js = jensen_shannon::distance(&rb, &cb);
    let statistics = vec![
        Statistic {
            method: Method::Psi,
            value: psi::psi(&rb, &cb),
            p_value: None,
        },
        Statistic {
            method: Method::JensenShannon,
            value: js,
            p_value: None,
        },
        Statistic {
            method: Method::ChiSquared,
            value: chi,
            p_value: Some(chi_squared::p_value(chi, dof)),
        },
    ];
    let present = |v: &[Option<String>]| v.iter().flatten().count();
    let reference = present(r);
    let (method, drifted) = if reference <= SMALL_REFERENCE {
        (
            Method::ChiSquared,
            statistics[2].p_value.unwrap_or(1.0) < P_DRIFT || unseen > 0,
        )
    } else {
        (Method::JensenShannon, js >= DISTANCE_DRIFT)
    };
    ColumnComparison {
        column: name.into(),
        numeric: false,
        reference,
        current: present(c),
        reference_nulls: r.len() - reference,
        current_nulls: c.len() - present(c),
        unseen,
        statistics,
        method,
        drifted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::parse;

    fn table(csv: &str) -> Table {
        parse(csv.as_bytes()).expect("parses")
    }

    #[test]
    fn files_whose_columns_differ_are_refused_unless_shared_columns_are_named() {
        let r = table("x,y\n1,a\n2,b\n");
        let c = table("x,z\n1,a\n2,b\n");
        let e = compare(&r, &c, &[]).expect_err("columns differ");
        assert_eq!(
            e,
            CompareError::Columns {
                reference: vec!["y".into()],
                current: vec!["z".into()]
            }
        );
        assert!(e.to_string().contains("--columns"));
        assert_eq!(
            compare(&r, &c, &["x".into()]).expect("x is shared").len(),
            1
        );
        assert_eq!(
            compare(&r, &c, &["y".into()]),
            Err(CompareError::NotInCurrent("y".into()))
        );
        let text = table("x,y\n1,a\nlots,b\n");
        assert_eq!(
            compare(&r, &text, &["x".into()]),
            Err(CompareError::Kind("x".into()))
        );
    }

    #[test]
    fn unseen_categories_and_missing_values_are_counted_and_drift() {
        let r = table("plan\na\nb\na\nb\n");
        let c = table("plan\na\nz\nNA\nb\n");
        let result = compare(&r, &c, &[]).expect("compares");
        let plan = &result[0];
        assert_eq!((plan.unseen, plan.current_nulls, plan.reference), (1, 1, 4));
        assert!(
            plan.drifted,
            "a category never seen is drift in a small reference"
        );
    }

    #[test]
    fn a_shifted_numeric_column_drifts_and_an_unchanged_one_does_not() {
        let mut r = String::from("x,y\n");
        let mut c = String::from("x,y\n");
        for i in 0..2_000 {
            let v = (i % 100) as f64 / 10.0;
            r.push_str(&format!("{v},{v}\n"));
            c.push_str(&format!("{},{v}\n", v + 3.0));
        }
        let result = compare(&table(&r), &table(&c), &[]).expect("compares");
        assert_eq!(result[0].method, Method::Wasserstein);
        assert!(result[0].drifted);
        assert!(!result[1].drifted);
        let ks = &result[0].statistics[0];
        assert_eq!(ks.method, Method::Ks);
        assert!(ks.p_value.expect("p") < 1e-10);
    }
}
