//! Edits MLflow clients make to the registry: descriptions and tags of models and versions,
//! renaming, and deleting versions or whole models. A model that is deployed or in a rollout
//! is neither renamed nor deleted (nor is a deployed version): serving never loses its model
//! under it.

use std::collections::BTreeMap;

use drover_protocol::serve::Variant;
use rusqlite::{OptionalExtension, Transaction, params};

use super::{Store, StoreError, edit_tags, json, json_or_default};

/// A version's description and tags, and when it last changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionNotes {
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub updated_ms: Option<u64>,
}

/// Why an edit was refused.
pub type Refusal = String;

/// Whether `model` (at `version`, or any version) is in use: deployed, or in a running rollout.
fn in_use(
    tx: &Transaction<'_>,
    model: &str,
    version: Option<u32>,
) -> Result<Option<Refusal>, StoreError> {
    let variants: Option<String> = tx
        .query_row(
            "SELECT variants FROM deployments WHERE model = ?1",
            [model],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(variants) = variants {
        let variants: Vec<Variant> = json_or_default(&variants);
        let served: Vec<u32> = variants.iter().map(|v| v.version).collect();
        if version.is_none_or(|v| served.contains(&v)) {
            return Ok(Some(format!(
                "{model} is deployed (versions {served:?}); undeploy it first (drover undeploy {model})"
            )));
        }
    }
    let rolling: Option<i64> = tx
        .query_row(
            "SELECT id FROM rollouts WHERE model = ?1 AND active = 1",
            [model],
            |r| r.get(0),
        )
        .optional()?;
    if rolling.is_some() {
        return Ok(Some(format!(
            "{model} has a rollout running; finish or abort it first"
        )));
    }
    Ok(None)
}

fn exists(tx: &Transaction<'_>, model: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM registered_models WHERE name = ?1 UNION SELECT 1 FROM model_versions WHERE model = ?1",
            [model],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Gives a model registered by drover alone (versions, no record) its own record.
fn ensure_record(tx: &Transaction<'_>, model: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO registered_models (name, created_ms)
         SELECT model, MIN(created_ms) FROM model_versions WHERE model = ?1 GROUP BY model",
        [model],
    )?;
    Ok(())
}

impl Store {
    /// Sets a model's description; false when no model has that name.
    pub fn set_model_description(
        &self,
        model: &str,
        description: &str,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.durable_tx(|tx| {
            if !exists(tx, model)? {
                return Ok(false);
            }
            ensure_record(tx, model)?;
            tx.execute(
                "UPDATE registered_models SET description = ?2, updated_ms = ?3 WHERE name = ?1",
                params![model, description, now_ms as i64],
            )?;
            Ok(true)
        })
    }

    /// Sets (`Some`) or removes (`None`) a model's tag; false when no model has that name.
    pub fn set_model_tag(
        &self,
        model: &str,
        key: &str,
        value: Option<&str>,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.durable_tx(|tx| {
            if !exists(tx, model)? {
                return Ok(false);
            }
            ensure_record(tx, model)?;
            let tags: String = tx.query_row(
                "SELECT tags FROM registered_models WHERE name = ?1",
                [model],
                |r| r.get(0),
            )?;
            tx.execute(
                "UPDATE registered_models SET tags = ?2, updated_ms = ?3 WHERE name = ?1",
                params![model, edit_tags(&tags, key, value)?, now_ms as i64],
            )?;
            Ok(true)
        })
    }

    /// The description, tags and last change of every version of `model`.
    pub fn version_notes(&self, model: &str) -> Result<BTreeMap<u32, VersionNotes>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT version, description, tags, updated_ms FROM model_versions WHERE model = ?1",
        )?;
        let rows = stmt
            .query_map([model], |r| {
                Ok((
                    r.get(0)?,
                    VersionNotes {
                        description: r.get(1)?,
                        tags: json_or_default(&r.get::<_, String>(2)?),
                        updated_ms: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
                    },
                ))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Changes one version's description or tags; false when the version does not exist.
    pub fn edit_version_notes(
        &self,
        model: &str,
        version: u32,
        now_ms: u64,
        change: impl FnOnce(&mut VersionNotes),
    ) -> Result<bool, StoreError> {
        self.durable_tx(|tx| {
            let Some((description, tags)): Option<(String, String)> = tx
                .query_row(
                    "SELECT description, tags FROM model_versions WHERE model = ?1 AND version = ?2",
                    params![model, version],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
            else {
                return Ok(false);
            };
            let mut notes = VersionNotes {
                description,
                tags: json_or_default(&tags),
                updated_ms: Some(now_ms),
            };
            change(&mut notes);
            tx.execute(
                "UPDATE model_versions SET description = ?3, tags = ?4, updated_ms = ?5 WHERE model = ?1 AND version = ?2",
                params![model, version, notes.description, json(&notes.tags)?, now_ms as i64],
            )?;
            Ok(true)
        })
    }

    /// Renames a model with its versions, aliases and schemas. `Ok(Ok(false))` when no model
    /// has the old name; `Ok(Err(..))` when the new name is taken or the model is in use.
    pub fn rename_model(
        &self,
        old: &str,
        new: &str,
        now_ms: u64,
    ) -> Result<Result<bool, Refusal>, StoreError> {
        self.durable_tx(|tx| {
            if !exists(tx, old)? {
                return Ok(Ok(false));
            }
            if exists(tx, new)? {
                return Ok(Err(format!("a model called {new} already exists")));
            }
            if let Some(refusal) = in_use(tx, old, None)? {
                return Ok(Err(refusal));
            }
            ensure_record(tx, old)?;
            tx.execute(
                "UPDATE registered_models SET name = ?2, updated_ms = ?3 WHERE name = ?1",
                params![old, new, now_ms as i64],
            )?;
            for table in ["model_versions", "model_aliases", "model_schemas"] {
                tx.execute(
                    &format!("UPDATE {table} SET model = ?2 WHERE model = ?1"),
                    params![old, new],
                )?;
            }
            Ok(Ok(true))
        })
    }

    /// Deletes one version with its aliases. `Ok(Ok(false))` when it does not exist.
    pub fn delete_model_version(
        &self,
        model: &str,
        version: u32,
    ) -> Result<Result<bool, Refusal>, StoreError> {
        self.durable_tx(|tx| {
            if let Some(refusal) = in_use(tx, model, Some(version))? {
                return Ok(Err(refusal));
            }
            ensure_record(tx, model)?;
            let changed = tx.execute(
                "DELETE FROM model_versions WHERE model = ?1 AND version = ?2",
                params![model, version],
            )?;
            if changed == 0 {
                return Ok(Ok(false));
            }
            // Numbers are never given twice: the next version counts past a deleted one.
            tx.execute(
                "UPDATE registered_models SET last_deleted = MAX(last_deleted, ?2) WHERE name = ?1",
                params![model, version],
            )?;
            for table in ["model_aliases", "model_schemas"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE model = ?1 AND version = ?2"),
                    params![model, version],
                )?;
            }
            Ok(Ok(true))
        })
    }

    /// Deletes a model and every version of it. `Ok(Ok(false))` when it does not exist.
    pub fn delete_model(&self, model: &str) -> Result<Result<bool, Refusal>, StoreError> {
        self.durable_tx(|tx| {
            if !exists(tx, model)? {
                return Ok(Ok(false));
            }
            if let Some(refusal) = in_use(tx, model, None)? {
                return Ok(Err(refusal));
            }
            for (table, column) in [
                ("registered_models", "name"),
                ("model_versions", "model"),
                ("model_aliases", "model"),
                ("model_schemas", "model"),
            ] {
                tx.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), [model])?;
            }
            Ok(Ok(true))
        })
    }
}

