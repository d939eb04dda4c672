//! MLflow 3 logged models: a model a run logged, with its params, tags and metrics, whose
//! files are the artifacts under `<experiment>/models/<id>/artifacts`. Once finalized READY
//! it has one content hash (of its files' listing) and, when its run named a drover dataset,
//! that dataset as lineage.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{Store, StoreError, json, json_or_default};

/// The latest value of one of a logged model's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetric {
    #[serde(with = "drover_protocol::float")]
    pub value: f64,
    pub step: i64,
    pub at_ms: i64,
    pub run_id: String,
    pub dataset_name: String,
    pub dataset_digest: String,
}

/// A logged model as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedModel {
    /// `m-` and 32 hex digits.
    pub id: String,
    pub experiment_id: i64,
    pub name: String,
    pub source_run_id: String,
    pub model_type: String,
    /// MLflow's status name: `LOGGED_MODEL_PENDING`, `LOGGED_MODEL_READY`,
    /// `LOGGED_MODEL_UPLOAD_FAILED`.
    pub status: String,
    pub status_message: String,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, ModelMetric>,
    pub artifact_hash: String,
    /// The drover dataset (`name@version`) its run logged as input, and that dataset's hash.
    pub dataset: String,
    pub dataset_hash: String,
    pub deleted: bool,
    pub created_ms: u64,
    pub updated_ms: u64,
}

const SELECT: &str =
    "SELECT id, experiment_id, name, source_run_id, model_type, status, status_message,
    params, tags, metrics, artifact_hash, dataset, dataset_hash, deleted, created_ms, updated_ms
    FROM logged_models";

fn model_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LoggedModel> {
    Ok(LoggedModel {
        id: r.get(0)?,
        experiment_id: r.get(1)?,
        name: r.get(2)?,
        source_run_id: r.get(3)?,
        model_type: r.get(4)?,
        status: r.get(5)?,
        status_message: r.get(6)?,
        params: json_or_default(&r.get::<_, String>(7)?),
        tags: json_or_default(&r.get::<_, String>(8)?),
        metrics: json_or_default(&r.get::<_, String>(9)?),
        artifact_hash: r.get(10)?,
        dataset: r.get(11)?,
        dataset_hash: r.get(12)?,
        deleted: r.get(13)?,
        created_ms: r.get::<_, i64>(14)? as u64,
        updated_ms: r.get::<_, i64>(15)? as u64,
    })
}

fn load(tx: &Transaction<'_>, id: &str) -> Result<Option<LoggedModel>, StoreError> {
    Ok(tx
        .query_row(&format!("{SELECT} WHERE id = ?1"), [id], model_row)
        .optional()?)
}

fn save(tx: &Transaction<'_>, m: &LoggedModel) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR REPLACE INTO logged_models (id, experiment_id, name, source_run_id, model_type, status,
            status_message, params, tags, metrics, artifact_hash, dataset, dataset_hash, deleted, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            m.id,
            m.experiment_id,
            m.name,
            m.source_run_id,
            m.model_type,
            m.status,
            m.status_message,
            json(&m.params)?,
            json(&m.tags)?,
            json(&m.metrics)?,
            m.artifact_hash,
            m.dataset,
            m.dataset_hash,
            m.deleted,
            m.created_ms as i64,
            m.updated_ms as i64,
        ],
    )?;
    Ok(())
}

impl Store {
    /// Stores a new logged model.
    pub fn create_logged_model(&self, model: &LoggedModel) -> Result<(), StoreError> {
        self.write_tx(|tx| save(tx, model))
    }

    /// The logged model `id` (deleted ones too).
    pub fn logged_model(&self, id: &str) -> Result<Option<LoggedModel>, StoreError> {
        let conn = self.read()?;
        Ok(conn
            .query_row(&format!("{SELECT} WHERE id = ?1"), [id], model_row)
            .optional()?)
    }

