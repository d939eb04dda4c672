//! Open Inference Protocol v2 (KServe, Triton, MLServer): the infer request and response
//! bodies, and how tensors become rows: either one `[n, k]` tensor holding the inputs in
//! order, or one `[n]` (or `[n, 1]`) tensor per input, named after it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::model::{Data, Predictions, Served};
use super::request::{Allowance, BadRequest, Rows, input_names};
use crate::train::pipeline::Cell;

/// `POST /v2/models/{name}/infer`, borrowing its strings from the body where it can.
#[derive(Debug, Deserialize)]
pub struct InferRequest<'a> {
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub inputs: Vec<Tensor<'a>>,
}

/// One input tensor: `data` (flat or nested, row-major) of `shape`.
#[derive(Debug, Deserialize)]
pub struct Tensor<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    pub shape: Vec<i64>,
    #[serde(borrow)]
    pub datatype: Cow<'a, str>,
    pub data: Flat,
}

/// A tensor's elements in row-major order, nested lists flattened as they are read.
#[derive(Debug, Default)]
pub struct Flat(pub Vec<Datum>);

/// One element of a tensor as JSON wrote it.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
}

impl fmt::Display for Datum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Null => f.write_str("null"),
            Datum::Bool(b) => write!(f, "{b}"),
            Datum::Number(n) => write!(f, "{n}"),
            Datum::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// Reads one element or nested list into the buffer it holds.
struct Into<'v>(&'v mut Vec<Datum>);

impl<'de> DeserializeSeed<'de> for Into<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Into<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, a string, a boolean, null, or a list of them")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push(Datum::Null);
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push(Datum::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push(Datum::Number(v as f64));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push(Datum::Number(v as f64));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.push(Datum::Number(v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push(Datum::Text(v.to_string()));
        Ok(())
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.0.push(Datum::Text(v));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Into(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Flat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Room for a typical row, so that reading one does not grow the buffer again and again.
        let mut flat = Vec::with_capacity(32);
        deserializer.deserialize_any(Into(&mut flat))?;
        Ok(Flat(flat))
    }
}

/// Longest request id echoed, characters.
pub const MAX_ID: usize = 128;

/// The id a request gives in its body, if any: echoed for tracing, at most [`MAX_ID`]
/// characters.
pub fn asked_id(request: &InferRequest<'_>) -> Result<Option<String>, BadRequest> {
    match request.id.as_deref() {
        Some(id) if id.chars().count() > MAX_ID => Err(BadRequest::new(
            "id",
            format!("a request id has at most {MAX_ID} characters"),
        )),
        id => Ok(id.map(str::to_string)),
    }
}

/// The answer to an infer request.
#[derive(Debug, Serialize)]
pub struct InferResponse<'a> {
    pub model_name: &'a str,
    pub model_version: &'a str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters<'a>>,
    pub outputs: Vec<Output<'a>>,
}

/// What an answer says beyond its outputs: the id feedback names its prediction by.
#[derive(Debug, Serialize)]
pub struct Parameters<'a> {
    pub prediction_id: &'a str,
}

impl<'a> Parameters<'a> {
    pub fn of(prediction_id: &'a str) -> Self {
        Self { prediction_id }
    }
}

/// One output tensor.
#[derive(Debug, Serialize)]
pub struct Output<'a> {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub datatype: &'static str,
    pub data: Data<'a>,
}

/// Datatypes a tensor may carry.
const DATATYPES: &[&str] = &[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
    "FP32", "FP64", "BYTES",
];

