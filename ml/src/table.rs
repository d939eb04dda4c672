//! Reading a CSV into typed columns. The header names the columns; each column's type is
//! inferred from its values; empty cells and `NA`, `N/A`, `null`, `NaN` are missing values. A row
//! that does not fit is an error naming its line (and column), never a silent guess.

use std::collections::HashSet;

use drover_protocol::data::schema::{Column, ColumnKind, Schema};

use crate::lines::{LineLimit, LineTooLong};

/// Most columns a dataset may have.
pub const MAX_COLUMNS: usize = 4096;

/// Share of a column's values that must be numbers before a non-number in it is called a
/// malformed value rather than a sign that the column is categorical.
pub(crate) const NUMERIC_MAJORITY: f64 = 0.9;
/// Fewest values for that judgement: tiny columns are taken at face value.
pub(crate) const NUMERIC_MIN_VALUES: usize = 10;

const NULL_TOKENS: &[&str] = &["", "na", "n/a", "nan", "null"];

/// Values of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Numeric(Vec<Option<f64>>),
    Categorical(Vec<Option<String>>),
}

impl ColumnData {
    /// Missing values.
    pub fn nulls(&self) -> usize {
        match self {
            ColumnData::Numeric(v) => v.iter().filter(|x| x.is_none()).count(),
            ColumnData::Categorical(v) => v.iter().filter(|x| x.is_none()).count(),
        }
    }
}

/// A parsed CSV: its schema and its columns, all of `rows` length.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub schema: Schema,
    pub columns: Vec<ColumnData>,
    pub rows: usize,
}

/// Why a CSV was refused. Lines count from 1, the header being line 1.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    #[error("the file is empty: a CSV needs a header line naming its columns")]
    Empty,
    #[error("the file has a header but no rows")]
    NoRows,
    #[error("line 1: column {index} has an empty name")]
    EmptyName { index: usize },
    #[error("line 1: column {name:?} appears more than once")]
    DuplicateName { name: String },
    #[error("line 1: {found} columns, more than the {MAX_COLUMNS} allowed")]
    TooManyColumns { found: usize },
    #[error("line {line}: expected {expected} fields like the header, found {found}")]
    FieldCount {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("line {line}: not valid UTF-8")]
    Encoding { line: u64 },
    #[error(
        "line {line}, column {column:?}: {value:?} is not a number, though {percent:.0}% of the column's values are"
    )]
    NotNumeric {
        line: u64,
        column: String,
        value: String,
        percent: f64,
    },
    #[error("line {line}: {message}")]
    Csv { line: u64, message: String },
    #[error("{0}")]
    LineTooLong(#[from] LineTooLong),
}

pub(crate) fn is_null(value: &str) -> bool {
    NULL_TOKENS.iter().any(|t| t.eq_ignore_ascii_case(value))
}

pub(crate) fn number(value: &str) -> Option<f64> {
    value.parse::<f64>().ok().filter(|v| v.is_finite())
}

struct RawColumn {
    name: String,
    values: Vec<Option<String>>,
}

/// A CSV reader as every dataset is read: a header line, fields trimmed, no line longer
/// than [`crate::lines::MAX_LINE`].
pub(crate) fn reader<R: std::io::Read>(source: R) -> csv::Reader<LineLimit<R>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(LineLimit::new(source))
}

/// Parses CSV bytes into a typed table.
pub fn parse(bytes: &[u8]) -> Result<Table, TableError> {
    let mut reader = reader(bytes);
    let headers = reader.byte_headers().map_err(|e| csv_error(&e, 1))?.clone();
    if headers.is_empty()
        || (headers.len() == 1
            && headers[0].is_empty()
            && bytes.iter().all(|b| b.is_ascii_whitespace()))
    {
        return Err(TableError::Empty);
    }
    let mut columns: Vec<Reading> = header_names(&headers)?
        .into_iter()
        .map(Reading::new)
        .collect();
    let mut lines = Vec::new();
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(&e, 0))?
    {
        let line = record.position().map_or(0, |p| p.line());
        fields(&record, columns.len(), line)?;
        for (column, field) in columns.iter_mut().zip(record.iter()) {
            let text = std::str::from_utf8(field).map_err(|_| TableError::Encoding { line })?;
            if !column.push(text) {
                // A numeric column met text: its earlier values' text is gone, so read the
                // whole file again keeping every value's text.
                return parse_as_text(bytes);
            }
        }
        lines.push(line);
    }
    finish(columns.into_iter().map(Reading::done).collect(), &lines)
}

/// Refuses a record whose field count is not the header's.
fn fields(record: &csv::ByteRecord, expected: usize, line: u64) -> Result<(), TableError> {
    if record.len() == expected {
        return Ok(());
    }
    Err(TableError::FieldCount {
        line,
        expected,
        found: record.len(),
    })
}

/// A column as it is read: numbers parsed on the fly while every value is one (no text
/// kept), or every value's text once the first present value was not a number.
enum Reading {
    Numbers {
        name: String,
        values: Vec<Option<f64>>,
        integer: bool,
        present: usize,
    },
    Text(RawColumn),
}

