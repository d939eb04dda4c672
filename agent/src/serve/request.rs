//! What every request format turns into: rows as one column of cells per model input, and
//! the error a bad request gets, naming the field at fault.

use serde_json::Value;

use crate::train::pipeline::Cell;

/// Rows of a request, one column of cells per model input, in the model's input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub columns: Vec<Vec<Cell>>,
    pub rows: usize,
}

/// A request that cannot be answered as sent: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BadRequest {
    pub field: String,
    pub message: String,
}

impl BadRequest {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A JSON value as a cell: null is missing, true and false are 1 and 0.
pub fn cell(value: &Value, field: &str) -> Result<Cell, BadRequest> {
    Ok(match value {
        Value::Null => Cell::Missing,
        Value::Bool(b) => Cell::Number(f64::from(u8::from(*b))),
        Value::Number(n) => Cell::Number(n.as_f64().ok_or_else(|| {
            BadRequest::new(field, format!("{n} is not representable as a number"))
        })?),
        Value::String(s) => Cell::Text(s.clone()),
        other => {
            return Err(BadRequest::new(
                field,
                format!("expected a number, a string or null, got {other}"),
            ));
        }
    })
}
