//! Where reactions have got to in the event log.

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
}
