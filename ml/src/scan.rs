//! Validating and profiling a CSV file as a stream, in bounded memory, for uploads of any size
//! (the coordinator checks every `data add` this way; agents, which train on the whole table,
//! use [`crate::table::parse`]). It gives the same schema, errors and profile as parsing the
//! whole table, in two passes over the file:
//!
//! 1. every row is checked (field count, encoding) and each column's type is inferred from
//!    counters, with min, max and sum of its numbers;
//! 2. numeric columns get their spread, histogram and quantiles, categorical ones their counts.
//!
//! Memory stays bounded: quantiles are exact while the numeric values of the file number at
//! most [`EXACT_VALUES`], and otherwise read from a fine histogram (accurate to
//! `(max - min) / FINE_BINS`); each categorical column counts at most its share of
//! [`TRACKED_CATEGORIES`] distinct values (longer ones cut as profiles show them), values
//! beyond that counting as `other`.

use std::collections::HashMap;
use std::io::Read;

use drover_protocol::data::profile::{
    CategoricalProfile, ColumnProfile, Histogram, NumericProfile, Profile, QUANTILES,
};
use drover_protocol::data::schema::{Column, ColumnKind, Schema};

use crate::profile::{categorical_from, cut, numeric_exact};
use crate::table::{
    NUMERIC_MAJORITY, NUMERIC_MIN_VALUES, TableError, csv_error, header_names, is_null, number,
    reader,
};

/// Numeric values kept for exact quantiles, over all columns (8 bytes each).
pub const EXACT_VALUES: u64 = 4_000_000;
/// Bins of the fine histogram quantiles are read from when values are not kept.
pub const FINE_BINS: usize = 4096;
/// Distinct category values counted, shared among the categorical columns.
pub const TRACKED_CATEGORIES: usize = 500_000;
/// Fewest distinct values each categorical column may count.
const MIN_TRACKED_PER_COLUMN: usize = 1000;

/// How much a scan may keep.
#[derive(Debug, Clone, Copy)]
struct Limits {
    exact_values: u64,
    tracked_categories: usize,
    min_tracked_per_column: usize,
}

const LIMITS: Limits = Limits {
    exact_values: EXACT_VALUES,
    tracked_categories: TRACKED_CATEGORIES,
    min_tracked_per_column: MIN_TRACKED_PER_COLUMN,
};

/// A validated CSV: its schema, its profile and its row count.
#[derive(Debug, Clone, PartialEq)]
pub struct Scanned {
    pub schema: Schema,
    pub profile: Profile,
    pub rows: u64,
}

/// Why a scan failed: the CSV is invalid, or it could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
}

/// What the first pass learns of one column.
#[derive(Default)]
struct Seen {
    present: u64,
    numeric: u64,
    integer: bool,
    first_other: Option<(u64, String)>,
    min: f64,
    max: f64,
    sum: f64,
}

/// Validates and profiles the CSV that `open` reads (called once per pass).
pub fn scan<R: Read>(open: impl Fn() -> std::io::Result<R>) -> Result<Scanned, ScanError> {
    scan_within(open, LIMITS)
}

fn scan_within<R: Read>(
    open: impl Fn() -> std::io::Result<R>,
    limits: Limits,
) -> Result<Scanned, ScanError> {
    let (names, seen, rows) = first_pass(open()?)?;
    let mut schema = Schema::default();
    for (name, seen) in names.iter().zip(&seen) {
        schema.columns.push(Column {
            name: name.clone(),
            kind: kind(name, seen)?,
            nullable: seen.present < rows,
        });
    }
    let columns = second_pass(open()?, &schema, &seen, rows, limits)?;
    Ok(Scanned {
        profile: Profile { rows, columns },
        schema,
        rows,
    })
}

