//! The awaitable face of the store. SQLite calls block, so async code never makes them on a
//! runtime worker thread (where they would stall every other task on that thread, as the
//! comment on mini-redis's `Shared.state` warns): [`Db::call`] runs the work on tokio's
//! blocking pool and awaits it. Hot writes (events, metric points) keep their own batching
//! writer threads. Debug builds check the rule on every statement: [`off_runtime`] must hold
//! whenever the connection is locked.

use std::cell::Cell;
use std::sync::Arc;

use super::Store;

thread_local! {
    /// Set while this thread runs work handed off through [`Db::call`] or [`blocking`].
    static HANDED_OFF: Cell<bool> = const { Cell::new(false) };
}

/// True when blocking here stalls no async task: on work handed off to the blocking pool, or
/// on a thread outside any tokio runtime (writer threads, startup, unit tests).
pub fn off_runtime() -> bool {
    HANDED_OFF.get() || tokio::runtime::Handle::try_current().is_err()
}

/// Runs `work` on tokio's blocking pool and returns its result; a panic in it resumes here.
pub async fn blocking<R, F>(work: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let task = tokio::task::spawn_blocking(move || {
        HANDED_OFF.set(true);
        let out = work();
        HANDED_OFF.set(false);
        out
    });
    match task.await {
        Ok(out) => out,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a blocking store task was cancelled: {e}"),
    }
}

/// Shared, awaitable access to the store.
#[derive(Clone)]
pub struct Db(Arc<Store>);

impl Db {
    pub fn new(store: Store) -> Self {
        Self(Arc::new(store))
    }

    /// Runs `work` against the store on the blocking pool.
    pub async fn call<R, F>(&self, work: F) -> R
    where
        F: FnOnce(&Store) -> R + Send + 'static,
        R: Send + 'static,
    {
        let store = self.0.clone();
        blocking(move || work(&store)).await
    }

    /// The store itself, for code already off the runtime: work inside [`Db::call`] or
    /// [`blocking`], writer threads, startup before serving.
    pub fn sync(&self) -> &Store {
        &self.0
    }

    /// A counted reference, for a writer thread that owns its share of the store.
    pub fn share(&self) -> Arc<Store> {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn handed_off_work_is_off_the_runtime_and_inline_work_is_not() {
        assert!(!off_runtime());
        assert!(blocking(off_runtime).await);
        assert!(!off_runtime());
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::new(Store::open(&dir.path().join("d.db")).expect("opens"));
        let agents = db.call(|store| store.agents()).await.expect("reads");
        assert!(agents.is_empty());
    }

    #[tokio::test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "tokio worker thread")]
    async fn a_statement_on_a_worker_thread_is_caught_in_debug_builds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("d.db")).expect("opens");
        let _ = store.agents();
    }
}