/// What a column read to its end holds.
enum Read {
    Numeric(String, Vec<Option<f64>>, bool),
    Raw(RawColumn),
}

impl Reading {
    fn new(name: String) -> Self {
        Reading::Numbers {
            name,
            values: Vec::new(),
            integer: true,
            present: 0,
        }
    }

    /// Takes the next value; false when a number column met text after numbers.
    fn push(&mut self, text: &str) -> bool {
        let null = is_null(text);
        match self {
            Reading::Text(raw) => raw.values.push((!null).then(|| text.to_string())),
            Reading::Numbers {
                name,
                values,
                integer,
                present,
            } => {
                if null {
                    values.push(None);
                    return true;
                }
                match number(text) {
                    Some(v) => {
                        *integer = *integer && text.parse::<i64>().is_ok();
                        *present += 1;
                        values.push(Some(v));
                    }
                    None if *present == 0 => {
                        let mut raw = RawColumn {
                            name: std::mem::take(name),
                            values: vec![None; values.len()],
                        };
                        raw.values.push(Some(text.to_string()));
                        *self = Reading::Text(raw);
                    }
                    None => return false,
                }
            }
        }
        true
    }

    fn done(self) -> Read {
        match self {
            Reading::Numbers {
                name,
                values,
                integer,
                present,
            } if present > 0 => Read::Numeric(name, values, integer),
            Reading::Numbers { name, values, .. } => Read::Raw(RawColumn {
                name,
                values: vec![None; values.len()],
            }),
            Reading::Text(raw) => Read::Raw(raw),
        }
    }
}

/// Parses keeping every value's text, then infers each column's kind.
fn parse_as_text(bytes: &[u8]) -> Result<Table, TableError> {
    let mut reader = reader(bytes);
    let headers = reader.byte_headers().map_err(|e| csv_error(&e, 1))?.clone();
    let mut columns: Vec<RawColumn> = header_names(&headers)?
        .into_iter()
        .map(|name| RawColumn {
            name,
            values: Vec::new(),
        })
        .collect();
    let mut lines = Vec::new();
    for record in reader.byte_records() {
        let record = record.map_err(|e| csv_error(&e, 0))?;
        let line = record.position().map_or(0, |p| p.line());
        fields(&record, columns.len(), line)?;
        for (column, field) in columns.iter_mut().zip(record.iter()) {
            let text = std::str::from_utf8(field).map_err(|_| TableError::Encoding { line })?;
            column
                .values
                .push((!is_null(text)).then(|| text.to_string()));
        }
        lines.push(line);
    }
    finish(columns.into_iter().map(Read::Raw).collect(), &lines)
}

/// The table of columns read, each column's kind inferred.
fn finish(columns: Vec<Read>, lines: &[u64]) -> Result<Table, TableError> {
    if lines.is_empty() {
        return Err(TableError::NoRows);
    }
    let rows = lines.len();
    let mut schema = Schema::default();
    let mut data = Vec::with_capacity(columns.len());
    for read in columns {
        let (raw, (kind, values)) = match read {
            Read::Numeric(name, values, integer) => {
                let kind = if integer {
                    ColumnKind::Integer
                } else {
                    ColumnKind::Float
                };
                let raw = RawColumn {
                    name,
                    values: Vec::new(),
                };
                (raw, (kind, ColumnData::Numeric(values)))
            }
            Read::Raw(raw) => {
                let inferred = infer(&raw, lines)?;
                (raw, inferred)
            }
        };
        let nullable = values.nulls() > 0;
        schema.columns.push(Column {
            name: raw.name,
            kind,
            nullable,
        });
        data.push(values);
    }
    Ok(Table {
        schema,
        columns: data,
        rows,
    })
}

/// The column names of a header line, checked: a bounded count, non-empty, distinct.
pub(crate) fn header_names(headers: &csv::ByteRecord) -> Result<Vec<String>, TableError> {
    if headers.len() > MAX_COLUMNS {
        return Err(TableError::TooManyColumns {
            found: headers.len(),
        });
    }
    let mut seen = HashSet::new();
    let mut columns = Vec::with_capacity(headers.len());
    for (index, name) in headers.iter().enumerate() {
        let name = std::str::from_utf8(name)
            .map_err(|_| TableError::Encoding { line: 1 })?
            .to_string();
        if name.is_empty() {
            return Err(TableError::EmptyName { index: index + 1 });
        }
        if !seen.insert(name.clone()) {
            return Err(TableError::DuplicateName { name });
        }
        columns.push(name);
    }
    Ok(columns)
}

