//! The MLflow scoring protocol (`mlflow models serve`): `POST /invocations` with a JSON body
//! in one of its four shapes (`dataframe_split`, `dataframe_records`, `instances`, `inputs`)
//! or a CSV body, answered `{"predictions": [...]}` as MLflow answers.

use serde_json::{Map, Value};

use serde::Serialize;

use super::model::{Data, Predictions, Served};
use super::request::{Allowance, BadRequest, Rows, cell, input_names};
use crate::train::pipeline::Cell;

/// The rows of a JSON body for a model with `inputs` (name, numeric) in order.
pub fn rows_from_json(body: &Value, inputs: &[(String, bool)]) -> Result<Rows, BadRequest> {
    let Value::Object(body) = body else {
        return Err(BadRequest::new(
            "body",
            "expected an object with dataframe_split, dataframe_records, instances or inputs",
        ));
    };
    let keys = [
        "dataframe_split",
        "dataframe_records",
        "instances",
        "inputs",
    ];
    let given: Vec<&str> = keys.into_iter().filter(|k| body.contains_key(*k)).collect();
    match given.as_slice() {
        ["dataframe_split"] => split(&body["dataframe_split"], inputs),
        ["dataframe_records"] => listed(&body["dataframe_records"], "dataframe_records", inputs),
        ["instances"] => listed(&body["instances"], "instances", inputs),
        ["inputs"] => match &body["inputs"] {
            Value::Object(columns) => columnar(columns, inputs),
            other => listed(other, "inputs", inputs),
        },
        [] => Err(BadRequest::new(
            "body",
            format!("none of {} is present", keys.join(", ")),
        )),
        many => Err(BadRequest::new(
            "body",
            format!(
                "give one of {}, not {}",
                keys.join(", "),
                many.join(" and ")
            ),
        )),
    }
}

