//! Rollouts in the store: each rollout's state as one row (at most one active per model),
//! and every decision it made, written in the same durable transaction as the state it led
//! to, the events that report the decisions and the note on the candidate when it ends; a
//! crash right after a decision loses none of them.

use std::time::Instant;

use drover_protocol::msg::{Event, EventRecord};
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
    /// its first decision with its event; `Ok(Err(id))` when the model already has active
    /// rollout `id`.
    pub fn insert_rollout(
        &self,
        model: &str,
        make: impl FnOnce(u64) -> (Rollout, Decision),
    ) -> Result<Result<(Rollout, EventRecord), u64>, StoreError> {
        let started = Instant::now();
        let mut conn = self.durable()?;
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
        let mut records = write(&tx, &rollout, vec![decision])?;
        tx.commit()?;
        record_write(started);
        let record = records.pop().ok_or_else(|| {
            StoreError::Corrupt("a new rollout's decision was not recorded".into())
        })?;
        Ok(Ok((rollout, record)))
    }

    /// Stores `rollout`'s new state, the decisions that led to it with their events, and
    /// `note` on its candidate (how it ended), at once; the answer is the events.
    pub fn save_rollout(
        &self,
        rollout: &Rollout,
        decisions: Vec<Decision>,
        note: Option<&str>,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let started = Instant::now();
        let mut conn = self.durable()?;
        let tx = conn.transaction()?;
        let records = write(&tx, rollout, decisions)?;
        if let Some(note) = note {
            tx.execute(
                "UPDATE model_versions SET rollout = ?3 WHERE model = ?1 AND version = ?2",
                params![rollout.model, rollout.candidate, note],
            )?;
        }
        tx.commit()?;
        record_write(started);
        Ok(records)
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

/// Writes `rollout`'s state, and each of `decisions` with the event that reports it.
fn write(
    tx: &rusqlite::Transaction<'_>,
    rollout: &Rollout,
    decisions: Vec<Decision>,
) -> Result<Vec<EventRecord>, StoreError> {
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
    let mut records = Vec::with_capacity(decisions.len());
    for decision in decisions {
        let at_ms = decision.at_ms;
        insert.execute(params![rollout.id as i64, at_ms as i64, json(&decision)?])?;
        let decided = Event::RolloutDecided {
            model: rollout.model.clone(),
            rollout: rollout.id,
            candidate: rollout.candidate,
            decision: Box::new(decision),
        };
        records.push(super::events::insert_event(tx, at_ms, decided)?);
    }
    Ok(records)
}