/// A tensor's elements as cells, checked against its datatype and shape.
fn elements(tensor: Tensor<'_>, field: &str) -> Result<(Vec<Cell>, Vec<usize>), BadRequest> {
    if !DATATYPES.contains(&tensor.datatype.as_ref()) {
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
    let flat = tensor.data.0;
    let expected = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if expected != Some(flat.len()) {
        return Err(BadRequest::new(
            format!("{field}.data"),
            format!(
                "shape {:?} holds {} values, data has {}",
                tensor.shape,
                expected.map_or_else(|| "too many".to_string(), |n| n.to_string()),
                flat.len()
            ),
        ));
    }
    let bytes = tensor.datatype == "BYTES";
    let datatype = &tensor.datatype;
    let cells = flat
        .into_iter()
        .enumerate()
        .map(|(i, datum)| match (bytes, datum) {
            (_, Datum::Null) => Ok(Cell::Missing),
            (true, Datum::Text(t)) => Ok(Cell::Text(t)),
            (false, Datum::Number(n)) => Ok(Cell::Number(n)),
            (false, Datum::Bool(b)) => Ok(Cell::Number(f64::from(u8::from(b)))),
            (true, other) => Err(BadRequest::new(
                format!("{field}.data[{i}]"),
                format!("a BYTES tensor holds strings, not {other}"),
            )),
            (false, other) => Err(BadRequest::new(
                format!("{field}.data[{i}]"),
                format!("a {datatype} tensor holds numbers, not {other}"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((cells, shape))
}

/// The rows a request carries for a model with `inputs` (name, numeric) in order.
pub fn rows(
    request: InferRequest<'_>,
    inputs: &[(String, bool)],
    allowance: &mut Allowance,
) -> Result<Rows, BadRequest> {
    for tensor in &request.inputs {
        let text: usize = tensor
            .data
            .0
            .iter()
            .map(|d| match d {
                Datum::Text(t) => t.capacity(),
                _ => 0,
            })
            .sum();
        allowance.charge(tensor.data.0.capacity() * std::mem::size_of::<Datum>() + text)?;
    }
    let named = |t: &Tensor<'_>| inputs.iter().any(|(n, _)| *n == t.name);
    let k = inputs.len();
    let mut tensors = request.inputs;
    if tensors.is_empty() {
        return Err(BadRequest::new("inputs", "no input tensor"));
    }
    if tensors.len() == 1 && (!named(&tensors[0]) || k == 1 && tensors[0].shape.len() == 2) {
        let one = tensors.remove(0);
        let (cells, shape) = elements(one, "inputs[0]")?;
        let whole = match shape.as_slice() {
            [_, width] if *width == k => Rows::from_cells(cells, k),
            [_] if k == 1 => Rows::from_cells(cells, k),
            _ => None,
        };
        return whole.ok_or_else(|| {
            BadRequest::new(
                "inputs[0].shape",
                format!(
                    "one tensor must be [rows, {k}] with the inputs in order ({}), or name one input",
                    input_names(inputs)
                ),
            )
        });
    }
    if let Some(unknown) = tensors.iter().find(|t| !named(t)) {
        return Err(BadRequest::new(
            "inputs",
            format!(
                "unknown input {:?}; the model takes {}",
                unknown.name,
                input_names(inputs)
            ),
        ));
    }
    let mut out: Option<Rows> = None;
    for (i, (name, _)) in inputs.iter().enumerate() {
        let Some(at) = tensors.iter().position(|t| t.name == *name) else {
            return Err(BadRequest::new("inputs", format!("missing input {name:?}")));
        };
        let field = format!("inputs[{at}]");
        let tensor = std::mem::replace(
            &mut tensors[at],
            Tensor {
                name: Cow::Borrowed(""),
                shape: Vec::new(),
                datatype: Cow::Borrowed(""),
                data: Flat::default(),
            },
        );
        let given = tensor.shape.clone();
        let (cells, shape) = elements(tensor, &field)?;
        let n = match shape.as_slice() {
            [n] | [n, 1] => *n,
            _ => {
                return Err(BadRequest::new(
                    format!("{field}.shape"),
                    format!("input {name:?} must be [rows] or [rows, 1], got {given:?}"),
                ));
            }
        };
        let rows = out.get_or_insert_with(|| Rows::missing(k, n));
        if rows.rows() != n {
            return Err(BadRequest::new(
                format!("{field}.shape"),
                format!("input {name:?} has {n} rows, the others {}", rows.rows()),
            ));
        }
        for (r, cell) in cells.into_iter().enumerate() {
            rows.set(r, i, cell);
        }
    }
    Ok(out.unwrap_or_else(|| Rows::missing(k, 0)))
}

/// The output tensors of `served`'s predictions: `predict` (labels or values) and, for
/// classifiers, `predict_proba`.
pub fn outputs<'a>(served: &'a Served, predictions: &'a Predictions) -> Vec<Output<'a>> {
    match predictions {
        Predictions::Classes {
            chosen,
            probabilities,
        } => vec![
            Output {
                name: "predict",
                shape: vec![chosen.len()],
                datatype: served.label_datatype(),
                data: served.labels(chosen),
            },
            Output {
                name: "predict_proba",
                shape: vec![probabilities.nrows(), probabilities.ncols()],
                datatype: "FP64",
                data: Data::Numbers(probabilities.as_slice().map_or_else(
                    || Cow::Owned(probabilities.iter().copied().collect()),
                    Cow::Borrowed,
                )),
            },
        ],
        Predictions::Values(values) => vec![Output {
            name: "predict",
            shape: vec![values.len()],
            datatype: "FP64",
            data: Data::Numbers(Cow::Borrowed(values)),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows `body` gives for a model taking `inputs`.
    fn rows_of(body: serde_json::Value, inputs: &[(&str, bool)]) -> Result<Rows, BadRequest> {
        let text = body.to_string();
        let request: InferRequest<'_> = serde_json::from_str(&text).expect("request");
        rows(
            request,
            &owned(inputs),
            &mut Allowance::for_body(text.len()),
        )
    }

    #[test]
    fn a_request_decoding_to_more_than_its_allowance_is_refused() {
        // Nulls are five bytes of JSON and a 24-byte element each: within 16 times.
        let nulls = serde_json::json!({ "inputs": [{ "name": "x", "shape": [200_000], "datatype": "FP64", "data": vec![serde_json::Value::Null; 200_000] }] });
        let text = nulls.to_string();
        let request: InferRequest<'_> = serde_json::from_str(&text).expect("request");
        let one = [("x", true)];
        let within = rows(request, &owned(&one), &mut Allowance::for_body(text.len()));
        assert_eq!(within.map(|r| r.rows()), Ok(200_000));
        // The same elements against a body a tenth the size are past it.
        let request: InferRequest<'_> = serde_json::from_str(&text).expect("request");
        let past = rows(
            request,
            &owned(&one),
            &mut Allowance::for_body(text.len() / 10),
        );
        assert_eq!(
            past.map(|r| r.rows()).map_err(|e| e.field),
            Err("body".into())
        );
    }

    const INPUTS: &[(&str, bool)] = &[("x", true), ("plan", false)];

    /// `inputs` as a served model lists them.
    fn owned(inputs: &[(&str, bool)]) -> Vec<(String, bool)> {
        inputs.iter().map(|(n, b)| (n.to_string(), *b)).collect()
    }

    #[test]
    fn named_tensors_and_one_matrix_become_the_same_rows() {
        let named = serde_json::json!({ "inputs": [
            { "name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro", null] },
            { "name": "x", "shape": [2, 1], "datatype": "FP32", "data": [[1.5], [2]] },
        ]});
        let rows = rows_of(named, INPUTS).expect("rows");
        assert_eq!(rows.rows(), 2);
        assert_eq!(
            rows.cells(),
            [
                Cell::Number(1.5),
                Cell::Text("pro".into()),
                Cell::Number(2.0),
                Cell::Missing
            ]
        );

        let matrix = serde_json::json!({ "inputs": [
            { "name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [[1, 2], [3, true]] },
        ]});
        let rows = rows_of(matrix, &[("a", true), ("b", true)]).expect("rows");
        assert_eq!(
            rows.cells(),
            [1.0, 2.0, 3.0, 1.0].map(Cell::Number),
            "nested lists are read row after row"
        );
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
            let error = rows_of(body, INPUTS).expect_err("refused").to_string();
            assert!(error.contains(says), "{error}");
        }
    }
}
