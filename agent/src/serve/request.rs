//! What every request format turns into: rows of cells in the model's input order, and the
//! error a bad request gets, naming the field at fault.

use serde_json::Value;

use crate::train::pipeline::Cell;

/// Rows of a request: `width` cells per row (one per model input, in the model's input
/// order), row after row in one buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    cells: Vec<Cell>,
    width: usize,
}

impl Rows {
    /// No rows yet, of `width` cells each, with room for `rows` rows.
    pub fn with_capacity(width: usize, rows: usize) -> Self {
        Self {
            cells: Vec::with_capacity(width * rows),
            width,
        }
    }

    /// `rows` rows of missing cells, to be filled with [`Rows::set`].
    pub fn missing(width: usize, rows: usize) -> Self {
        Self {
            cells: vec![Cell::Missing; width * rows],
            width,
        }
    }

    /// Rows from cells already in row order; `None` unless they fill whole rows.
    pub fn from_cells(cells: Vec<Cell>, width: usize) -> Option<Self> {
        (width > 0 && cells.len().is_multiple_of(width)).then_some(Self { cells, width })
    }

    /// Appends the next cell, row after row.
    pub fn push(&mut self, cell: Cell) {
        self.cells.push(cell);
    }

    /// Sets the cell of `row` for input `input`.
    pub fn set(&mut self, row: usize, input: usize, cell: Cell) {
        if let Some(at) = self.cells.get_mut(row * self.width + input) {
            *at = cell;
        }
    }

    /// How many whole rows there are.
    pub fn rows(&self) -> usize {
        self.cells.len().checked_div(self.width).unwrap_or(0)
    }

    /// Cells per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The cells, row after row.
    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }
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

/// The names of `inputs`, for messages.
pub fn input_names(inputs: &[(String, bool)]) -> String {
    inputs
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A JSON value as a cell: null is missing, true and false are 1 and 0. `field` names it
/// when it is refused (built only then).
pub fn cell(value: &Value, field: impl FnOnce() -> String) -> Result<Cell, BadRequest> {
    Ok(match value {
        Value::Null => Cell::Missing,
        Value::Bool(b) => Cell::Number(f64::from(u8::from(*b))),
        Value::Number(n) => Cell::Number(n.as_f64().ok_or_else(|| {
            BadRequest::new(field(), format!("{n} is not representable as a number"))
        })?),
        Value::String(s) => Cell::Text(s.clone()),
        other => {
            return Err(BadRequest::new(
                field(),
                format!("expected a number, a string or null, got {other}"),
            ));
        }
    })
}
