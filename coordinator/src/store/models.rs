//! The model registry in the store: versions, stages and aliases. Numbering, semantic
//! versions and stage changes each happen inside one write transaction.

use std::time::Instant;

use drover_protocol::msg::{Event, EventRecord};
use drover_protocol::registry::{ModelSummary, ModelVersion, Selector, Stage};
use drover_protocol::run::Metrics;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::{Store, StoreError, json, record_write};

/// A version about to be registered; its number and semantic version are assigned here.
pub struct NewModelVersion<'a> {
    pub model: &'a str,
    pub run_id: &'a str,
    pub dataset_name: &'a str,
    pub dataset_version: u32,
    pub dataset_hash: &'a str,
    /// Names and kinds of the feature columns, to tell a schema change (major) from new data
    /// (minor) from anything else (patch).
    pub feature_schema: &'a str,
    pub artifact_hash: &'a str,
    pub algorithm: &'a str,
    pub metrics: &'a Metrics,
    pub created_ms: u64,
}

const SELECT: &str = "SELECT model, version, semver, stage, run_id, dataset, dataset_hash, artifact_hash, algorithm, metrics, created_ms,
    (SELECT group_concat(alias, ',') FROM (SELECT alias FROM model_aliases a WHERE a.model = v.model AND a.version = v.version ORDER BY alias)),
    rollout
    FROM model_versions v";

fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ModelVersion> {
    let stage: String = r.get(3)?;
    let metrics: String = r.get(9)?;
    let aliases: Option<String> = r.get(11)?;
    Ok(ModelVersion {
        model: r.get(0)?,
        version: r.get(1)?,
        semver: r.get(2)?,
        stage: Stage::parse(&stage).unwrap_or(Stage::None),
        run_id: r.get(4)?,
        dataset: r.get(5)?,
        dataset_hash: r.get(6)?,
        artifact_hash: r.get(7)?,
        algorithm: r.get(8)?,
        metrics: serde_json::from_str(&metrics).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(9, rusqlite::types::Type::Text, Box::new(e))
        })?,
        created_ms: r.get::<_, i64>(10)? as u64,
        aliases: aliases
            .map(|a| a.split(',').map(String::from).collect())
            .unwrap_or_default(),
        rollout: r.get(12)?,
    })
}

/// `name@version` of the dataset a version learnt from; `-` for one registered through MLflow.
fn dataset_label(new: &NewModelVersion<'_>) -> String {
    if new.dataset_name.is_empty() {
        "-".into()
    } else {
        format!("{}@{}", new.dataset_name, new.dataset_version)
    }
}

fn bump(previous: Option<(String, String, String)>, new: &NewModelVersion<'_>) -> String {
    let Some((semver, dataset, schema)) = previous else {
        return "1.0.0".into();
    };
    let mut parts = semver.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(1),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    let label = dataset_label(new);
    let same_family = if new.dataset_name.is_empty() {
        dataset == label
    } else {
        dataset.starts_with(&format!("{}@", new.dataset_name))
    };
    if schema != new.feature_schema || !same_family {
        format!("{}.0.0", major + 1)
    } else if dataset != label {
        format!("{major}.{}.0", minor + 1)
    } else {
        format!("{major}.{minor}.{}", patch + 1)
    }
}

fn resolve(
    tx: &Transaction<'_>,
    model: &str,
    selector: &Selector,
) -> Result<Option<u32>, StoreError> {
    let found = match selector {
        Selector::Latest => tx.query_row(
            "SELECT MAX(version) FROM model_versions WHERE model = ?1",
            [model],
            |r| r.get(0),
        )?,
        Selector::Number(n) => tx
            .query_row(
                "SELECT version FROM model_versions WHERE model = ?1 AND version = ?2",
                params![model, n],
                |r| r.get(0),
            )
            .optional()?,
        Selector::Alias(a) => tx
            .query_row(
                "SELECT version FROM model_aliases WHERE model = ?1 AND alias = ?2",
                params![model, a],
                |r| r.get(0),
            )
            .optional()?,
    };
    Ok(found)
}

