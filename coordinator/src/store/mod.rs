//! The embedded SQLite store: agents, join tokens and events here; dataset versions in
//! [`datasets`], training runs and their trials in [`runs`], the model registry in [`models`],
//! repeating specs in [`schedules`], metric histories in [`metrics`], experiments in
//! [`experiments`], runs as tracking clients see them in [`tracking`] and their files in
//! [`run_files`]. WAL journal (commits survive a killed process; `synchronous=NORMAL` trades
//! only power-loss durability of the last commits, except for the [`durable`] ones: decisions,
//! deployments, registry changes, operator actions), schema migrations by `user_version`. Every multi-row change runs in one transaction, so a crash
//! (even SIGKILL) leaves either the old or the new state, never half of it.

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use drover_protocol::types::{AgentId, Capacity, Labels};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

mod datasets;
mod deployments;
pub mod drift;
mod durable;
mod events;
mod experiments;
pub mod handle;
mod ids;
mod logged_models;
mod metrics;
mod migrations;
mod models;
pub mod quarantine;
mod reactions;
mod registered;
mod registry_edits;
mod retention;
mod rollouts;
mod run_files;
mod run_inputs;
mod run_pages;
mod runs;
mod schedules;
mod tracking;

pub use deployments::Received;
pub use experiments::Experiment;
pub use handle::Db;
pub use ids::IdMatch;
pub use logged_models::{LoggedModel, ModelMetric};
pub use models::NewModelVersion;
pub use registered::RegisteredModel;
pub use registry_edits::{Refusal, VersionNotes};
pub use run_inputs::StoredInput;
pub use runs::{FinishedRun, NewRun};
pub use tracking::{Keys, LogError, NewTrackedRun, Point, TrackedRun};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("record not written: {0}")]
    Unwritable(String),
    #[error("database file: {0}")]
    File(#[from] std::io::Error),
}

/// Why a join token could not be redeemed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedeemError {
    #[error("unknown join token (it was never issued here, or it was forged)")]
    Unknown,
    #[error("the join token has expired")]
    Expired,
    #[error("the join token has already been used")]
    Used,
}

/// An enrolled agent as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    pub id: AgentId,
    pub hostname: String,
    pub labels: Labels,
    pub version: String,
    pub address: String,
    pub cert_sha256: String,
    pub capacity: Option<Capacity>,
    pub enrolled_ms: u64,
    pub last_seen_ms: Option<u64>,
    /// Whether `labels` are granted for good (by the join token, the first hello after
    /// enrollment, or an operator); until then the first hello's labels become the grant.
    pub labels_fixed: bool,
    /// What the agent last claimed beyond its granted labels (ignored, shown to operators).
    pub claimed: Labels,
}

/// A token as stored: never the secret itself, only its hash.
pub struct NewToken<'a> {
    pub id: &'a str,
    pub secret_sha256: &'a str,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub uses: u32,
    /// Labels every agent joining with it is granted (fixed at enrollment).
    pub labels: Option<&'a Labels>,
}

/// Read-only connections beside the writer: under WAL they read the last commit while the
/// writer (and the metric and event writer threads) write.
const READERS: usize = 2;

/// The coordinator's database: one writer connection behind a mutex (SQLite allows one
/// writer at a time anyway) and a small pool of readers. Reached from async code only
/// through [`Db`]; no caller holds a connection across an `.await`.
pub struct Store {
    conn: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
    /// Records readers found unreadable, until [`Store::quarantine_pending`] moves them.
    pending: quarantine::Pending,
}

/// Runs `work` in one immediate write transaction on `conn`, committed when it answers `Ok`.
fn commit_on<R>(
    conn: &mut Connection,
    work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let started = Instant::now();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let answer = work(&tx)?;
    tx.commit()?;
    record_write(started);
    Ok(answer)
}

