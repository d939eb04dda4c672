//! Rollouts in the store: each rollout's state as one row (at most one active per model),
//! and every decision it made, written in the same transaction as the state it led to.

use std::time::Instant;

use drover_protocol::rollout::{Decision, Rollout};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, json, record_write};

fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            Box::new(StoreError::Corrupt(format!("rollout {what}: {e}"))),
        )
    })
}

impl Store {
    /// Creates a rollout with the id the store gives it (`make` builds it from the id), and
    /// its first decision; `Ok(Err(id))` when the model already has active rollout `id`.
    pub fn insert_rollout(
        &self,
        model: &str,
        make: impl FnOnce(u64) -> (Rollout, Decision),
    ) -> Result<Result<(Rollout, Decision), u64>, StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let active: Option<i64> = tx
            .query_row(
                "SELECT id FROM rollouts WHERE model = ?1 AND active = 1",
                [model],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = active {
            return Ok(Err(id as u64));
        }
        tx.execute(
            "INSERT INTO rollouts (model, state, active, updated_ms) VALUES (?1, '', 1, 0)",
            [model],
        )?;
        let (rollout, decision) = make(tx.last_insert_rowid() as u64);
        write(&tx, &rollout, std::slice::from_ref(&decision))?;
        tx.commit()?;
        record_write(started);
        Ok(Ok((rollout, decision)))
    }

    /// Stores `rollout`'s new state and the decisions that led to it, at once.
    pub fn save_rollout(
        &self,
        rollout: &Rollout,
        decisions: &[Decision],
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        write(&tx, rollout, decisions)?;
        tx.commit()?;
        record_write(started);
        Ok(())
    }

    /// Notes on `model@version` how its last rollout ended.
    pub fn note_rollout(&self, model: &str, version: u32, note: &str) -> Result<(), StoreError> {
        let started = Instant::now();
        self.lock()?.execute(
            "UPDATE model_versions SET rollout = ?3 WHERE model = ?1 AND version = ?2",
            params![model, version, note],
        )?;
        record_write(started);
        Ok(())
    }

    /// Every rollout not yet over.
    pub fn active_rollouts(&self) -> Result<Vec<Rollout>, StoreError> {
        self.rollouts_where("active = 1", params![], u32::MAX)
    }

    /// The newest rollouts first, at most `limit`.
    pub fn rollouts(&self, limit: u32) -> Result<Vec<Rollout>, StoreError> {
        self.rollouts_where("1 = 1", params![], limit)
    }

    /// The newest rollout of `model`.
    pub fn latest_rollout(&self, model: &str) -> Result<Option<Rollout>, StoreError> {
        Ok(self
            .rollouts_where("model = ?1", params![model], 1)?
            .into_iter()
            .next())
    }

    fn rollouts_where(
        &self,
        filter: &str,
        values: impl rusqlite::Params,
        limit: u32,
    ) -> Result<Vec<Rollout>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT state FROM rollouts WHERE {filter} ORDER BY id DESC LIMIT {limit}"
        ))?;
        let rows = stmt
            .query_map(values, |r| parse("state", &r.get::<_, String>(0)?))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The decisions of rollout `id`, oldest first.
    pub fn rollout_decisions(&self, id: u64) -> Result<Vec<Decision>, StoreError> {
        let rows = self.decoded(
            &*self.read()?,
            "rollout_decisions",
            "SELECT rowid, body FROM rollout_decisions WHERE rollout = ?1 ORDER BY rowid",
            [id as i64],
            |_| Ok(()),
        )?;
        Ok(rows.into_iter().map(|((), d)| d).collect())
    }
}

fn write(
    tx: &rusqlite::Transaction<'_>,
    rollout: &Rollout,
    decisions: &[Decision],
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE rollouts SET state = ?2, active = ?3, updated_ms = ?4 WHERE id = ?1",
        params![
            rollout.id as i64,
            json(rollout)?,
            !rollout.phase.is_final(),
            rollout.updated_ms as i64
        ],
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO rollout_decisions (rollout, at_ms, body) VALUES (?1, ?2, ?3)",
    )?;
    for decision in decisions {
        insert.execute(params![
            rollout.id as i64,
            decision.at_ms as i64,
            json(decision)?
        ])?;
    }
    Ok(())
}
