//! Experiments: named groups of runs. Experiment 0, "Default", always exists; every
//! experiment a drover run names gets a row when the run is submitted.

use std::collections::BTreeMap;
use std::time::Instant;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, edit_tags, json, json_or_default, record_write};

/// An experiment: a named group of runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub id: i64,
    pub name: String,
    /// `active` or `deleted`.
    pub lifecycle: String,
    pub tags: BTreeMap<String, String>,
    pub created_ms: u64,
    pub updated_ms: u64,
}

fn experiment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Experiment> {
    Ok(Experiment {
        id: r.get(0)?,
        name: r.get(1)?,
        lifecycle: r.get(2)?,
        tags: json_or_default(&r.get::<_, String>(3)?),
        created_ms: r.get::<_, i64>(4)? as u64,
        updated_ms: r.get::<_, i64>(5)? as u64,
    })
}

const EXPERIMENT: &str =
    "SELECT id, name, lifecycle, tags, created_ms, updated_ms FROM experiments";

impl Store {
    /// The experiment called `name`.
    pub fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>, StoreError> {
        let conn = self.read()?;
        Ok(conn
            .query_row(
                &format!("{EXPERIMENT} WHERE name = ?1"),
                [name],
                experiment_row,
            )
            .optional()?)
    }

    /// The experiment with `id`.
    pub fn experiment(&self, id: i64) -> Result<Option<Experiment>, StoreError> {
        let conn = self.read()?;
        Ok(conn
            .query_row(&format!("{EXPERIMENT} WHERE id = ?1"), [id], experiment_row)
            .optional()?)
    }

    /// Every experiment, by id.
    pub fn experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("{EXPERIMENT} ORDER BY id"))?;
        let rows = stmt
            .query_map([], experiment_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Creates an experiment; `None` when the name is taken.
    pub fn create_experiment(
        &self,
        name: &str,
        tags: &BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<Option<i64>, StoreError> {
        let started = Instant::now();
        let conn = self.lock()?;
        let changed = conn.execute(
            "INSERT OR IGNORE INTO experiments (name, tags, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?3)",
            params![name, json(tags)?, now_ms as i64],
        )?;
        record_write(started);
        Ok((changed == 1).then(|| conn.last_insert_rowid()))
    }

    /// Marks an experiment `active` or `deleted`; false when it does not exist.
    pub fn set_experiment_lifecycle(
        &self,
        id: i64,
        lifecycle: &str,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let started = Instant::now();
        let changed = self.lock()?.execute(
            "UPDATE experiments SET lifecycle = ?2, updated_ms = ?3 WHERE id = ?1",
            params![id, lifecycle, now_ms as i64],
        )?;
        record_write(started);
        Ok(changed == 1)
    }

    /// Renames an experiment and its runs with it, in one transaction. `Ok(false)` when no
    /// experiment has `id`; an error names a taken name.
    pub fn rename_experiment(
        &self,
        id: i64,
        name: &str,
        now_ms: u64,
    ) -> Result<Result<bool, String>, StoreError> {
        self.write_tx(|tx| {
            let Some(old): Option<String> = tx
                .query_row("SELECT name FROM experiments WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?
            else {
                return Ok(Ok(false));
            };
            let taken: Option<i64> = tx
                .query_row(
                    "SELECT id FROM experiments WHERE name = ?1 AND id != ?2",
                    params![name, id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(other) = taken {
                return Ok(Err(format!(
                    "experiment {other} is already called {name:?}"
                )));
            }
            tx.execute(
                "UPDATE experiments SET name = ?2, updated_ms = ?3 WHERE id = ?1",
                params![id, name, now_ms as i64],
            )?;
            tx.execute(
                "UPDATE runs SET experiment = ?2 WHERE experiment = ?1",
                params![old, name],
            )?;
            Ok(Ok(true))
        })
    }

    /// Sets (`Some`) or removes (`None`) one tag of an experiment; false when it does not exist.
    pub fn set_experiment_tag(
        &self,
        id: i64,
        key: &str,
        value: Option<&str>,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.write_tx(|tx| {
            let Some(tags): Option<String> = tx
                .query_row("SELECT tags FROM experiments WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?
            else {
                return Ok(false);
            };
            tx.execute(
                "UPDATE experiments SET tags = ?2, updated_ms = ?3 WHERE id = ?1",
                params![id, edit_tags(&tags, key, value)?, now_ms as i64],
            )?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("drover.db")).expect("opens");
        (dir, store)
    }

    #[test]
    fn the_default_experiment_exists_and_names_are_unique() {
        let (_dir, store) = store();
        assert_eq!(
            store.experiment(0).expect("reads").expect("default").name,
            "Default"
        );
        let id = store
            .create_experiment("churn", &BTreeMap::new(), 5)
            .expect("creates")
            .expect("new");
        assert!(id > 0);
        assert_eq!(
            store
                .create_experiment("churn", &BTreeMap::new(), 6)
                .expect("runs"),
            None
        );
        assert_eq!(
            store
                .experiment_by_name("churn")
                .expect("reads")
                .map(|e| e.id),
            Some(id)
        );
        assert!(
            store
                .set_experiment_lifecycle(id, "deleted", 7)
                .expect("updates")
        );
        assert_eq!(
            store
                .experiment(id)
                .expect("reads")
                .expect("there")
                .lifecycle,
            "deleted"
        );
    }
}
