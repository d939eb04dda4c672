//! What `drover load` sends: one prepared request per row, in the Open Inference Protocol or
//! MLflow format, with its stickiness key and true label when asked for.

use bytes::Bytes;
use clap::ValueEnum;
use hyper::Uri;
use hyper::http::HeaderValue;
use serde_json::{Value, json};

/// The request format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `POST /v2/models/{model}/infer`: one `[1, k]` tensor of numbers, or one tensor per
    /// input when some are categories.
    Oip,
    /// `POST /invocations` with `dataframe_split`.
    Mlflow,
}

/// One prepared request.
#[derive(Clone)]
pub struct Prepared {
    pub(super) uri: Uri,
    pub(super) body: Bytes,
    /// The `x-drover-key` header.
    pub(super) key: Option<HeaderValue>,
    /// The row's true label, posted as feedback after the answer.
    pub(super) label: Option<String>,
}

/// The request for one row: for OIP one `[1, k]` tensor when every input is a number, one
/// tensor per input otherwise.
pub fn prepare(
    format: Format,
    model: &str,
    inputs: &[(String, bool)],
    row: &[Value],
    key: Option<String>,
) -> Prepared {
    let (path, body) = match format {
        Format::Oip
            if inputs.iter().all(|(_, numeric)| *numeric) && row.iter().all(Value::is_number) =>
        {
            (
                format!("/v2/models/{model}/infer"),
                json!({ "inputs": [{
                    "name": "input-0",
                    "shape": [1, inputs.len()],
                    "datatype": "FP64",
                    "data": row,
                }]}),
            )
        }
        Format::Oip => {
            let tensors: Vec<Value> = inputs
                .iter()
                .zip(row)
                .map(|((name, numeric), value)| {
                    json!({
                        "name": name,
                        "shape": [1],
                        "datatype": if *numeric { "FP64" } else { "BYTES" },
                        "data": [value],
                    })
                })
                .collect();
            (
                format!("/v2/models/{model}/infer"),
                json!({ "inputs": tensors }),
            )
        }
        Format::Mlflow => {
            let columns: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
            (
                "/invocations".to_string(),
                json!({ "dataframe_split": { "columns": columns, "data": [row] } }),
            )
        }
    };
    Prepared {
        // The model name comes from the command line; one a URI cannot hold is refused by the
        // agent as an unknown model.
        uri: Uri::try_from(path).unwrap_or_else(|_| Uri::from_static("/")),
        body: Bytes::from(body.to_string()),
        key: key.and_then(|k| HeaderValue::try_from(k).ok()),
        label: None,
    }
}

impl Prepared {
    /// The same request, followed by feedback with `label`.
    pub(super) fn labelled(self, label: Option<String>) -> Self {
        Self { label, ..self }
    }
}