fn record_write(started: Instant) {
    ::metrics::histogram!("drover_store_write_seconds").record(started.elapsed().as_secs_f64());
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_private(path)?;
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::migrate(&mut conn)?;
        let readers = (0..READERS)
            .map(|_| {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let reader = Connection::open_with_flags(path, flags)?;
                reader.busy_timeout(std::time::Duration::from_secs(5))?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Self {
            conn: Mutex::new(conn),
            readers,
            next_reader: Default::default(),
            pending: Default::default(),
        })
    }

    /// A reader connection: a free one, else the next in turn once it is free.
    fn read(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        debug_assert!(
            handle::off_runtime(),
            "SQLite reached from a tokio worker thread; go through Db::call"
        );
        if let Some(free) = self.readers.iter().find_map(|r| r.try_lock().ok()) {
            return Ok(free);
        }
        let turn = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self.readers[turn % READERS]
            .lock()
            .unwrap_or_else(|p| p.into_inner()))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        debug_assert!(
            handle::off_runtime(),
            "SQLite reached from a tokio worker thread; go through Db::call"
        );
        // A panic while a connection was held left it usable: an open transaction rolled back
        // as its guard dropped during the unwind.
        Ok(self.conn.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs `work` in one immediate write transaction, committed when it answers `Ok`.
    fn write_tx<R>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        commit_on(&mut *self.lock()?, work)
    }

    /// Records a newly issued join token.
    pub fn insert_token(&self, token: &NewToken<'_>) -> Result<(), StoreError> {
        let started = Instant::now();
        self.durable()?.execute(
            "INSERT INTO tokens (id, secret_sha256, created_ms, expires_ms, uses_left, labels) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![token.id, token.secret_sha256, token.created_ms as i64, token.expires_ms as i64, token.uses, token.labels.map(json).transpose()?],
        )?;
        record_write(started);
        Ok(())
    }

    /// Redeems one use of a token and records the new agent, in one transaction: either both
    /// happen or neither does. An agent joining with a token that carries labels is granted
    /// them for good; the answer is the record as stored.
    pub fn enroll(
        &self,
        token_id: &str,
        secret_sha256: &str,
        now_ms: u64,
        agent: &AgentRecord,
    ) -> Result<Result<AgentRecord, RedeemError>, StoreError> {
        let started = Instant::now();
        let mut conn = self.durable()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(String, i64, i64, Option<String>)> = tx
            .query_row(
                "SELECT secret_sha256, expires_ms, uses_left, labels FROM tokens WHERE id = ?1",
                [token_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let granted = match row {
            None => Err(RedeemError::Unknown),
            Some((hash, ..)) if !constant_time_eq(hash.as_bytes(), secret_sha256.as_bytes()) => {
                Err(RedeemError::Unknown)
            }
            Some((_, expires, ..)) if (expires as u64) <= now_ms => Err(RedeemError::Expired),
            Some((_, _, uses, _)) if uses <= 0 => Err(RedeemError::Used),
            Some((.., labels)) => Ok(labels),
        };
        let granted = match granted {
            Ok(labels) => labels
                .map(|l| serde_json::from_str::<Labels>(&l))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("token {token_id} labels: {e}")))?,
            Err(refused) => return Ok(Err(refused)),
        };
        let mut agent = agent.clone();
        if let Some(labels) = granted {
            // What the agent asked for at join beyond the token's grant is only recorded.
            agent.claimed = drover_protocol::types::beyond_grant(&agent.labels, &labels);
            agent.labels = labels;
            agent.labels_fixed = true;
        }
        tx.execute(
            "UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ?1",
            [token_id],
        )?;
        tx.execute(
            "INSERT INTO agents (id, hostname, labels, version, address, cert_sha256, capacity, enrolled_ms, labels_fixed, claimed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                agent.id.0,
                agent.hostname,
                json(&agent.labels)?,
                agent.version,
                agent.address,
                agent.cert_sha256,
                agent.capacity.as_ref().map(json).transpose()?,
                agent.enrolled_ms as i64,
                agent.labels_fixed,
                json(&agent.claimed)?
            ],
        )?;
        tx.commit()?;
        record_write(started);
        Ok(Ok(agent))
    }

    /// One agent that has not been removed.
    pub fn agent(&self, id: &AgentId) -> Result<Option<AgentRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{AGENT_SELECT} WHERE id = ?1 AND removed_ms IS NULL"
        ))?;
        let row = stmt
            .query_row([&id.0], |r| AgentRow::try_from(r))
            .optional()?;
        row.map(decode_agent).transpose()
    }

    /// Every agent that has not been removed, by id.
    pub fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{AGENT_SELECT} WHERE removed_ms IS NULL ORDER BY id"
        ))?;
        let rows = stmt
            .query_map([], |r| AgentRow::try_from(r))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(decode_agent).collect()
    }

    /// Records what an agent said about itself when its session started (or its config
    /// reloaded): its granted labels, fixed, and what it claimed beyond them.
    pub fn update_agent_session(&self, agent: &AgentRecord) -> Result<(), StoreError> {
        let started = Instant::now();
        self.lock()?.execute(
            "UPDATE agents SET hostname = ?2, labels = ?3, version = ?4, address = ?5, capacity = ?6, last_seen_ms = ?7,
                 labels_fixed = ?8, claimed = ?9 WHERE id = ?1",
            params![
                agent.id.0,
                agent.hostname,
                json(&agent.labels)?,
                agent.version,
                agent.address,
                agent.capacity.as_ref().map(json).transpose()?,
                agent.last_seen_ms.map(|v| v as i64),
                agent.labels_fixed,
                json(&agent.claimed)?
            ],
        )?;
        record_write(started);
        Ok(())
    }

    /// Stores the last heartbeat time of many agents in one transaction.
    pub fn record_last_seen(&self, seen: &[(AgentId, u64)]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("UPDATE agents SET last_seen_ms = ?2 WHERE id = ?1")?;
            for (id, ms) in seen {
                stmt.execute(params![id.0, *ms as i64])?;
            }
        }
        tx.commit()?;
        record_write(started);
        Ok(())
    }

    /// Grants agent `id` the labels `set` and takes `remove` away (an operator's
    /// `drover agents label`); the answer is its record, `None` when no such agent exists.
    pub fn grant_labels(
        &self,
        id: &AgentId,
        set: &Labels,
        remove: &[String],
    ) -> Result<Option<AgentRecord>, StoreError> {
        self.durable_tx(|tx| {
            let row = tx
                .prepare_cached(&format!(
                    "{AGENT_SELECT} WHERE id = ?1 AND removed_ms IS NULL"
                ))?
                .query_row([&id.0], |r| AgentRow::try_from(r))
                .optional()?;
            let Some(mut agent) = row.map(decode_agent).transpose()? else {
                return Ok(None);
            };
            agent.labels.extend(set.clone());
            agent.labels.retain(|k, _| !remove.contains(k));
            agent.labels_fixed = true;
            agent.claimed = drover_protocol::types::beyond_grant(&agent.claimed, &agent.labels);
            tx.execute(
                "UPDATE agents SET labels = ?2, labels_fixed = 1, claimed = ?3 WHERE id = ?1",
                params![id.0, json(&agent.labels)?, json(&agent.claimed)?],
            )?;
            Ok(Some(agent))
        })
    }

    /// Marks an agent removed; returns false when no such (unremoved) agent exists.
    pub fn remove_agent(&self, id: &AgentId, now_ms: u64) -> Result<bool, StoreError> {
        let started = Instant::now();
        let changed = self.durable()?.execute(
            "UPDATE agents SET removed_ms = ?2 WHERE id = ?1 AND removed_ms IS NULL",
            params![id.0, now_ms as i64],
        )?;
        record_write(started);
        Ok(changed == 1)
    }
}

