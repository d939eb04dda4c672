//! Dataset types: the inferred [`schema::Schema`], per-column [`profile::Profile`]s, schema
//! diffs between versions, and the versions themselves. Reading and profiling a CSV is
//! `drover-ml`'s work.

pub mod profile;
pub mod schema;
pub mod version;

pub use profile::{ColumnProfile, Profile};
pub use schema::{Column, ColumnKind, Schema, SchemaChange};
pub use version::{DatasetAdded, DatasetRef, DatasetSummary, DatasetUpload, DatasetVersion};

/// BLAKE3 of bytes as lower-case hex: the content address of datasets and artifacts.
pub fn content_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
