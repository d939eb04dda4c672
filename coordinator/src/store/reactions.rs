//! Where reactions have got to in the event log, and the events after that point.

use drover_protocol::msg::EventRecord;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, record_write};

impl Store {
    /// The last event `name` has reacted to (0 before the first).
    pub fn reaction_cursor(&self, name: &str) -> Result<u64, StoreError> {
        let seq: Option<i64> = self
            .read()?
            .query_row(
                "SELECT seq FROM reaction_cursors WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        Ok(seq.unwrap_or(0) as u64)
    }

    /// Records that `name` has reacted to every event up to `seq`.
    pub fn set_reaction_cursor(&self, name: &str, seq: u64) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        self.lock()?.execute(
            "INSERT INTO reaction_cursors (name, seq) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
            params![name, seq as i64],
        )?;
        record_write(started);
        Ok(())
    }

    /// Up to `limit` events after `seq`, oldest first.
    pub fn events_after(&self, seq: u64, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT seq, at_ms, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![seq as i64, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(seq, at_ms, body)| {
                let event = serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
                Ok(EventRecord {
                    seq: seq as u64,
                    at_ms: at_ms as u64,
                    event,
                })
            })
            .collect()
    }
}