const AGENT_SELECT: &str = "SELECT id, hostname, labels, version, address, cert_sha256, capacity, enrolled_ms, last_seen_ms, labels_fixed, claimed FROM agents";

type AgentRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    bool,
    String,
);

fn decode_agent(row: AgentRow) -> Result<AgentRecord, StoreError> {
    let (
        id,
        hostname,
        labels,
        version,
        address,
        cert_sha256,
        capacity,
        enrolled_ms,
        last_seen_ms,
        labels_fixed,
        claimed,
    ) = row;
    let corrupt =
        |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("agent {id} {what}: {e}"));
    Ok(AgentRecord {
        labels: serde_json::from_str(&labels).map_err(|e| corrupt("labels", e))?,
        capacity: capacity
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(|e| corrupt("capacity", e))?,
        id: AgentId(id.clone()),
        hostname,
        version,
        address,
        cert_sha256,
        enrolled_ms: enrolled_ms as u64,
        last_seen_ms: last_seen_ms.map(|v| v as u64),
        labels_fixed,
        claimed: json_or_default(&claimed),
    })
}

/// A JSON column of params, tags or metrics as stored; empty when it does not read.
fn json_or_default<T: serde::de::DeserializeOwned + Default>(stored: &str) -> T {
    serde_json::from_str(stored).unwrap_or_default()
}

/// A JSON map of tags as stored, with `key` set to `value` (`Some`) or removed (`None`),
/// written back as JSON.
fn edit_tags(stored: &str, key: &str, value: Option<&str>) -> Result<String, StoreError> {
    let mut tags: std::collections::BTreeMap<String, String> = json_or_default(stored);
    match value {
        Some(value) => tags.insert(key.into(), value.into()),
        None => tags.remove(key),
    };
    json(&tags)
}

