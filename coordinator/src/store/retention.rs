//! What agents report is kept by size as well as by age: serving windows, sketches and live
//! importance each keep at most a number of rows (their newest), so a flood of well-formed
//! reports, or a fleet larger than planned, cannot grow the store without bound. Every
//! report's rows are bounded in size by the agent's quota, so rows bound bytes.

use rusqlite::Connection;

use super::StoreError;

/// Serving windows kept at most (a row is a few hundred bytes).
pub const MAX_WINDOW_ROWS: u64 = 1_000_000;
/// Sketch windows kept at most (a row is a few KiB).
pub const MAX_SKETCH_ROWS: u64 = 50_000;
/// Live importance windows kept at most.
pub const MAX_IMPORTANCE_ROWS: u64 = 10_000;

/// Keeps the newest `rows` rows of `table` (by rowid, the order they were stored in) and
/// deletes the rest; how many it deleted.
pub(super) fn keep_newest(
    conn: &Connection,
    table: &'static str,
    rows: u64,
) -> Result<usize, StoreError> {
    let deleted = conn
        .prepare_cached(&format!(
            "DELETE FROM {table} WHERE rowid <= (SELECT MAX(rowid) FROM {table}) - ?1"
        ))?
        .execute([i64::try_from(rows).unwrap_or(i64::MAX)])?;
    if deleted > 0 {
        metrics::counter!("drover_store_retention_deleted_total", "table" => table)
            .increment(deleted as u64);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use drover_protocol::serve::ServingWindow;
    use drover_protocol::types::AgentId;

    #[test]
    fn only_the_newest_rows_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("d.db")).expect("opens");
        let window = |start_ms: u64| ServingWindow {
            model: "churn".into(),
            version: 1,
            start_ms,
            end_ms: start_ms + 1,
            requests: 1,
            errors: 0,
            latency: vec![1],
            classes: vec![1],
            feedback: 0,
            correct: 0,
        };
        let agent = AgentId("ag-1".into());
        let windows: Vec<ServingWindow> = (1..=10).map(window).collect();
        store.insert_windows(&agent, &windows, 20).expect("stored");
        let deleted =
            keep_newest(&store.lock().expect("lock"), "serving_windows", 3).expect("kept");
        assert_eq!(deleted, 7);
        let kept = store.serving_windows("churn", 0).expect("read");
        let starts: Vec<u64> = kept.iter().map(|(_, w)| w.start_ms).collect();
        assert_eq!(starts, [8, 9, 10]);
    }
}
