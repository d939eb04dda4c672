//! A dataset version's pane: where it came from, its schema changes since the version before,
//! and per column its type, missing values, distribution (a small histogram) and profile.

use drover_protocol::data::DatasetVersion;

use crate::present::dataset::{brief, shape};
use crate::present::{age, size};

/// Bars in a column's histogram.
const SHAPE: usize = 10;

pub fn lines(d: &DatasetVersion, now_ms: u64) -> Vec<String> {
    let mut out = vec![
        format!(
            "rows       {}  {} columns  {}  from {}",
            d.rows,
            d.schema.columns.len(),
            size(d.size_bytes),
            d.source
        ),
        format!(
            "added      {}  blake3 {:.16}",
            age(Some(d.created_ms), now_ms),
            d.hash
        ),
    ];
    match (d.version, d.changes.as_slice()) {
        (1, _) => out.push("schema     first version".into()),
        (v, []) => out.push(format!("schema     unchanged since @{}", v - 1)),
        (v, changes) => {
            out.push(format!("schema     changed since @{}:", v - 1));
            out.extend(changes.iter().map(|c| format!("  {c}")));
        }
    }
    out.push(format!(
        "{:<14} {:<11} {:>5}  {:<SHAPE$}  VALUES",
        "COLUMN", "TYPE", "NULLS", "SHAPE"
    ));
    for c in &d.profile.columns {
        out.push(format!(
            "{:<14} {:<11} {:>5}  {:<SHAPE$}  {}",
            c.name,
            c.kind.to_string(),
            c.nulls,
            shape(c, SHAPE),
            brief(c)
        ));
    }
    out
}