/// `value` as JSON, refused unless it reads back: the store never writes a record it cannot
/// read (a float serde_json writes as `null` made a record unreadable for good).
fn json<T: serde::Serialize + serde::de::DeserializeOwned>(
    value: &T,
) -> Result<String, StoreError> {
    let text = serde_json::to_string(value).map_err(|e| StoreError::Unwritable(e.to_string()))?;
    match serde_json::from_str::<T>(&text) {
        Ok(_) => Ok(text),
        Err(e) => Err(StoreError::Unwritable(format!(
            "{} would not read back ({e})",
            std::any::type_name::<T>()
        ))),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Creates the database file with mode 0600 before SQLite opens it (SQLite gives its WAL and
/// shared-memory files the same mode); an existing file is left as it is.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod roundtrip_tests;

#[cfg(test)]
mod tests {
    use drover_protocol::msg::Event;

    use super::*;

    fn agent(id: &str) -> AgentRecord {
        AgentRecord {
            id: AgentId(id.into()),
            hostname: "h".into(),
            labels: Labels::from([("role".into(), "train".into())]),
            version: "0.1.0".into(),
            address: String::new(),
            cert_sha256: "ab".into(),
            capacity: None,
            enrolled_ms: 1,
            last_seen_ms: None,
            labels_fixed: false,
            claimed: Labels::new(),
        }
    }

    fn token(id: &str, expires_ms: u64, uses: u32) -> NewToken<'_> {
        NewToken {
            id,
            secret_sha256: "s",
            created_ms: 0,
            expires_ms,
            uses,
            labels: None,
        }
    }

    #[test]
    fn tokens_are_single_use_and_expire() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("d.db")).expect("open");
        store.insert_token(&token("t1", 100, 1)).expect("insert");
        assert_eq!(
            store
                .enroll("t1", "s", 10, &agent("a1"))
                .expect("sql")
                .map(|a| (a.labels, a.labels_fixed)),
            Ok((agent("a1").labels, false)),
            "without labels on the token, the first hello fixes them"
        );
        assert_eq!(
            store.enroll("t1", "s", 10, &agent("a2")).expect("sql"),
            Err(RedeemError::Used)
        );
        store.insert_token(&token("t2", 100, 5)).expect("insert");
        assert_eq!(
            store.enroll("t2", "s", 100, &agent("a3")).expect("sql"),
            Err(RedeemError::Expired)
        );
        assert_eq!(
            store.enroll("t2", "wrong", 10, &agent("a4")).expect("sql"),
            Err(RedeemError::Unknown)
        );
        assert_eq!(
            store.enroll("nope", "s", 10, &agent("a5")).expect("sql"),
            Err(RedeemError::Unknown)
        );
        let ids: Vec<_> = store
            .agents()
            .expect("list")
            .into_iter()
            .map(|a| a.id.0)
            .collect();
        assert_eq!(ids, vec!["a1"]);
    }

    #[test]
    fn a_token_grants_its_labels_and_only_an_operator_changes_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("d.db")).expect("open");
        let serve = Labels::from([("role".into(), "serve".into())]);
        let mut labelled = token("t", 100, 1);
        labelled.labels = Some(&serve);
        store.insert_token(&labelled).expect("insert");
        let joined = store
            .enroll("t", "s", 10, &agent("a1"))
            .expect("sql")
            .expect("redeemed");
        assert_eq!((&joined.labels, joined.labels_fixed), (&serve, true));
        let stored = store.agent(&joined.id).expect("read").expect("stored");
        assert_eq!((stored.labels, stored.labels_fixed), (serve, true));

        let gpu = Labels::from([("gpu".into(), "a100".into())]);
        let relabelled = store
            .grant_labels(&joined.id, &gpu, &["role".into()])
            .expect("grant")
            .expect("agent");
        assert_eq!(relabelled.labels, gpu);
        assert_eq!(
            store
                .agent(&joined.id)
                .expect("read")
                .expect("stored")
                .labels,
            gpu
        );
        assert!(
            store
                .grant_labels(&AgentId("nobody".into()), &gpu, &[])
                .expect("grant")
                .is_none()
        );
    }

    #[test]
    fn survives_reopen_and_remembers_removal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.db");
        {
            let store = Store::open(&path).expect("open");
            store
                .insert_token(&token("t", u64::MAX / 2, 2))
                .expect("insert");
            store
                .enroll("t", "s", 1, &agent("a1"))
                .expect("sql")
                .expect("redeemed");
            store
                .enroll("t", "s", 1, &agent("a2"))
                .expect("sql")
                .expect("redeemed");
            assert!(
                store
                    .remove_agent(&AgentId("a2".into()), 5)
                    .expect("remove")
            );
            store
                .record_last_seen(&[(AgentId("a1".into()), 42)])
                .expect("seen");
            store
                .append_events(vec![(
                    7,
                    Event::AgentRemoved {
                        id: AgentId("a2".into()),
                    },
                )])
                .expect("event");
        }
        let store = Store::open(&path).expect("reopen");
        let agents = store.agents().expect("list");
        assert_eq!(agents.len(), 1);
        assert_eq!(agents[0].last_seen_ms, Some(42));
        assert!(store.agent(&AgentId("a2".into())).expect("get").is_none());
        assert_eq!(store.recent_events(10).expect("events").len(), 1);
    }
}
