//! Records that do not decode. A reader that meets one leaves it out and sets it aside;
//! [`Store::quarantine_pending`] then moves it into the `quarantine` table with an event
//! naming it, so one bad row can never stop the event log, the alert sinks or a listing
//! again. [`check_records`] decodes every stored record for `drover doctor`.

use std::sync::Mutex;

use drover_protocol::drift::{Alert, ColumnDrift, ImportanceRank, ImportanceWindow, SketchWindow};
use drover_protocol::msg::{Event, EventRecord};
use drover_protocol::rollout::{Decision, Rollout};
use rusqlite::{Connection, Params, Row, params};
use serde::de::DeserializeOwned;

use super::events::insert_event;
use super::{Store, StoreError};

/// A stored record that would not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub table: &'static str,
    pub row: i64,
    pub reason: String,
}

/// Records readers found unreadable, waiting to be moved aside.
#[derive(Default)]
pub(super) struct Pending(Mutex<Vec<Unreadable>>);

/// Most records waiting to be moved aside; more are found again by the next read after the
/// move, so none is lost for good.
const MAX_PENDING: usize = 1024;

/// Tables whose unreadable rows readers set aside, with their JSON column. Rows of other
/// tables are reported by [`check_records`] only: a rollout is referenced by its
/// decisions, so it is never moved.
const MOVABLE: &[(&str, &str)] = &[
    ("events", "body"),
    ("alerts", "body"),
    ("rollout_decisions", "body"),
    ("sketch_windows", "body"),
    ("drift_latest", "body"),
    ("live_importance", "body"),
    ("importance_ranks", "body"),
];

impl Store {
    /// The rows `sql` selects (the rowid first, then the JSON body, then what `extra`
    /// reads), with their bodies decoded. A body that does not decode is left out and set
    /// aside for [`Store::quarantine_pending`].
    pub(super) fn decoded<T: DeserializeOwned, E>(
        &self,
        conn: &Connection,
        table: &'static str,
        sql: &str,
        args: impl Params,
        extra: impl Fn(&Row<'_>) -> rusqlite::Result<E>,
    ) -> Result<Vec<(E, T)>, StoreError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt
            .query_map(args, |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, extra(r)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (row, body, e) in rows {
            match serde_json::from_str(&body) {
                Ok(value) => out.push((e, value)),
                Err(err) => self.set_aside(Unreadable {
                    table,
                    row,
                    reason: err.to_string(),
                }),
            }
        }
        Ok(out)
    }

    fn set_aside(&self, record: Unreadable) {
        tracing::error!(table = record.table, row = record.row, cause = %record.reason,
            "a stored record does not decode; left out and set aside");
        let mut pending = self.pending.0.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() < MAX_PENDING && !pending.contains(&record) {
            pending.push(record);
        }
    }

    /// Moves every record readers set aside into the `quarantine` table, each with an
    /// event naming it, in one transaction; returns those events.
    pub fn quarantine_pending(&self, now_ms: u64) -> Result<Vec<EventRecord>, StoreError> {
        let pending =
            std::mem::take(&mut *self.pending.0.lock().unwrap_or_else(|p| p.into_inner()));
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        self.write_tx(|tx| {
            let mut events = Vec::new();
            for r in pending {
                let Some((_, column)) = MOVABLE.iter().find(|(t, _)| *t == r.table) else {
                    continue;
                };
                let moved = tx.execute(
                    &format!(
                        "INSERT INTO quarantine (source, row, body, reason, at_ms)
                         SELECT ?1, rowid, {column}, ?3, ?4 FROM {} WHERE rowid = ?2",
                        r.table
                    ),
                    params![r.table, r.row, r.reason, now_ms as i64],
                )?;
                if moved == 0 {
                    continue;
                }
                tx.execute(
                    &format!("DELETE FROM {} WHERE rowid = ?1", r.table),
                    [r.row],
                )?;
                let event = Event::RecordQuarantined {
                    table: r.table.to_string(),
                    row: r.row,
                    reason: r.reason,
                };
                events.push(insert_event(tx, now_ms, event)?);
            }
            Ok(events)
        })
    }

    /// How many records have been quarantined.
    pub fn quarantined(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .read()?
            .query_row("SELECT COUNT(*) FROM quarantine", [], |r| r.get(0))?;
        Ok(n as u64)
    }
}

/// Every stored record of the protocol's types that does not decode, at most `limit`.
pub fn check_records(conn: &Connection, limit: usize) -> Result<Vec<Unreadable>, StoreError> {
    let mut bad = Vec::new();
    check::<Event>(conn, "events", "body", &mut bad)?;
    check::<Alert>(conn, "alerts", "body", &mut bad)?;
    check::<Decision>(conn, "rollout_decisions", "body", &mut bad)?;
    check::<Rollout>(conn, "rollouts", "state", &mut bad)?;
    check::<SketchWindow>(conn, "sketch_windows", "body", &mut bad)?;
    check::<ColumnDrift>(conn, "drift_latest", "body", &mut bad)?;
    check::<ImportanceWindow>(conn, "live_importance", "body", &mut bad)?;
    check::<Vec<ImportanceRank>>(conn, "importance_ranks", "body", &mut bad)?;
    check::<Vec<drover_protocol::serve::Variant>>(conn, "deployments", "variants", &mut bad)?;
    bad.truncate(limit);
    Ok(bad)
}

fn check<T: DeserializeOwned>(
    conn: &Connection,
    table: &'static str,
    column: &str,
    bad: &mut Vec<Unreadable>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT rowid, {column} FROM {table}"))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let text: String = row.get(1)?;
        if let Err(e) = serde_json::from_str::<T>(&text) {
            bad.push(Unreadable {
                table,
                row: row.get(0)?,
                reason: e.to_string(),
            });
        }
    }
    Ok(())
}