impl Store {
    /// Registers the next version of a model.
    pub fn register_model(&self, new: &NewModelVersion<'_>) -> Result<(u32, String), StoreError> {
        let started = Instant::now();
        let mut conn = self.durable()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let previous: Option<(u32, String, String)> = tx
            .query_row(
                "SELECT version, semver, dataset FROM model_versions WHERE model = ?1 ORDER BY version DESC LIMIT 1",
                [new.model],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let previous_schema: Option<String> = match &previous {
            Some((version, ..)) => tx
                .query_row(
                    "SELECT feature_schema FROM model_schemas WHERE model = ?1 AND version = ?2",
                    params![new.model, version],
                    |r| r.get(0),
                )
                .optional()?,
            None => None,
        };
        let deleted: u32 = tx
            .query_row(
                "SELECT last_deleted FROM registered_models WHERE name = ?1",
                [new.model],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let version = previous.as_ref().map_or(0, |p| p.0).max(deleted) + 1;
        let semver = bump(
            previous.map(|(_, s, d)| (s, d, previous_schema.unwrap_or_default())),
            new,
        );
        tx.execute(
            "INSERT INTO model_versions (model, version, semver, stage, run_id, dataset, dataset_hash, artifact_hash, algorithm, metrics, created_ms)
             VALUES (?1, ?2, ?3, 'none', ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                new.model,
                version,
                semver,
                new.run_id,
                dataset_label(new),
                new.dataset_hash,
                new.artifact_hash,
                new.algorithm,
                json(new.metrics)?,
                new.created_ms as i64
            ],
        )?;
        tx.execute(
            "INSERT INTO model_schemas (model, version, feature_schema) VALUES (?1, ?2, ?3)",
            params![new.model, version, new.feature_schema],
        )?;
        tx.commit()?;
        record_write(started);
        Ok((version, semver))
    }

    /// One version by selector.
    pub fn model_version(
        &self,
        model: &str,
        selector: &Selector,
    ) -> Result<Option<ModelVersion>, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let Some(version) = resolve(&tx, model, selector)? else {
            return Ok(None);
        };
        Ok(tx
            .query_row(
                &format!("{SELECT} WHERE model = ?1 AND version = ?2"),
                params![model, version],
                version_row,
            )
            .optional()?)
    }

    /// The inputs `model@version` was trained on (`name:kind`, sorted, comma-separated), when
    /// drover trained it.
    pub fn feature_schema(&self, model: &str, version: u32) -> Result<Option<String>, StoreError> {
        Ok(self
            .read()?
            .query_row(
                "SELECT feature_schema FROM model_schemas WHERE model = ?1 AND version = ?2",
                params![model, version],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every version of `model`, newest first.
    pub fn model_versions(&self, model: &str) -> Result<Vec<ModelVersion>, StoreError> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare_cached(&format!("{SELECT} WHERE model = ?1 ORDER BY version DESC"))?;
        let rows = stmt
            .query_map([model], version_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The version of `model` in production, if any.
    pub fn production_version(&self, model: &str) -> Result<Option<ModelVersion>, StoreError> {
        let conn = self.read()?;
        Ok(conn
            .query_row(
                &format!("{SELECT} WHERE model = ?1 AND stage = 'production'"),
                [model],
                version_row,
            )
            .optional()?)
    }

    /// Every model with where its versions stand.
    pub fn models(&self) -> Result<Vec<ModelSummary>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT model, MAX(version), COUNT(*), MIN(created_ms),
                (SELECT semver FROM model_versions l WHERE l.model = v.model ORDER BY version DESC LIMIT 1),
                (SELECT version FROM model_versions p WHERE p.model = v.model AND stage = 'production'),
                (SELECT MAX(version) FROM model_versions s WHERE s.model = v.model AND stage = 'staging')
             FROM model_versions v GROUP BY model ORDER BY model",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ModelSummary {
                    name: r.get(0)?,
                    latest: r.get(1)?,
                    versions: r.get(2)?,
                    created_ms: r.get::<_, i64>(3)? as u64,
                    latest_semver: r.get(4)?,
                    production: r.get(5)?,
                    staging: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Moves a version to `stage`, with the event that reports it, committed together at
    /// `now_ms`. Promoting to production archives the version that was in production (the
    /// event names it). The answer is the version moved and the event.
    pub fn promote_model(
        &self,
        model: &str,
        selector: &Selector,
        stage: Stage,
        now_ms: u64,
    ) -> Result<Option<(u32, EventRecord)>, StoreError> {
        let started = Instant::now();
        let mut conn = self.durable()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(version) = resolve(&tx, model, selector)? else {
            return Ok(None);
        };
        let mut archived = None;
        if stage == Stage::Production {
            archived = tx
                .query_row(
                    "SELECT version FROM model_versions WHERE model = ?1 AND stage = 'production' AND version != ?2",
                    params![model, version],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute("UPDATE model_versions SET stage = 'archived' WHERE model = ?1 AND stage = 'production' AND version != ?2", params![model, version])?;
        }
        tx.execute(
            "UPDATE model_versions SET stage = ?3 WHERE model = ?1 AND version = ?2",
            params![model, version, stage.to_string()],
        )?;
        let promoted = Event::ModelPromoted {
            model: model.to_string(),
            version,
            stage,
            archived,
        };
        let record = super::events::insert_event(&tx, now_ms, promoted)?;
        tx.commit()?;
        record_write(started);
        Ok(Some((version, record)))
    }

    /// Points `alias` at a version; returns the version, or `None` when it does not exist.
    pub fn set_alias(
        &self,
        model: &str,
        selector: &Selector,
        alias: &str,
    ) -> Result<Option<u32>, StoreError> {
        let started = Instant::now();
        let mut conn = self.durable()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(version) = resolve(&tx, model, selector)? else {
            return Ok(None);
        };
        tx.execute(
            "INSERT OR REPLACE INTO model_aliases (model, alias, version) VALUES (?1, ?2, ?3)",
            params![model, alias, version],
        )?;
        tx.commit()?;
        record_write(started);
        Ok(Some(version))
    }

    /// Takes `alias` of `model` off its version; returns that version, or `None` when no
    /// such alias exists.
    pub fn remove_alias(&self, model: &str, alias: &str) -> Result<Option<u32>, StoreError> {
        let started = Instant::now();
        let mut conn = self.durable()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = tx
            .query_row(
                "DELETE FROM model_aliases WHERE model = ?1 AND alias = ?2 RETURNING version",
                params![model, alias],
                |r| r.get(0),
            )
            .optional()?;
        tx.commit()?;
        record_write(started);
        Ok(version)
    }
}
