//! Open Inference Protocol v2 (KServe, Triton, MLServer): the infer request and response
//! bodies, and how tensors become rows: either one `[n, k]` tensor holding the inputs in
//! order, or one `[n]` (or `[n, 1]`) tensor per input, named after it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::Predictions;
use super::request::{BadRequest, Rows, cell};
use crate::train::pipeline::Cell;

/// `POST /v2/models/{name}/infer`.
#[derive(Debug, Deserialize)]
pub struct InferRequest {
    pub id: Option<String>,
    pub inputs: Vec<Tensor>,
}

/// One input tensor: row-major `data` (flat or nested) of `shape`.
#[derive(Debug, Deserialize)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    pub data: Value,
}

/// The answer to an infer request.
#[derive(Debug, Serialize)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    pub id: String,
    pub outputs: Vec<Output>,
}

/// One output tensor.
#[derive(Debug, Serialize)]
pub struct Output {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub datatype: &'static str,
    pub data: Vec<Value>,
}

/// Datatypes a tensor may carry.
const DATATYPES: &[&str] = &[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
    "FP32", "FP64", "BYTES",
];

/// The elements of nested JSON arrays, in row-major order.
fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        other => out.push(other),
    }
}

/// A tensor's elements as cells, checked against its datatype and shape.
fn elements(tensor: &Tensor, field: &str) -> Result<(Vec<Cell>, Vec<usize>), BadRequest> {
    if !DATATYPES.contains(&tensor.datatype.as_str()) {
        return Err(BadRequest::new(
            format!("{field}.datatype"),
            format!(
                "unknown datatype {:?}; use one of {}",
                tensor.datatype,
                DATATYPES.join(", ")
            ),
        ));
    }
    let shape: Vec<usize> = tensor
        .shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| BadRequest::new(format!("{field}.shape"), "dimensions cannot be negative"))?;
    let mut flat = Vec::new();
    flatten(&tensor.data, &mut flat);
    let expected: usize = shape.iter().product();
    if flat.len() != expected {
        return Err(BadRequest::new(
            format!("{field}.data"),
            format!(
                "shape {:?} holds {expected} values, data has {}",
                tensor.shape,
                flat.len()
            ),
        ));
    }
    let bytes = tensor.datatype == "BYTES";
    let cells = flat
        .into_iter()
        .enumerate()
        .map(|(i, v)| match (bytes, v) {
            (true, Value::String(_) | Value::Null)
            | (false, Value::Number(_) | Value::Bool(_) | Value::Null) => {
                cell(v, &format!("{field}.data[{i}]"))
            }
            (true, other) => Err(BadRequest::new(
                format!("{field}.data[{i}]"),
                format!("a BYTES tensor holds strings, not {other}"),
            )),
            (false, other) => Err(BadRequest::new(
                format!("{field}.data[{i}]"),
                format!("a {} tensor holds numbers, not {other}", tensor.datatype),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((cells, shape))
}

/// The rows a request carries for a model with `inputs` (name, numeric) in order.
pub fn rows(request: &InferRequest, inputs: &[(String, bool)]) -> Result<Rows, BadRequest> {
    let named = |t: &Tensor| inputs.iter().any(|(n, _)| *n == t.name);
    match request.inputs.as_slice() {
        [] => Err(BadRequest::new("inputs", "no input tensor")),
        [one] if !named(one) || inputs.len() == 1 && one.shape.len() == 2 => {
            let (cells, shape) = elements(one, "inputs[0]")?;
            let k = inputs.len();
            let n = match shape.as_slice() {
                [n, width] if *width == k => *n,
                [n] if k == 1 => *n,
                _ => {
                    return Err(BadRequest::new(
                        "inputs[0].shape",
                        format!(
                            "one tensor must be [rows, {k}] with the inputs in order ({}), or name one input",
                            inputs
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            };
            let mut columns = vec![Vec::with_capacity(n); k];
            for (i, cell) in cells.into_iter().enumerate() {
                columns[i % k].push(cell);
            }
            Ok(Rows { columns, rows: n })
        }
        tensors => {
            let mut rows = None;
            let mut columns = Vec::with_capacity(inputs.len());
            for (name, _) in inputs {
                let Some(at) = tensors.iter().position(|t| t.name == *name) else {
                    return Err(BadRequest::new("inputs", format!("missing input {name:?}")));
                };
                let field = format!("inputs[{at}]");
                let (cells, shape) = elements(&tensors[at], &field)?;
                let n = match shape.as_slice() {
                    [n] | [n, 1] => *n,
                    _ => {
                        return Err(BadRequest::new(
                            format!("{field}.shape"),
                            format!(
                                "input {name:?} must be [rows] or [rows, 1], got {:?}",
                                tensors[at].shape
                            ),
                        ));
                    }
                };
                if *rows.get_or_insert(n) != n {
                    return Err(BadRequest::new(
                        format!("{field}.shape"),
                        format!(
                            "input {name:?} has {n} rows, the others {}",
                            rows.unwrap_or(n)
                        ),
                    ));
                }
                columns.push(cells);
            }
            if let Some(unknown) = tensors.iter().find(|t| !named(t)) {
                return Err(BadRequest::new(
                    "inputs",
                    format!(
                        "unknown input {:?}; the model takes {}",
                        unknown.name,
                        inputs
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            Ok(Rows {
                columns,
                rows: rows.unwrap_or(0),
            })
        }
    }
}

/// Labels as JSON: numbers when every class name is an integer (as the training CSV had
/// them), strings otherwise.
pub fn labels(labels: &[String], classes: &[String]) -> (&'static str, Vec<Value>) {
    if classes.iter().all(|c| c.parse::<i64>().is_ok()) {
        let data = labels
            .iter()
            .map(|l| l.parse::<i64>().map_or(Value::Null, Value::from))
            .collect();
        ("INT64", data)
    } else {
        (
            "BYTES",
            labels.iter().map(|l| Value::from(l.as_str())).collect(),
        )
    }
}

/// The output tensors: `predict` (labels or values) and, for classifiers, `predict_proba`.
pub fn outputs(predictions: &Predictions) -> Vec<Output> {
    match predictions {
        Predictions::Classes {
            labels: predicted,
            classes,
            probabilities,
            ..
        } => {
            let (datatype, data) = labels(predicted, classes);
            vec![
                Output {
                    name: "predict",
                    shape: vec![predicted.len()],
                    datatype,
                    data,
                },
                Output {
                    name: "predict_proba",
                    shape: vec![probabilities.nrows(), probabilities.ncols()],
                    datatype: "FP64",
                    data: probabilities.iter().map(|&p| Value::from(p)).collect(),
                },
            ]
        }
        Predictions::Values(values) => vec![Output {
            name: "predict",
            shape: vec![values.len()],
            datatype: "FP64",
            data: values.iter().map(|&v| Value::from(v)).collect(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> InferRequest {
        serde_json::from_value(body).expect("request")
    }

    const INPUTS: &[(&str, bool)] = &[("x", true), ("plan", false)];

    /// `inputs` as a served model lists them.
    fn owned(inputs: &[(&str, bool)]) -> Vec<(String, bool)> {
        inputs.iter().map(|(n, b)| (n.to_string(), *b)).collect()
    }

    #[test]
    fn named_tensors_and_one_matrix_become_the_same_rows() {
        let named = request(serde_json::json!({ "inputs": [
            { "name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro", null] },
            { "name": "x", "shape": [2, 1], "datatype": "FP32", "data": [[1.5], [2]] },
        ]}));
        let rows = rows(&named, &owned(INPUTS)).expect("rows");
        assert_eq!(rows.rows, 2);
        assert_eq!(rows.columns[0], [Cell::Number(1.5), Cell::Number(2.0)]);
        assert_eq!(rows.columns[1], [Cell::Text("pro".into()), Cell::Missing]);

        let matrix = request(serde_json::json!({ "inputs": [
            { "name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3, 4] },
        ]}));
        let rows = super::rows(&matrix, &owned(&[("a", true), ("b", true)])).expect("rows");
        assert_eq!(rows.columns[1], [Cell::Number(2.0), Cell::Number(4.0)]);
    }

    #[test]
    fn bad_tensors_name_what_is_wrong() {
        let cases = [
            (
                serde_json::json!({ "inputs": [{ "name": "x", "shape": [1], "datatype": "FP64", "data": [1] }] }),
                "missing input \"plan\"",
            ),
            (
                serde_json::json!({ "inputs": [
                    { "name": "x", "shape": [1], "datatype": "FP64", "data": ["1"] },
                    { "name": "plan", "shape": [1], "datatype": "BYTES", "data": ["a"] }] }),
                "inputs[0].data[0]: a FP64 tensor holds numbers",
            ),
            (
                serde_json::json!({ "inputs": [
                    { "name": "x", "shape": [1], "datatype": "FP128", "data": [1] },
                    { "name": "plan", "shape": [1], "datatype": "BYTES", "data": ["a"] }] }),
                "unknown datatype",
            ),
            (
                serde_json::json!({ "inputs": [
                    { "name": "x", "shape": [2], "datatype": "FP64", "data": [1, 2] },
                    { "name": "plan", "shape": [1], "datatype": "BYTES", "data": ["a"] }] }),
                "has 1 rows, the others 2",
            ),
        ];
        for (body, says) in cases {
            let error = rows(&request(body), &owned(INPUTS))
                .expect_err("refused")
                .to_string();
            assert!(error.contains(says), "{error}");
        }
    }
}
