//! Repeating training specs in the store.

use std::time::Instant;

use drover_protocol::run::ScheduleInfo;
use drover_protocol::spec::TrainSpec;
use rusqlite::params;

use super::{Store, StoreError, json, record_write};

const SELECT: &str = "SELECT id, spec, cron, on_new_data, next_run_ms, last_run_ms, last_run_id, created_ms FROM schedules";

type Row = (
    String,
    String,
    Option<String>,
    bool,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
);

fn decode(row: Row) -> Result<(ScheduleInfo, TrainSpec), StoreError> {
    let (id, spec, cron, on_new_data, next, last, last_run_id, created) = row;
    let spec: TrainSpec = serde_json::from_str(&spec)
        .map_err(|e| StoreError::Corrupt(format!("schedule {id}: {e}")))?;
    let info = ScheduleInfo {
        experiment: spec.experiment.clone(),
        model: spec.model.clone(),
        dataset: spec.dataset.clone(),
        id,
        cron,
        on_new_data,
        next_run_ms: next.map(|v| v as u64),
        last_run_ms: last.map(|v| v as u64),
        last_run_id,
        created_ms: created as u64,
    };
    Ok((info, spec))
}

impl Store {
    /// Records a repeating spec (stored without its schedule fields: each firing runs once).
    pub fn insert_schedule(
        &self,
        id: &str,
        spec: &TrainSpec,
        dataset_name: &str,
        next_run_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        self.lock()?.execute(
            "INSERT INTO schedules (id, spec, cron, on_new_data, dataset_name, next_run_ms, created_ms, since_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, (SELECT COALESCE(MAX(seq), 0) FROM events))",
            params![id, json(&spec.once())?, spec.schedule, spec.retrain_on_new_data, dataset_name, next_run_ms.map(|v| v as i64), now_ms as i64],
        )?;
        record_write(started);
        Ok(())
    }

    /// Every schedule with the spec it runs.
    pub fn schedules(&self) -> Result<Vec<(ScheduleInfo, TrainSpec)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("{SELECT} ORDER BY created_ms, id"))?;
        let rows = stmt
            .query_map([], |r| Row::try_from(r))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(decode).collect()
    }

    /// Schedules on cron patterns whose next run is due at `now_ms`.
    pub fn due_schedules(&self, now_ms: u64) -> Result<Vec<(ScheduleInfo, TrainSpec)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{SELECT} WHERE next_run_ms IS NOT NULL AND next_run_ms <= ?1"
        ))?;
        let rows = stmt
            .query_map([now_ms as i64], |r| Row::try_from(r))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(decode).collect()
    }

    /// Schedules that retrain when `dataset` gets a new version, and that existed before
    /// event `seq` (which reports the new version).
    pub fn data_triggers(
        &self,
        dataset: &str,
        seq: u64,
    ) -> Result<Vec<(ScheduleInfo, TrainSpec)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{SELECT} WHERE on_new_data = 1 AND dataset_name = ?1 AND since_seq < ?2"
        ))?;
        let rows = stmt
            .query_map(params![dataset, seq as i64], |r| Row::try_from(r))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(decode).collect()
    }

    /// Records a firing and the next due time.
    pub fn schedule_fired(
        &self,
        id: &str,
        run_id: &str,
        now_ms: u64,
        next_run_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        self.lock()?.execute(
            "UPDATE schedules SET last_run_ms = ?2, last_run_id = ?3, next_run_ms = COALESCE(?4, next_run_ms) WHERE id = ?1",
            params![id, now_ms as i64, run_id, next_run_ms.map(|v| v as i64)],
        )?;
        record_write(started);
        Ok(())
    }

    /// Deletes a schedule; false when there was none.
    pub fn remove_schedule(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .lock()?
            .execute("DELETE FROM schedules WHERE id = ?1", [id])?
            == 1)
    }
}
