//! Dataset versions in the store. Numbering and the comparison with the previous version
//! happen inside one write transaction, so concurrent uploads of the same name cannot both
//! become version N.

use std::time::Instant;

use drover_protocol::data::{DatasetAdded, DatasetSummary, DatasetVersion};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use drover_protocol::msg::{Event, EventRecord};

use super::events::insert_event;
use super::{Store, StoreError, json, record_write};

const SELECT: &str = "SELECT name, version, hash, size_bytes, rows, schema, profile, changes, source, created_ms FROM datasets";

type Row = (
    String,
    u32,
    String,
    i64,
    i64,
    String,
    String,
    String,
    String,
    i64,
);

fn decode(fields: Row) -> Result<DatasetVersion, StoreError> {
    let (name, version, hash, size_bytes, rows, schema, profile, changes, source, created_ms) =
        fields;
    let corrupt = |what: &str, e: serde_json::Error| {
        StoreError::Corrupt(format!("dataset {name}@{version} {what}: {e}"))
    };
    Ok(DatasetVersion {
        schema: serde_json::from_str(&schema).map_err(|e| corrupt("schema", e))?,
        profile: serde_json::from_str(&profile).map_err(|e| corrupt("profile", e))?,
        changes: serde_json::from_str(&changes).map_err(|e| corrupt("changes", e))?,
        version,
        size_bytes: size_bytes as u64,
        rows: rows as u64,
        created_ms: created_ms as u64,
        name,
        hash,
        source,
    })
}

impl Store {
    /// Records `draft` as the next version of its dataset, unless its content equals the
    /// latest version's. The draft's `version` and `changes` are filled in here.
    /// Adds the next version of a dataset, with its `DatasetAdded` event in the same
    /// transaction (returned with it); bytes equal to the latest version's add nothing.
    pub fn add_dataset(
        &self,
        mut draft: DatasetVersion,
    ) -> Result<(DatasetAdded, Option<EventRecord>), StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let latest = tx
            .query_row(
                &format!("{SELECT} WHERE name = ?1 ORDER BY version DESC LIMIT 1"),
                [&draft.name],
                |r| Row::try_from(r),
            )
            .optional()?
            .map(decode)
            .transpose()?;
        if let Some(latest) = latest.as_ref().filter(|l| l.hash == draft.hash) {
            let unchanged = DatasetAdded {
                version: latest.clone(),
                unchanged: true,
            };
            return Ok((unchanged, None));
        }
        draft.version = latest.as_ref().map_or(1, |l| l.version + 1);
        draft.changes = latest
            .as_ref()
            .map(|l| draft.schema.changes_since(&l.schema))
            .unwrap_or_default();
        tx.execute(
            "INSERT INTO datasets (name, version, hash, size_bytes, rows, schema, profile, changes, source, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                draft.name,
                draft.version,
                draft.hash,
                draft.size_bytes as i64,
                draft.rows as i64,
                json(&draft.schema)?,
                json(&draft.profile)?,
                json(&draft.changes)?,
                draft.source,
                draft.created_ms as i64
            ],
        )?;
        let event = Event::DatasetAdded {
            name: draft.name.clone(),
            version: draft.version,
            hash: draft.hash.clone(),
            rows: draft.rows,
        };
        let record = insert_event(&tx, draft.created_ms, event)?;
        tx.commit()?;
        record_write(started);
        let added = DatasetAdded {
            version: draft,
            unchanged: false,
        };
        Ok((added, Some(record)))
    }

    /// One version of a dataset; the latest when `version` is `None`.
    pub fn dataset(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<Option<DatasetVersion>, StoreError> {
        let conn = self.read()?;
        let found = match version {
            Some(v) => conn.query_row(
                &format!("{SELECT} WHERE name = ?1 AND version = ?2"),
                params![name, v],
                |r| Row::try_from(r),
            ),
            None => conn.query_row(
                &format!("{SELECT} WHERE name = ?1 ORDER BY version DESC LIMIT 1"),
                [name],
                |r| Row::try_from(r),
            ),
        };
        found.optional()?.map(decode).transpose()
    }

    /// Every dataset with its latest version, by name.
    pub fn datasets(&self) -> Result<Vec<DatasetSummary>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{SELECT} d WHERE version = (SELECT MAX(version) FROM datasets WHERE name = d.name) ORDER BY name"
        ))?;
        let latest = stmt
            .query_map([], |r| Row::try_from(r))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut counts = conn.prepare_cached("SELECT COUNT(*) FROM datasets WHERE name = ?1")?;
        latest
            .into_iter()
            .map(|fields| {
                let v = decode(fields)?;
                let versions: u32 = counts.query_row([&v.name], |r| r.get(0))?;
                Ok(DatasetSummary {
                    columns: v.schema.columns.len() as u32,
                    latest: v.version,
                    versions,
                    rows: v.rows,
                    size_bytes: v.size_bytes,
                    created_ms: v.created_ms,
                    hash: v.hash,
                    name: v.name,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_ml::{profile, table};

    fn draft(name: &str, csv: &str) -> DatasetVersion {
        let table = table::parse(csv.as_bytes()).expect("csv");
        DatasetVersion {
            name: name.into(),
            version: 0,
            hash: drover_protocol::data::content_hash(csv.as_bytes()),
            size_bytes: csv.len() as u64,
            rows: table.rows as u64,
            profile: profile::profile(&table),
            schema: table.schema,
            changes: Vec::new(),
            source: "t.csv".into(),
            created_ms: 1,
        }
    }

    #[test]
    fn versions_count_up_and_same_content_is_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("d.db")).expect("open");
        let (first, event) = store
            .add_dataset(draft("churn", "a,b\n1,x\n"))
            .expect("add");
        assert_eq!((first.version.version, first.unchanged), (1, false));
        assert_eq!(
            store.events_after(0, 10).expect("events"),
            vec![event.expect("event")]
        );
        let (again, none) = store
            .add_dataset(draft("churn", "a,b\n1,x\n"))
            .expect("add");
        assert_eq!(
            (again.version.version, again.unchanged, none),
            (1, true, None)
        );
        let (second, _) = store
            .add_dataset(draft("churn", "a,c\n1.5,2\n"))
            .expect("add");
        assert_eq!(second.version.version, 2);
        assert_eq!(
            second.version.changes.len(),
            3,
            "{:?}",
            second.version.changes
        );
        assert_eq!(
            store
                .dataset("churn", Some(1))
                .expect("get")
                .map(|v| v.rows),
            Some(1)
        );
        assert_eq!(
            store
                .dataset("churn", None)
                .expect("get")
                .map(|v| v.version),
            Some(2)
        );
        assert!(store.dataset("nope", None).expect("get").is_none());
        let list = store.datasets().expect("list");
        assert_eq!(
            (
                list.len(),
                list[0].latest,
                list[0].versions,
                list[0].columns
            ),
            (1, 2, 2, 2)
        );
    }
}
