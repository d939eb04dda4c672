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

/// Bytes a request may decode to, per byte of its body.
pub const DECODED_PER_BODY_BYTE: usize = 16;
/// Bytes any request may decode to, whatever its body's size.
const DECODED_FLOOR: usize = 1 << 20;

/// What one request may decode to: [`DECODED_PER_BODY_BYTE`] times its body, and at least
/// [`DECODED_FLOOR`]. A value costs a cell (24 bytes), text its bytes too, so a CSV of
/// one-character fields decodes to about 12 times its size; one made mostly of empty
/// fields, which would decode to 24, is refused. What requests in flight hold is
/// `drover_agent_decoded_bytes` (to the MiB).
pub struct Allowance {
    limit: usize,
    /// Charged, and of that shown in the gauge (updated a MiB at a time: a gauge update
    /// per cell would cost more than decoding it).
    held: usize,
    shown: usize,
}

/// How much decoding is charged before the gauge is brought up to date.
const SHOWN_EVERY: usize = 1 << 20;

impl Allowance {
    /// The allowance of a request whose body is `body` bytes.
    pub fn for_body(body: usize) -> Self {
        let limit = body
            .saturating_mul(DECODED_PER_BODY_BYTE)
            .max(DECODED_FLOOR);
        Self {
            limit,
            held: 0,
            shown: 0,
        }
    }

    /// Counts `bytes` more decoded; refused past the allowance.
    pub fn charge(&mut self, bytes: usize) -> Result<(), BadRequest> {
        if bytes > self.limit - self.held {
            return Err(BadRequest::new(
                "body",
                format!(
                    "decodes to more than {} bytes ({DECODED_PER_BODY_BYTE} times its size); send fewer empty fields or smaller batches",
                    self.limit
                ),
            ));
        }
        self.held += bytes;
        if self.held - self.shown >= SHOWN_EVERY {
            metrics::gauge!("drover_agent_decoded_bytes")
                .increment((self.held - self.shown) as f64);
            self.shown = self.held;
        }
        Ok(())
    }

    /// Counts one cell.
    pub fn cell(&mut self, cell: &Cell) -> Result<(), BadRequest> {
        self.charge(cost(cell))
    }

    /// Counts every cell of `rows`.
    pub fn rows(&mut self, rows: &Rows) -> Result<(), BadRequest> {
        self.charge(rows.cells().iter().map(cost).sum())
    }
}

/// What one decoded cell holds: the cell, and its text.
fn cost(cell: &Cell) -> usize {
    std::mem::size_of::<Cell>()
        + match cell {
            Cell::Text(t) => t.capacity(),
            _ => 0,
        }
}

impl Drop for Allowance {
    fn drop(&mut self) {
        if self.shown > 0 {
            metrics::gauge!("drover_agent_decoded_bytes").decrement(self.shown as f64);
        }
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
