//! Tabular datasets: reading a CSV into typed columns with a clear error for any malformed
//! row, the inferred [`schema::Schema`], per-column [`profile::Profile`]s, and schema diffs
//! between versions. Shared by the coordinator (which validates every upload) and agents
//! (which train on the same typed columns).

pub mod profile;
pub mod scan;
pub mod schema;
pub mod table;
pub mod version;

pub use profile::{ColumnProfile, Profile};
pub use schema::{Column, ColumnKind, Schema, SchemaChange};
pub use table::{ColumnData, Table, TableError};
pub use version::{DatasetAdded, DatasetRef, DatasetSummary, DatasetUpload, DatasetVersion};

/// BLAKE3 of bytes as lower-case hex: the content address of datasets and artifacts.
pub fn content_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
