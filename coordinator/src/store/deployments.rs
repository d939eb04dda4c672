//! Deployments in the store: the desired state of serving, one row per model.

use std::time::Instant;

use drover_protocol::serve::{Deployment, Variant};
use drover_protocol::types::Labels;
use rusqlite::params;

use super::{Store, StoreError, json, record_write};

fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            Box::new(StoreError::Corrupt(format!("deployment {what}: {e}"))),
        )
    })
}

impl Store {
    /// Records `deployment`, replacing the model's previous one.
    pub fn put_deployment(&self, deployment: &Deployment) -> Result<(), StoreError> {
        let started = Instant::now();
        let conn = self.lock()?;
        conn.execute(
            "INSERT OR REPLACE INTO deployments (model, variants, selector, updated_ms) VALUES (?1, ?2, ?3, ?4)",
            params![
                deployment.model,
                json(&deployment.variants)?,
                json(&deployment.selector)?,
                deployment.updated_ms as i64
            ],
        )?;
        record_write(started);
        Ok(())
    }

    /// Forgets the deployment of `model`; false when it had none.
    pub fn remove_deployment(&self, model: &str) -> Result<bool, StoreError> {
        let started = Instant::now();
        let conn = self.lock()?;
        let removed = conn.execute("DELETE FROM deployments WHERE model = ?1", [model])?;
        record_write(started);
        Ok(removed == 1)
    }

    /// Every deployment, by model.
    pub fn deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT model, variants, selector, updated_ms FROM deployments ORDER BY model",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Deployment {
                    model: r.get(0)?,
                    variants: parse::<Vec<Variant>>("variants", &r.get::<_, String>(1)?)?,
                    selector: parse::<Labels>("selector", &r.get::<_, String>(2)?)?,
                    updated_ms: r.get::<_, i64>(3)? as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