fn first_pass<R: Read>(source: R) -> Result<(Vec<String>, Vec<Seen>, u64), ScanError> {
    let mut reader = reader(source);
    let headers = reader.byte_headers().map_err(|e| csv_error(&e, 1))?.clone();
    if headers.is_empty() {
        return Err(TableError::Empty.into());
    }
    let lone_empty = headers.len() == 1 && headers[0].is_empty();
    let names = match header_names(&headers) {
        Err(TableError::EmptyName { .. }) if lone_empty => Vec::new(),
        other => other?,
    };
    let mut seen: Vec<Seen> = (0..headers.len())
        .map(|_| Seen {
            integer: true,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..Seen::default()
        })
        .collect();
    let mut rows = 0u64;
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(&e, 0))?
    {
        let line = record.position().map_or(0, |p| p.line());
        if lone_empty {
            return Err(TableError::EmptyName { index: 1 }.into());
        }
        if record.len() != names.len() {
            return Err(TableError::FieldCount {
                line,
                expected: names.len(),
                found: record.len(),
            }
            .into());
        }
        for (column, field) in seen.iter_mut().zip(record.iter()) {
            let text = std::str::from_utf8(field).map_err(|_| TableError::Encoding { line })?;
            if is_null(text) {
                continue;
            }
            column.present += 1;
            match number(text) {
                Some(v) => {
                    column.numeric += 1;
                    column.integer &= text.parse::<i64>().is_ok();
                    column.min = column.min.min(v);
                    column.max = column.max.max(v);
                    column.sum += v;
                }
                None if column.first_other.is_none() => {
                    let mut shown = text.to_string();
                    cut(&mut shown);
                    column.first_other = Some((line, shown));
                }
                None => {}
            }
        }
        rows += 1;
    }
    match rows {
        0 if lone_empty => Err(TableError::Empty.into()),
        0 => Err(TableError::NoRows.into()),
        _ => Ok((names, seen, rows)),
    }
}

/// A column's type, or the error for a numeric column with a stray value.
fn kind(name: &str, seen: &Seen) -> Result<ColumnKind, TableError> {
    if seen.present > 0 && seen.numeric == seen.present {
        return Ok(if seen.integer {
            ColumnKind::Integer
        } else {
            ColumnKind::Float
        });
    }
    let share = seen.numeric as f64 / seen.present.max(1) as f64;
    if seen.present >= NUMERIC_MIN_VALUES as u64 && share >= NUMERIC_MAJORITY {
        let (line, value) = seen.first_other.clone().unwrap_or_default();
        return Err(TableError::NotNumeric {
            line,
            column: name.to_string(),
            value,
            percent: share * 100.0,
        });
    }
    Ok(ColumnKind::Categorical)
}

/// What the second pass gathers of one column.
enum Gather {
    /// Every value, for exact quantiles.
    Values(Vec<f64>),
    /// A fine histogram, the 20-bin one and the squared deviations from the mean.
    Binned {
        fine: Histogram,
        coarse: Histogram,
        mean: f64,
        squares: f64,
    },
    /// Counts of distinct values, at most `room` of them, and values not counted.
    Counts {
        counts: HashMap<String, u64>,
        room: usize,
        untracked: u64,
    },
}

impl Gather {
    fn add(&mut self, text: &str) {
        match self {
            Gather::Values(values) => values.extend(number(text)),
            Gather::Binned {
                fine,
                coarse,
                mean,
                squares,
            } => {
                if let Some(v) = number(text) {
                    fine.add(v);
                    coarse.add(v);
                    *squares += (v - *mean).powi(2);
                }
            }
            Gather::Counts {
                counts,
                room,
                untracked,
            } => {
                let mut key = text.to_string();
                cut(&mut key);
                let full = counts.len() >= *room;
                match counts.get_mut(&key) {
                    Some(count) => *count += 1,
                    None if full => *untracked += 1,
                    None => {
                        counts.insert(key, 1);
                    }
                }
            }
        }
    }
}

