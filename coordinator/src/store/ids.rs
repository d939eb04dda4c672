//! Ids typed by people: a unique prefix stands for the whole id (`run-3fa` for
//! `run-3fa2c1d0e9b8`), as in git.

use rusqlite::params;

use super::{Store, StoreError};

/// Most candidates an ambiguous prefix lists.
const SHOWN: u32 = 5;

/// What a typed id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdMatch {
    /// The id itself, or the one id it is a prefix of.
    One(String),
    None,
    /// Several ids start with it (the first few).
    Many(Vec<String>),
}

impl Store {
    /// The run `typed` names: its id, or the one run id it is a prefix of.
    pub fn match_run_id(&self, typed: &str) -> Result<IdMatch, StoreError> {
        self.match_id("runs", typed)
    }

    /// The enrolled agent `typed` names: its id, or the one agent id it is a prefix of.
    pub fn match_agent_id(&self, typed: &str) -> Result<IdMatch, StoreError> {
        self.match_id("agents", typed)
    }

    fn match_id(&self, table: &str, typed: &str) -> Result<IdMatch, StoreError> {
        let conn = self.read()?;
        let exact: bool = conn.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ?1)"),
            [typed],
            |r| r.get(0),
        )?;
        if exact || typed.is_empty() {
            return Ok(if exact {
                IdMatch::One(typed.to_string())
            } else {
                IdMatch::None
            });
        }
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id FROM {table} WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id LIMIT ?2"
        ))?;
        let ids = stmt
            .query_map(params![typed, SHOWN + 1], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match ids.as_slice() {
            [] => IdMatch::None,
            [one] => IdMatch::One(one.clone()),
            _ => IdMatch::Many(ids.into_iter().take(SHOWN as usize).collect()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unique_prefix_names_its_run_and_an_ambiguous_one_lists_candidates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("d.db")).expect("store");
        let conn = store.lock().expect("lock");
        for id in ["run-aa1", "run-aa2", "run-b%_"] {
            conn.execute(
                "INSERT INTO runs (id, experiment, model, status, spec, spec_hash, dataset_name, dataset_version,
                    dataset_hash, dataset_size, seed, drover_version, trials_total, created_ms)
                 VALUES (?1, 'e', 'm', 'queued', '{}', '', 'd', 1, '', 0, 0, '', 1, 0)",
                [id],
            )
            .expect("insert");
        }
        drop(conn);
        let one = |id: &str| IdMatch::One(id.into());
        assert_eq!(
            store.match_run_id("run-aa1").expect("match"),
            one("run-aa1")
        );
        assert_eq!(store.match_run_id("run-b").expect("match"), one("run-b%_"));
        assert_eq!(store.match_run_id("run-b%").expect("match"), one("run-b%_"));
        assert_eq!(store.match_run_id("run-c").expect("match"), IdMatch::None);
        assert_eq!(
            store.match_run_id("run-a").expect("match"),
            IdMatch::Many(vec!["run-aa1".into(), "run-aa2".into()])
        );
    }
}
