//! The event log in the store: appending (in batches, or inside the transaction of the change
//! an event reports) and reading back.

use std::time::Instant;

use drover_protocol::msg::{Event, EventRecord};
use rusqlite::{Connection, Params, params};

use super::{Store, StoreError, json, record_write};

impl Store {
    /// Appends events in one transaction and returns them with their sequence numbers.
    pub fn append_events(&self, events: Vec<(u64, Event)>) -> Result<Vec<EventRecord>, StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let records = events
            .into_iter()
            .map(|(at_ms, event)| insert_event(&tx, at_ms, event))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        record_write(started);
        Ok(records)
    }

    /// The newest `limit` events, oldest first.
    pub fn recent_events(&self, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let conn = self.read()?;
        let mut events = self.query(
            &conn,
            "SELECT seq, body, at_ms FROM events ORDER BY seq DESC LIMIT ?1",
            params![limit],
        )?;
        events.reverse();
        Ok(events)
    }

    /// The latest `limit` registry events of `model` (registered, promoted, aliases), oldest
    /// first.
    pub fn model_events(&self, model: &str, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let conn = self.read()?;
        let mut events = self.query(
            &conn,
            "SELECT seq, body, at_ms FROM events
             WHERE kind IN ('model.registered', 'model.promoted', 'model.alias', 'model.unalias')
               AND COALESCE(json_extract(body, '$.ModelRegistered.model'), json_extract(body, '$.ModelPromoted.model'),
                   json_extract(body, '$.AliasSet.model'), json_extract(body, '$.AliasRemoved.model')) = ?1
             ORDER BY seq DESC LIMIT ?2",
            params![model, limit],
        )?;
        events.reverse();
        Ok(events)
    }

    /// Up to `limit` events after `seq`, oldest first.
    pub fn events_after(&self, seq: u64, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let conn = self.read()?;
        self.query(
            &conn,
            "SELECT seq, body, at_ms FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            params![seq as i64, limit],
        )
    }
}

/// Appends `event` inside `tx`: a change and the event that reports it commit together, so
/// reactions to it ([`crate::reactions`]) survive a crash right after the change.
pub(super) fn insert_event(
    tx: &rusqlite::Transaction<'_>,
    at_ms: u64,
    event: Event,
) -> Result<EventRecord, StoreError> {
    tx.prepare_cached("INSERT INTO events (at_ms, kind, body) VALUES (?1, ?2, ?3)")?
        .execute(params![at_ms as i64, event.kind(), json(&event)?])?;
    Ok(EventRecord {
        seq: tx.last_insert_rowid() as u64,
        at_ms,
        event,
    })
}

impl Store {
    /// The events a query selects (`seq, body, at_ms` columns), decoded; an event that does
    /// not decode is left out and quarantined, so the log never stops at it.
    fn query(
        &self,
        conn: &Connection,
        sql: &str,
        args: impl Params,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let rows = self.decoded(conn, "events", sql, args, |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(2)?))
        })?;
        Ok(rows
            .into_iter()
            .map(|((seq, at_ms), event)| EventRecord {
                seq: seq as u64,
                at_ms: at_ms as u64,
                event,
            })
            .collect())
    }
}