fn second_pass<R: Read>(
    source: R,
    schema: &Schema,
    seen: &[Seen],
    rows: u64,
    limits: Limits,
) -> Result<Vec<ColumnProfile>, ScanError> {
    let numeric_values: u64 = schema
        .columns
        .iter()
        .zip(seen)
        .filter(|(c, _)| c.kind.is_numeric())
        .map(|(_, s)| s.numeric)
        .sum();
    let categorical = schema
        .columns
        .iter()
        .filter(|c| !c.kind.is_numeric())
        .count();
    let room = (limits.tracked_categories / categorical.max(1)).max(limits.min_tracked_per_column);
    let mut gathers: Vec<Gather> = schema
        .columns
        .iter()
        .zip(seen)
        .map(|(column, s)| match column.kind.is_numeric() {
            true if numeric_values <= limits.exact_values => Gather::Values(Vec::new()),
            true => Gather::Binned {
                fine: Histogram::with_bins(s.min, s.max, FINE_BINS),
                coarse: Histogram::spanning(s.min, s.max),
                mean: s.sum / s.numeric as f64,
                squares: 0.0,
            },
            false => Gather::Counts {
                counts: HashMap::new(),
                room,
                untracked: 0,
            },
        })
        .collect();
    let mut reader = reader(source);
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(&e, 0))?
    {
        let line = record.position().map_or(0, |p| p.line());
        for (gather, field) in gathers.iter_mut().zip(record.iter()) {
            let text = std::str::from_utf8(field).map_err(|_| TableError::Encoding { line })?;
            if !is_null(text) {
                gather.add(text);
            }
        }
    }
    Ok(schema
        .columns
        .iter()
        .zip(seen)
        .zip(gathers)
        .map(|((column, s), gather)| {
            let (numeric, categorical) = finish(gather, s);
            ColumnProfile {
                name: column.name.clone(),
                kind: column.kind,
                count: s.present,
                nulls: rows - s.present,
                numeric,
                categorical,
            }
        })
        .collect())
}

fn finish(gather: Gather, seen: &Seen) -> (Option<NumericProfile>, Option<CategoricalProfile>) {
    match gather {
        Gather::Values(values) => (numeric_exact(values), None),
        Gather::Binned {
            fine,
            coarse,
            mean,
            squares,
        } => {
            let n = seen.numeric as f64;
            let quantiles = QUANTILES
                .iter()
                .map(|q| (*q, binned_quantile(&fine, seen, *q)))
                .collect();
            let profile = NumericProfile {
                min: seen.min,
                max: seen.max,
                mean,
                std: (squares / n).sqrt(),
                quantiles,
                histogram: coarse,
            };
            (Some(profile), None)
        }
        Gather::Counts {
            counts, untracked, ..
        } => (None, Some(categorical_from(counts, untracked))),
    }
}

