//! The registry as MLflow clients see it: registered models that may have no version yet, the
//! source URI each version was registered from, and alias removal.

use std::collections::BTreeMap;
use std::time::Instant;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, json, json_or_default, record_write};

/// When the model named by `n.name` (its record `r`, if any) or a version of it last changed:
/// made, registered, or edited. One expression for the listing and for one model.
const LAST_CHANGE: &str = "MAX(COALESCE(r.updated_ms, 0), COALESCE(r.created_ms, 0),
    COALESCE((SELECT MAX(MAX(created_ms, COALESCE(updated_ms, 0))) FROM model_versions v WHERE v.model = n.name), 0))";

/// A registered model's own record.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredModel {
    pub name: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub created_ms: u64,
}

impl Store {
    /// Registers a model name; false when a model of that name (or a version of it) exists.
    pub fn create_registered_model(
        &self,
        name: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        if self.registered_model(name)?.is_some() {
            return Ok(false);
        }
        let started = Instant::now();
        let changed = self.durable()?.execute(
            "INSERT OR IGNORE INTO registered_models (name, description, tags, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![name, description, json(tags)?, now_ms as i64],
        )?;
        record_write(started);
        Ok(changed == 1)
    }

    /// The model called `name`: its record, or one made up from its versions when drover
    /// registered them itself.
    pub fn registered_model(&self, name: &str) -> Result<Option<RegisteredModel>, StoreError> {
        let conn = self.read()?;
        let record = conn
            .query_row(
                "SELECT description, tags, created_ms FROM registered_models WHERE name = ?1",
                [name],
                |r| {
                    Ok(RegisteredModel {
                        name: name.into(),
                        description: r.get(0)?,
                        tags: json_or_default(&r.get::<_, String>(1)?),
                        created_ms: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()?;
        if record.is_some() {
            return Ok(record);
        }
        let first: Option<i64> = conn.query_row(
            "SELECT MIN(created_ms) FROM model_versions WHERE model = ?1",
            [name],
            |r| r.get(0),
        )?;
        Ok(first.map(|created| RegisteredModel {
            name: name.into(),
            description: String::new(),
            tags: BTreeMap::new(),
            created_ms: created as u64,
        }))
    }

    /// Records the URI a version was registered from.
    pub fn set_version_source(
        &self,
        model: &str,
        version: u32,
        source: &str,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        self.durable()?.execute(
            "UPDATE model_versions SET source = ?3 WHERE model = ?1 AND version = ?2",
            params![model, version, source],
        )?;
        record_write(started);
        Ok(())
    }

    /// The source URI of every version of `model`.
    pub fn version_sources(&self, model: &str) -> Result<BTreeMap<u32, String>, StoreError> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare_cached("SELECT version, source FROM model_versions WHERE model = ?1")?;
        let rows = stmt
            .query_map([model], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Every alias of `model` with its version.
    pub fn model_aliases(&self, model: &str) -> Result<Vec<(String, u32)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT alias, version FROM model_aliases WHERE model = ?1 ORDER BY alias",
        )?;
        let rows = stmt
            .query_map([model], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Removes an alias; false when it did not exist.
    pub fn delete_alias(&self, model: &str, alias: &str) -> Result<bool, StoreError> {
        let started = Instant::now();
        let changed = self.durable()?.execute(
            "DELETE FROM model_aliases WHERE model = ?1 AND alias = ?2",
            params![model, alias],
        )?;
        record_write(started);
        Ok(changed == 1)
    }

    /// Every model, registered by record or by version, by name, each with when it or a
    /// version of it last changed.
    pub fn registered_models(&self) -> Result<Vec<(RegisteredModel, u64)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT n.name, COALESCE(r.description, ''), COALESCE(r.tags, '{{}}'),
                COALESCE(r.created_ms, (SELECT MIN(created_ms) FROM model_versions v WHERE v.model = n.name), 0),
                {LAST_CHANGE}
             FROM (SELECT name FROM registered_models UNION SELECT model FROM model_versions) n
             LEFT JOIN registered_models r ON r.name = n.name ORDER BY n.name"
        ))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    RegisteredModel {
                        name: r.get(0)?,
                        description: r.get(1)?,
                        tags: json_or_default(&r.get::<_, String>(2)?),
                        created_ms: r.get::<_, i64>(3)? as u64,
                    },
                    r.get::<_, i64>(4)? as u64,
                ))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// When model `name` or a version of it last changed; `None` when it does not exist.
    pub fn model_last_change(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let conn = self.read()?;
        let at: i64 = conn.query_row(
            &format!(
                "SELECT {LAST_CHANGE} FROM (SELECT ?1 AS name) n
                 LEFT JOIN registered_models r ON r.name = n.name"
            ),
            [name],
            |r| r.get(0),
        )?;
        Ok((at > 0).then_some(at as u64))
    }

    /// Names of every model, registered by record or by version.
    pub fn model_names(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT name FROM registered_models UNION SELECT model FROM model_versions ORDER BY 1",
        )?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}
