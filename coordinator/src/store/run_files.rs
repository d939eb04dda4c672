//! Files logged as a run's artifacts through the MLflow API: each path names a blob in the
//! content-addressed artifact store.

use std::time::Instant;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, record_write};

impl Store {
    /// Records that the file at `path` of `run`'s artifacts is the blob `hash`.
    pub fn put_run_file(
        &self,
        path: &str,
        run: &str,
        hash: &str,
        size: u64,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        self.lock()?.execute(
            "INSERT OR REPLACE INTO run_files (path, run_id, hash, size, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![path, run, hash, size as i64, now_ms as i64],
        )?;
        record_write(started);
        Ok(())
    }

    /// The blob hash and size of the file at `path`.
    pub fn run_file(&self, path: &str) -> Result<Option<(String, u64)>, StoreError> {
        let conn = self.read()?;
        Ok(conn
            .query_row(
                "SELECT hash, size FROM run_files WHERE path = ?1",
                [path],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)),
            )
            .optional()?)
    }

    /// Every file below the directory `dir`, with its size.
    pub fn run_files(&self, dir: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT path, size FROM run_files WHERE substr(path, 1, length(?1) + 1) = ?1 || '/' ORDER BY path",
        )?;
        let rows = stmt
            .query_map([dir], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