/// `{"columns": [...], "data": [[...], ...]}`.
fn split(value: &Value, inputs: &[(String, bool)]) -> Result<Rows, BadRequest> {
    let columns = value
        .get("columns")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            BadRequest::new("dataframe_split.columns", "expected a list of column names")
        })?;
    let names: Vec<&str> = columns
        .iter()
        .map(|c| {
            c.as_str().ok_or_else(|| {
                BadRequest::new(
                    "dataframe_split.columns",
                    format!("{c} is not a column name"),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    let data = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| BadRequest::new("dataframe_split.data", "expected a list of rows"))?;
    let positions = positions(&names, inputs, "dataframe_split.columns")?;
    let mut out = Rows::with_capacity(inputs.len(), data.len());
    for (r, row) in data.iter().enumerate() {
        let values = row
            .as_array()
            .filter(|v| v.len() == names.len())
            .ok_or_else(|| {
                BadRequest::new(
                    format!("dataframe_split.data[{r}]"),
                    format!("expected a list of {} values", names.len()),
                )
            })?;
        for at in &positions {
            out.push(cell(&values[*at], || {
                format!("dataframe_split.data[{r}][{at}]")
            })?);
        }
    }
    Ok(out)
}

/// A list of records (`{"column": value}`) or of rows (lists in input order).
fn listed(value: &Value, field: &str, inputs: &[(String, bool)]) -> Result<Rows, BadRequest> {
    let items = value
        .as_array()
        .ok_or_else(|| BadRequest::new(field, "expected a list of records or rows"))?;
    let mut out = Rows::with_capacity(inputs.len(), items.len());
    for (r, item) in items.iter().enumerate() {
        let at = || format!("{field}[{r}]");
        match item {
            Value::Object(record) => {
                check_names(record.keys().map(String::as_str), inputs, &at())?;
                for (name, _) in inputs {
                    let Some(value) = record.get(name.as_str()) else {
                        return Err(BadRequest::new(at(), format!("missing input {name:?}")));
                    };
                    out.push(cell(value, || format!("{}.{name}", at()))?);
                }
            }
            Value::Array(values) if values.len() == inputs.len() => {
                for (i, value) in values.iter().enumerate() {
                    out.push(cell(value, || format!("{}[{i}]", at()))?);
                }
            }
            _ => {
                return Err(BadRequest::new(
                    at(),
                    format!(
                        "expected a record or a list of {} values in input order",
                        inputs.len()
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// `{"column": [values...], ...}`.
fn columnar(columns: &Map<String, Value>, inputs: &[(String, bool)]) -> Result<Rows, BadRequest> {
    check_names(columns.keys().map(String::as_str), inputs, "inputs")?;
    let mut out: Option<Rows> = None;
    for (i, (name, _)) in inputs.iter().enumerate() {
        let field = format!("inputs.{name}");
        let values = columns
            .get(name.as_str())
            .ok_or_else(|| BadRequest::new("inputs", format!("missing input {name:?}")))?;
        let values = values
            .as_array()
            .ok_or_else(|| BadRequest::new(&field, "expected a list of values"))?;
        let out = out.get_or_insert_with(|| Rows::missing(inputs.len(), values.len()));
        if values.len() != out.rows() {
            return Err(BadRequest::new(
                &field,
                format!(
                    "{} values, the other inputs have {}",
                    values.len(),
                    out.rows()
                ),
            ));
        }
        for (r, v) in values.iter().enumerate() {
            out.set(r, i, cell(v, || format!("{field}[{r}]"))?);
        }
    }
    Ok(out.unwrap_or_else(|| Rows::missing(inputs.len(), 0)))
}

/// A CSV body with a header row: numbers for numeric inputs (empty or `NA` is missing), text
/// for the others.
pub fn rows_from_csv(
    text: &str,
    inputs: &[(String, bool)],
    allowance: &mut Allowance,
) -> Result<Rows, BadRequest> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| BadRequest::new("csv header", e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    let positions = positions(&names, inputs, "csv header")?;
    let mut out = Rows::with_capacity(inputs.len(), 0);
    for (r, record) in reader.records().enumerate() {
        let record =
            record.map_err(|e| BadRequest::new(format!("csv row {}", r + 1), e.to_string()))?;
        for (i, at) in positions.iter().enumerate() {
            let raw = record.get(*at).unwrap_or("").trim();
            let (name, numeric) = &inputs[i];
            let cell = match raw {
                "" | "NA" | "NaN" | "null" => Cell::Missing,
                raw if *numeric => Cell::Number(raw.parse().map_err(|_| {
                    BadRequest::new(
                        format!("csv row {} column {name}", r + 1),
                        format!("expected a number, got {raw:?}"),
                    )
                })?),
                raw => Cell::Text(raw.to_string()),
            };
            allowance.cell(&cell)?;
            out.push(cell);
        }
    }
    Ok(out)
}

/// `{"predictions": [...]}`: labels or values, as `mlflow models serve` answers.
#[derive(Debug, Serialize)]
pub struct Answer<'a> {
    predictions: Data<'a>,
}

/// The answer of `served` with `predictions`.
pub fn answer<'a>(served: &'a Served, predictions: &'a Predictions) -> Answer<'a> {
    Answer {
        predictions: match predictions {
            Predictions::Classes { chosen, .. } => served.labels(chosen),
            Predictions::Values(values) => Data::Numbers(values.into()),
        },
    }
}

/// Where each input is among `names`; every input must be there, and nothing else.
fn positions(
    names: &[&str],
    inputs: &[(String, bool)],
    field: &str,
) -> Result<Vec<usize>, BadRequest> {
    check_names(names.iter().copied(), inputs, field)?;
    if let Some((i, twice)) = names
        .iter()
        .enumerate()
        .find(|(i, n)| names[..*i].contains(n))
    {
        return Err(BadRequest::new(
            field,
            format!(
                "column {twice:?} is given twice (again at position {})",
                i + 1
            ),
        ));
    }
    inputs
        .iter()
        .map(|(name, _)| {
            names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| BadRequest::new(field, format!("missing input {name:?}")))
        })
        .collect()
}

/// Refuses a name the model does not take.
fn check_names<'a>(
    mut names: impl Iterator<Item = &'a str>,
    inputs: &[(String, bool)],
    field: &str,
) -> Result<(), BadRequest> {
    match names.find(|n| !inputs.iter().any(|(i, _)| i == n)) {
        Some(unknown) => Err(BadRequest::new(
            field,
            format!(
                "unknown input {unknown:?}; the model takes {}",
                input_names(inputs)
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INPUTS: &[(&str, bool)] = &[("x", true), ("plan", false)];

    /// `inputs` as a served model lists them.
    fn owned(inputs: &[(&str, bool)]) -> Vec<(String, bool)> {
        inputs.iter().map(|(n, b)| (n.to_string(), *b)).collect()
    }

    /// `text` read as a CSV request of its own size.
    fn csv(text: &str) -> Result<Rows, BadRequest> {
        rows_from_csv(text, &owned(INPUTS), &mut Allowance::for_body(text.len()))
    }

    #[test]
    fn a_csv_decoding_to_more_than_its_allowance_is_refused() {
        // 600,000 rows of two empty fields: two bytes a row, 48 bytes decoded.
        let mut empty = String::from("x,plan\n");
        empty.push_str(&",\n".repeat(600_000));
        let Err(error) = csv(&empty) else {
            panic!("a body of empty fields was decoded whole");
        };
        assert_eq!(error.field, "body");
        assert!(error.message.contains("16 times its size"), "{error}");
        // One-character fields decode to about 12 times their size: answered.
        let mut short = String::from("x,plan\n");
        short.push_str(&"1,a\n".repeat(300_000));
        assert_eq!(csv(&short).map(|r| r.rows()), Ok(300_000));
    }

    #[test]
    fn the_four_json_shapes_and_csv_give_the_same_rows() {
        let shapes = [
            serde_json::json!({ "dataframe_split": { "columns": ["plan", "x"], "data": [["pro", 1.5], [null, 2]] } }),
            serde_json::json!({ "dataframe_records": [{ "x": 1.5, "plan": "pro" }, { "x": 2, "plan": null }] }),
            serde_json::json!({ "instances": [[1.5, "pro"], [2, null]] }),
            serde_json::json!({ "inputs": { "x": [1.5, 2], "plan": ["pro", null] } }),
        ];
        let expected = csv("plan,x\npro,1.5\n,2\n").expect("csv");
        for body in shapes {
            assert_eq!(
                rows_from_json(&body, &owned(INPUTS)).expect("rows"),
                expected,
                "{body}"
            );
        }
        let error = csv("x,plan\nhigh,pro\n").expect_err("refused");
        assert_eq!(error.field, "csv row 1 column x");
        let error = rows_from_json(
            &serde_json::json!({ "instances": [], "inputs": [] }),
            &owned(INPUTS),
        )
        .expect_err("refused");
        assert!(
            error.message.contains("not instances and inputs"),
            "{error}"
        );
    }

    #[test]
    fn a_column_given_twice_is_refused_not_read_once() {
        let error = csv("x,plan,x\n1,pro,2\n").expect_err("refused");
        assert_eq!(error.field, "csv header");
        assert!(error.message.contains("\"x\" is given twice"), "{error}");
        let split =
            serde_json::json!({ "dataframe_split": { "columns": ["x", "x"], "data": [[1, 2]] } });
        assert!(rows_from_json(&split, &owned(INPUTS)).is_err());
    }
}