fn infer(raw: &RawColumn, lines: &[u64]) -> Result<(ColumnKind, ColumnData), TableError> {
    let present: Vec<(usize, &str)> = raw
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_deref().map(|v| (i, v)))
        .collect();
    let numeric = present.iter().filter(|(_, v)| number(v).is_some()).count();
    if !present.is_empty() && numeric == present.len() {
        let integer = present.iter().all(|(_, v)| v.parse::<i64>().is_ok());
        let values = raw
            .values
            .iter()
            .map(|v| v.as_deref().and_then(number))
            .collect();
        let kind = if integer {
            ColumnKind::Integer
        } else {
            ColumnKind::Float
        };
        return Ok((kind, ColumnData::Numeric(values)));
    }
    let share = numeric as f64 / present.len().max(1) as f64;
    if present.len() >= NUMERIC_MIN_VALUES && share >= NUMERIC_MAJORITY {
        let (row, value) = present
            .iter()
            .find(|(_, v)| number(v).is_none())
            .copied()
            .unwrap_or((0, ""));
        return Err(TableError::NotNumeric {
            line: lines.get(row).copied().unwrap_or(0),
            column: raw.name.clone(),
            value: value.to_string(),
            percent: share * 100.0,
        });
    }
    Ok((
        ColumnKind::Categorical,
        ColumnData::Categorical(raw.values.clone()),
    ))
}

pub(crate) fn csv_error(error: &csv::Error, fallback_line: u64) -> TableError {
    let line = error.position().map_or(fallback_line, |p| p.line());
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => TableError::FieldCount {
            line,
            expected: *expected_len as usize,
            found: *len as usize,
        },
        csv::ErrorKind::Utf8 { .. } => TableError::Encoding { line },
        csv::ErrorKind::Io(e) => match e.get_ref().and_then(|i| i.downcast_ref::<LineTooLong>()) {
            Some(long) => TableError::LineTooLong(*long),
            None => TableError::Csv {
                line,
                message: error.to_string(),
            },
        },
        _ => TableError::Csv {
            line,
            message: error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_types_and_nulls() {
        let table =
            parse(b"age,income,city,flag\n34,52000.5,Lyon,1\n,61000,NA,0\n51,48000,Paris,1\n")
                .expect("parses");
        assert_eq!(table.rows, 3);
        let kinds: Vec<_> = table
            .schema
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.kind, c.nullable))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("age", ColumnKind::Integer, true),
                ("income", ColumnKind::Float, false),
                ("city", ColumnKind::Categorical, true),
                ("flag", ColumnKind::Integer, false),
            ]
        );
        assert_eq!(
            table.columns[0],
            ColumnData::Numeric(vec![Some(34.0), None, Some(51.0)])
        );
    }

    #[test]
    fn a_short_row_names_its_line() {
        let err = parse(b"a,b,c\n1,2,3\n4,5\n").expect_err("short row");
        assert_eq!(
            err,
            TableError::FieldCount {
                line: 3,
                expected: 3,
                found: 2
            }
        );
    }

    #[test]
    fn a_stray_word_in_a_numeric_column_names_line_and_column() {
        let mut csv = String::from("id,tenure\n");
        for i in 0..20 {
            csv.push_str(&format!(
                "{i},{}\n",
                if i == 13 {
                    "twelve".to_string()
                } else {
                    i.to_string()
                }
            ));
        }
        let err = parse(csv.as_bytes()).expect_err("stray word");
        assert!(
            matches!(err, TableError::NotNumeric { line: 15, ref column, ref value, .. } if column == "tenure" && value == "twelve"),
            "{err}"
        );
        assert!(err.to_string().contains("line 15, column \"tenure\""));
    }

    #[test]
    fn bad_headers_and_empty_files_are_refused() {
        assert_eq!(parse(b"").expect_err("empty"), TableError::Empty);
        assert_eq!(parse(b"a,b\n").expect_err("no rows"), TableError::NoRows);
        assert_eq!(
            parse(b"a,,c\n1,2,3\n").expect_err("empty name"),
            TableError::EmptyName { index: 2 }
        );
        assert_eq!(
            parse(b"a,a\n1,2\n").expect_err("duplicate"),
            TableError::DuplicateName { name: "a".into() }
        );
        assert_eq!(
            parse(b"a,b\n1,\xff\n").expect_err("utf-8"),
            TableError::Encoding { line: 2 }
        );
    }

    #[test]
    fn a_column_of_numbers_then_text_is_read_again_as_text() {
        let table = parse(b"x,y\n1,2\n2,3\nabc,4\n").expect("parses");
        assert_eq!(
            table.columns[0],
            ColumnData::Categorical(vec![Some("1".into()), Some("2".into()), Some("abc".into())])
        );
        assert_eq!(
            table.columns[1],
            ColumnData::Numeric(vec![Some(2.0), Some(3.0), Some(4.0)])
        );
        assert_eq!(table.schema.columns[1].kind, ColumnKind::Integer);
        assert!(matches!(
            parse(b"x,y\n1,2\nabc,4\n5\n"),
            Err(TableError::FieldCount { line: 4, .. })
        ));
        let empty = parse(b"x,y\nNA,1.5\n,2\n").expect("parses");
        assert_eq!(empty.columns[0], ColumnData::Categorical(vec![None, None]));
        assert_eq!(empty.schema.columns[1].kind, ColumnKind::Float);
    }
}