/// The `q` quantile read from a fine histogram: the rank's bin, interpolated linearly within
/// it; the extremes are exact.
fn binned_quantile(fine: &Histogram, seen: &Seen, q: f64) -> f64 {
    if q <= 0.0 {
        return seen.min;
    }
    if q >= 1.0 {
        return seen.max;
    }
    let rank = q * (seen.numeric - 1) as f64;
    let mut below = 0u64;
    for (bin, count) in fine.counts.iter().enumerate() {
        if *count > 0 && (below + count) as f64 > rank {
            let within = (rank - below as f64 + 0.5) / *count as f64;
            let (low, high) = (fine.edges[bin], fine.edges[bin + 1]);
            return (low + (high - low) * within).clamp(seen.min, seen.max);
        }
        below += count;
    }
    seen.max
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::profile;
    use crate::table::parse;

    fn scan_bytes(bytes: &[u8]) -> Result<Scanned, ScanError> {
        scan(|| Ok(bytes))
    }

    #[test]
    fn a_scan_agrees_with_parsing_the_whole_table() {
        let mut csv = String::from("id,age,score,city,note\n");
        for i in 0..500 {
            let city = ["Lyon", "Paris", "NA", "Nice"][i % 4];
            let age = if i % 7 == 0 {
                String::new()
            } else {
                (i % 90).to_string()
            };
            csv.push_str(&format!("{i},{age},{}.25,{city},n{}\n", i * 3, i % 13));
        }
        let table = parse(csv.as_bytes()).expect("parses");
        let scanned = scan_bytes(csv.as_bytes()).expect("scans");
        assert_eq!(scanned.schema, table.schema);
        assert_eq!(scanned.rows, table.rows as u64);
        assert_eq!(scanned.profile, profile(&table));
    }

    #[test]
    fn a_line_past_the_limit_is_refused_before_it_is_buffered() {
        let mut csv = b"a,b\n1,2\n3,".to_vec();
        csv.extend(std::iter::repeat_n(b'9', crate::lines::MAX_LINE + 10));
        csv.extend(b"\n5,6\n");
        let expected = format!("line 3 is longer than {} bytes", crate::lines::MAX_LINE);
        let scanned = scan_bytes(&csv).expect_err("refused");
        assert_eq!(scanned.to_string(), expected);
        let parsed = crate::table::parse(&csv).expect_err("refused");
        assert_eq!(parsed.to_string(), expected);
        let header = vec![b'h'; crate::lines::MAX_LINE + 1];
        assert!(crate::table::parse(&header).is_err(), "a header line too");
    }

    #[test]
    fn a_scan_refuses_what_parsing_refuses() {
        for bad in [
            &b""[..],
            b"a,b\n",
            b"a,,c\n1,2,3\n",
            b"a,a\n1,2\n",
            b"a,b\n1,2\n3\n",
            b"a\n\xff\n",
        ] {
            let parsed = parse(bad).expect_err("refused");
            match scan_bytes(bad) {
                Err(ScanError::Table(e)) => assert_eq!(e, parsed, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let mut stray = String::from("x\n");
        for i in 0..20 {
            stray.push_str(&format!("{i}\n"));
        }
        stray.push_str("oops\n");
        let Err(ScanError::Table(e)) = scan_bytes(stray.as_bytes()) else {
            panic!("a stray value in a numeric column is refused")
        };
        assert_eq!(e, parse(stray.as_bytes()).expect_err("refused"));
    }

    #[test]
    fn past_its_limits_a_scan_bins_numbers_and_counts_the_rest_as_other() {
        let mut csv = String::from("x,label\n");
        for i in 0..2000 {
            csv.push_str(&format!("{},l{}\n", (i * 7919) % 2000, i % 40));
        }
        let tight = Limits {
            exact_values: 100,
            tracked_categories: 10,
            min_tracked_per_column: 10,
        };
        let exact = scan_bytes(csv.as_bytes()).expect("scans");
        let bounded = scan_within(|| Ok(csv.as_bytes()), tight).expect("scans");
        assert_eq!(bounded.schema, exact.schema);
        let (e, b) = (&exact.profile.columns[0], &bounded.profile.columns[0]);
        let (e, b) = (
            e.numeric.as_ref().expect("numeric"),
            b.numeric.as_ref().expect("numeric"),
        );
        assert_eq!((b.min, b.max, &b.histogram), (e.min, e.max, &e.histogram));
        assert!((b.mean - e.mean).abs() < 1e-9 && (b.std - e.std).abs() < 1e-6);
        for ((q, got), (_, want)) in b.quantiles.iter().zip(&e.quantiles) {
            assert!(
                (got - want).abs() <= 2000.0 / FINE_BINS as f64 + 1.0,
                "{q}: {got} vs {want}"
            );
        }
        let labels = bounded.profile.columns[1]
            .categorical
            .as_ref()
            .expect("categorical");
        assert_eq!(labels.distinct, 10);
        assert_eq!(
            labels.top.iter().map(|(_, c)| c).sum::<u64>() + labels.other,
            2000
        );
    }

    #[test]
    fn binned_quantiles_are_close_and_extremes_exact() {
        let fine = {
            let mut h = Histogram::with_bins(0.0, 1000.0, FINE_BINS);
            (0..=1000).for_each(|v| h.add(v as f64));
            h
        };
        let seen = Seen {
            present: 1001,
            numeric: 1001,
            min: 0.0,
            max: 1000.0,
            ..Seen::default()
        };
        for q in QUANTILES {
            let got = binned_quantile(&fine, &seen, *q);
            assert!(
                (got - q * 1000.0).abs() <= 1000.0 / FINE_BINS as f64 + 1.0,
                "{q}: {got}"
            );
        }
        assert_eq!(binned_quantile(&fine, &seen, 0.0), 0.0);
        assert_eq!(binned_quantile(&fine, &seen, 1.0), 1000.0);
    }
}