#[cfg(test)]
mod tests {
    use drover_protocol::hash::ContentHash;
    use drover_protocol::serve::Deployment;

    use super::*;
    use crate::store::NewModelVersion;

    fn register(store: &Store, model: &str) -> u32 {
        let metrics = Default::default();
        store
            .register_model(&NewModelVersion {
                model,
                run_id: "r",
                dataset_name: "",
                dataset_version: 0,
                dataset_hash: "",
                feature_schema: "",
                artifact_hash: "",
                algorithm: "mlflow",
                metrics: &metrics,
                created_ms: 1,
            })
            .expect("registers")
            .0
    }

    #[test]
    fn a_deployed_model_is_neither_renamed_nor_deleted_and_numbers_are_never_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("drover.db")).expect("opens");
        for _ in 0..3 {
            register(&store, "churn");
        }
        store
            .put_deployment(&Deployment {
                model: "churn".into(),
                variants: vec![Variant {
                    version: 2,
                    artifact_hash: ContentHash::parse(&"a".repeat(64)).expect("hash"),
                    weight: 100,
                    shadow: false,
                }],
                selector: Default::default(),
                updated_ms: 1,
            })
            .expect("deploys");
        let refused = |answer: Result<Result<bool, Refusal>, StoreError>| {
            answer.expect("runs").expect_err("refused")
        };
        assert!(refused(store.rename_model("churn", "other", 5)).contains("drover undeploy churn"));
        assert!(refused(store.delete_model("churn")).contains("deployed"));
        assert!(refused(store.delete_model_version("churn", 2)).contains("deployed"));
        assert_eq!(
            store.delete_model_version("churn", 3).expect("runs"),
            Ok(true)
        );
        assert_eq!(
            store.delete_model_version("churn", 99).expect("runs"),
            Ok(false)
        );
        assert_eq!(
            register(&store, "churn"),
            4,
            "3 is not given twice, and 99 was never there"
        );
        assert_eq!(
            store.delete_model_version("ghost", 1).expect("runs"),
            Ok(false)
        );
        assert!(
            store.registered_model("ghost").expect("reads").is_none(),
            "deleting from a model that does not exist makes none up"
        );

        store.remove_deployment("churn").expect("undeploys");
        store
            .set_alias(
                "churn",
                &drover_protocol::registry::Selector::Number(2),
                "champion",
            )
            .expect("alias");
        assert_eq!(
            store.rename_model("churn", "renamed", 6).expect("runs"),
            Ok(true)
        );
        assert!(store.model_versions("churn").expect("reads").is_empty());
        assert_eq!(store.model_versions("renamed").expect("reads").len(), 3);
        assert_eq!(
            store.model_aliases("renamed").expect("reads"),
            [("champion".to_string(), 2)]
        );
        assert_eq!(store.delete_model("renamed").expect("runs"), Ok(true));
        assert!(store.registered_model("renamed").expect("reads").is_none());
    }
}