    /// The logged models of the experiments `ids` that are not deleted, newest first.
    pub fn logged_models(&self, ids: &[i64]) -> Result<Vec<LoggedModel>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{SELECT} WHERE experiment_id = ?1 AND deleted = 0 ORDER BY created_ms DESC"
        ))?;
        let mut found = Vec::new();
        for id in ids {
            found.extend(
                stmt.query_map([id], model_row)?
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        Ok(found)
    }

    /// The logged models run `run` made, oldest first.
    pub fn run_logged_models(&self, run: &str) -> Result<Vec<LoggedModel>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{SELECT} WHERE id IN (SELECT model_id FROM run_outputs WHERE run_id = ?1)
               OR source_run_id = ?1 ORDER BY created_ms"
        ))?;
        let rows = stmt
            .query_map([run], model_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Changes logged model `id` in one transaction; `Ok(None)` when it does not exist (or is
    /// deleted). Answers the model as changed.
    pub fn edit_logged_model(
        &self,
        id: &str,
        now_ms: u64,
        change: impl FnOnce(&mut LoggedModel),
    ) -> Result<Option<LoggedModel>, StoreError> {
        self.write_tx(|tx| {
            let Some(mut model) = load(tx, id)?.filter(|m| !m.deleted) else {
                return Ok(None);
            };
            change(&mut model);
            model.updated_ms = now_ms;
            save(tx, &model)?;
            Ok(Some(model))
        })
    }

    /// Records the models a run logged (MLflow's `runs/outputs`).
    pub fn add_run_outputs(&self, run: &str, models: &[(String, i64)]) -> Result<(), StoreError> {
        self.write_tx(|tx| {
            for (model, step) in models {
                tx.execute(
                    "INSERT OR REPLACE INTO run_outputs (run_id, model_id, step) VALUES (?1, ?2, ?3)",
                    params![run, model, step],
                )?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, experiment_id: i64, at: u64) -> LoggedModel {
        LoggedModel {
            id: id.into(),
            experiment_id,
            name: "model".into(),
            source_run_id: "r1".into(),
            model_type: String::new(),
            status: "LOGGED_MODEL_PENDING".into(),
            status_message: String::new(),
            params: BTreeMap::from([("C".to_string(), "1.0".to_string())]),
            tags: BTreeMap::new(),
            metrics: BTreeMap::new(),
            artifact_hash: String::new(),
            dataset: String::new(),
            dataset_hash: String::new(),
            deleted: false,
            created_ms: at,
            updated_ms: at,
        }
    }

    #[test]
    fn logged_models_are_edited_whole_and_deleted_ones_are_not_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("drover.db")).expect("opens");
        store
            .create_logged_model(&model("m-1", 0, 5))
            .expect("creates");
        store
            .create_logged_model(&model("m-2", 0, 6))
            .expect("creates");
        let ready = store
            .edit_logged_model("m-1", 9, |m| {
                m.status = "LOGGED_MODEL_READY".into();
                m.tags.insert("k".into(), "v".into());
            })
            .expect("edits")
            .expect("exists");
        assert_eq!((ready.updated_ms, ready.params.len()), (9, 1));
        let listed: Vec<String> = store
            .logged_models(&[0])
            .expect("lists")
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(listed, ["m-2", "m-1"]);
        store
            .edit_logged_model("m-2", 10, |m| m.deleted = true)
            .expect("deletes");
        assert_eq!(store.logged_models(&[0]).expect("lists").len(), 1);
        assert!(
            store
                .edit_logged_model("m-2", 11, |_| {})
                .expect("runs")
                .is_none()
        );
        assert!(
            store
                .logged_model("m-2")
                .expect("reads")
                .expect("kept")
                .deleted
        );
        store
            .add_run_outputs("r2", &[("m-1".into(), 0)])
            .expect("outputs");
        assert_eq!(store.run_logged_models("r2").expect("reads").len(), 1);
        assert_eq!(store.run_logged_models("r1").expect("reads").len(), 2);
    }
}
