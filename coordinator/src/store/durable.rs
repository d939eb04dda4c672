//! Commits that survive an OS crash or a power loss, not only a killed process: rollout
//! decisions, deployments, registry changes and operator actions. The store runs WAL with
//! `synchronous=NORMAL`, where a commit is safe from SIGKILL but the last ones can be lost
//! with the machine; for these writes the connection is switched to `synchronous=FULL`,
//! which syncs the WAL (every commit before it included) before the commit returns, and back
//! once it is done. Hot writes (metric points, serving windows, events in batches) stay
//! NORMAL, so ingest pays only for the syncs durable commits make.

use rusqlite::Connection;
use std::ops::{Deref, DerefMut};
use std::sync::MutexGuard;

use super::{Store, StoreError};

/// The writer connection with `synchronous=FULL` until it is dropped.
pub struct Durable<'a>(MutexGuard<'a, Connection>);

impl Deref for Durable<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.0
    }
}

impl DerefMut for Durable<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.0
    }
}

impl Drop for Durable<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.pragma_update(None, "synchronous", "NORMAL") {
            tracing::error!(cause = %e, "the store could not go back to synchronous=NORMAL");
        }
    }
}

impl Store {
    /// The writer connection, its commits durable until the guard drops.
    pub(super) fn durable(&self) -> Result<Durable<'_>, StoreError> {
        let conn = self.lock()?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(Durable(conn))
    }

    /// As [`Store::write_tx`], committed durably.
    pub(super) fn durable_tx<R>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        super::commit_on(&mut *self.durable()?, work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synchronous(store: &Store) -> i64 {
        store
            .lock()
            .expect("lock")
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .expect("pragma")
    }

    #[test]
    fn a_durable_commit_is_full_and_the_store_goes_back_to_normal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("d.db")).expect("opens");
        assert_eq!(synchronous(&store), 1, "NORMAL");
        {
            let conn = store.durable().expect("durable");
            let level: i64 = conn
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .expect("pragma");
            assert_eq!(level, 2, "FULL");
        }
        assert_eq!(synchronous(&store), 1);
        let failed: Result<(), StoreError> =
            store.durable_tx(|_| Err(StoreError::Corrupt("no".into())));
        assert!(failed.is_err());
        assert_eq!(synchronous(&store), 1, "NORMAL again after a failed one");
    }
}
