//! The datasets a run logged as inputs through the MLflow API (`log_input`), each matched to
//! the drover dataset version whose content hash its digest names, if there is one.

use std::collections::BTreeMap;
use std::time::Instant;

use drover_protocol::run::{RunInput, RunLineage, RunOutput};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, json, json_or_default, record_write};

/// A dataset input as the client logged it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredInput {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    pub schema: String,
    pub profile: String,
    pub tags: BTreeMap<String, String>,
    /// The drover dataset version (`name@version`) the digest names, and its hash.
    pub dataset: String,
    pub dataset_hash: String,
}

/// The shortest digest matched against the start of a drover dataset's hash.
const MIN_DIGEST: usize = 8;

impl Store {
    /// The drover dataset version (`name@version`, hash) whose BLAKE3 content hash is
    /// `digest` or starts with it (at least 8 hex digits), newest first.
    pub fn dataset_by_digest(&self, digest: &str) -> Result<Option<(String, String)>, StoreError> {
        let digest = digest.to_ascii_lowercase();
        if digest.len() < MIN_DIGEST || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let conn = self.read()?;
        Ok(conn
            .query_row(
                "SELECT name || '@' || version, hash FROM datasets
                 WHERE substr(hash, 1, length(?1)) = ?1 ORDER BY created_ms DESC LIMIT 1",
                [&digest],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Records a run's inputs; one logged again (same name and digest) is replaced.
    pub fn add_run_inputs(
        &self,
        run: &str,
        inputs: &[StoredInput],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        for i in inputs {
            tx.execute(
                "INSERT OR REPLACE INTO run_inputs (run_id, name, digest, source_type, source, schema, profile, tags, dataset, dataset_hash, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    run,
                    i.name,
                    i.digest,
                    i.source_type,
                    i.source,
                    i.schema,
                    i.profile,
                    json(&i.tags)?,
                    i.dataset,
                    i.dataset_hash,
                    now_ms as i64
                ],
            )?;
        }
        tx.commit()?;
        record_write(started);
        Ok(())
    }

    /// What run `run` read and made through the MLflow API: its dataset inputs, and its
    /// logged models (deleted ones left out) with the versions registered from each.
    pub fn run_lineage(&self, run: &str) -> Result<RunLineage, StoreError> {
        let inputs = self
            .run_inputs(run)?
            .into_iter()
            .map(|i| RunInput {
                context: i
                    .tags
                    .get("mlflow.data.context")
                    .cloned()
                    .unwrap_or_default(),
                name: i.name,
                digest: i.digest,
                source_type: i.source_type,
                source: i.source,
                dataset: Some(i.dataset).filter(|d| !d.is_empty()),
            })
            .collect();
        let mut outputs = Vec::new();
        for m in self.run_logged_models(run)? {
            if m.deleted {
                continue;
            }
            let conn = self.read()?;
            let mut stmt = conn.prepare_cached(
                "SELECT model || '@' || version FROM model_versions WHERE source = 'models:/' || ?1 ORDER BY model, version",
            )?;
            let registered = stmt
                .query_map([&m.id], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            outputs.push(RunOutput {
                status: m.status.trim_start_matches("LOGGED_MODEL_").to_string(),
                model_id: m.id,
                name: m.name,
                artifact_hash: m.artifact_hash,
                registered,
            });
        }
        Ok(RunLineage { inputs, outputs })
    }

    /// A run's inputs, in the order they were logged.
    pub fn run_inputs(&self, run: &str) -> Result<Vec<StoredInput>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT name, digest, source_type, source, schema, profile, tags, dataset, dataset_hash
             FROM run_inputs WHERE run_id = ?1 ORDER BY at_ms, name",
        )?;
        let rows = stmt
            .query_map([run], |r| {
                Ok(StoredInput {
                    name: r.get(0)?,
                    digest: r.get(1)?,
                    source_type: r.get(2)?,
                    source: r.get(3)?,
                    schema: r.get(4)?,
                    profile: r.get(5)?,
                    tags: json_or_default(&r.get::<_, String>(6)?),
                    dataset: r.get(7)?,
                    dataset_hash: r.get(8)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
