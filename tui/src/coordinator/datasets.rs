//! Dataset uploads: the CSV streams to a temporary file while it is hashed; only bytes that
//! match the announced length and BLAKE3 hash and parse as a valid table are moved into the
//! artifact store and recorded as a version. Anything else leaves nothing behind.

use std::path::{Path, PathBuf};

use std::io::Write;

use drover_protocol::bulk::{self, BulkError};
use drover_protocol::conn::FramedRecv;
use drover_protocol::data::version::validate_name;
use drover_protocol::data::{
    DatasetAdded, DatasetRef, DatasetUpload, DatasetVersion, profile, table,
};
use drover_protocol::msg::{ApiError, Event, OperatorResponse};
use drover_protocol::types::unix_ms;

use super::state::Shared;

/// Most bytes one dataset version may have.
pub const MAX_DATASET_BYTES: u64 = 1 << 30;

/// Receives the bytes of `upload` from `recv` and records the version.
pub async fn receive(shared: &Shared, upload: DatasetUpload, recv: FramedRecv) -> OperatorResponse {
    let temp = shared.artifacts.temp_path();
    let result = receive_into(shared, &upload, recv, &temp).await;
    if temp.exists() {
        // Whatever failed, an unverified upload must not linger.
        let _ = tokio::fs::remove_file(&temp).await;
    }
    match result {
        Ok(added) => OperatorResponse::DatasetAdded(Box::new(added)),
        Err(e) => {
            tracing::warn!(dataset = %upload.name, cause = %e, "dataset upload refused");
            OperatorResponse::Error(e)
        }
    }
}

async fn receive_into(
    shared: &Shared,
    upload: &DatasetUpload,
    recv: FramedRecv,
    temp: &Path,
) -> Result<DatasetAdded, ApiError> {
    validate_name(&upload.name).map_err(ApiError::invalid)?;
    if upload.len > MAX_DATASET_BYTES {
        return Err(ApiError::invalid(format!(
            "{} bytes is over the {MAX_DATASET_BYTES}-byte limit for one dataset",
            upload.len
        )));
    }
    let hash = stream_to_file(upload, recv, temp).await?;
    if hash != upload.blake3 {
        return Err(ApiError::invalid(format!(
            "the upload does not verify: its BLAKE3 is {hash}, the client announced {}; nothing was stored",
            upload.blake3
        )));
    }
    let draft = validate(temp.to_path_buf(), upload, hash.clone()).await?;
    shared
        .artifacts
        .commit(temp, &hash)
        .map_err(|e| ApiError::internal(format!("storing the dataset: {e}")))?;
    let added = shared
        .store
        .add_dataset(draft)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if !added.unchanged {
        let v = &added.version;
        shared.events.publish(Event::DatasetAdded {
            name: v.name.clone(),
            version: v.version,
            hash: v.hash.clone(),
            rows: v.rows,
        });
        super::schedules::on_dataset_added(shared, &v.name, v.version);
    }
    Ok(added)
}

/// Writes exactly `upload.len` bytes to `temp` and returns their BLAKE3 hex.
async fn stream_to_file(
    upload: &DatasetUpload,
    recv: FramedRecv,
    temp: &Path,
) -> Result<String, ApiError> {
    receive_file(recv, upload.len, temp)
        .await
        .map_err(|e| match e {
            BulkError::Sink(e) => ApiError::internal(format!("writing the upload: {e}")),
            other => ApiError::invalid(format!("{other}; nothing was stored")),
        })
}

/// Receives `len` bulk bytes into a new file at `path`, synced, and returns their BLAKE3 hex.
pub async fn receive_file(recv: FramedRecv, len: u64, path: &Path) -> Result<String, BulkError> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let hash = bulk::receive(recv, len, &mut |chunk| file.write_all(chunk)).await?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(hash)
}

/// Parses and profiles the CSV off the async threads.
async fn validate(
    path: PathBuf,
    upload: &DatasetUpload,
    hash: String,
) -> Result<DatasetVersion, ApiError> {
    let (name, source) = (upload.name.clone(), upload.file_name.clone());
    tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&path)
            .map_err(|e| ApiError::internal(format!("reading the upload: {e}")))?;
        let table =
            table::parse(&bytes).map_err(|e| ApiError::invalid(format!("{source}: {e}")))?;
        let profile = profile::profile(&table);
        Ok(DatasetVersion {
            name,
            version: 0,
            hash,
            size_bytes: bytes.len() as u64,
            rows: table.rows as u64,
            schema: table.schema,
            profile,
            changes: Vec::new(),
            source,
            created_ms: unix_ms(),
        })
    })
    .await
    .map_err(|e| ApiError::internal(format!("validating the upload: {e}")))?
}

/// Looks up a version, with a message that says what does exist when it is missing.
pub fn find(shared: &Shared, reference: &DatasetRef) -> Result<DatasetVersion, ApiError> {
    let internal = |e: super::store::StoreError| ApiError::internal(e.to_string());
    if let Some(found) = shared
        .store
        .dataset(&reference.name, reference.version)
        .map_err(internal)?
    {
        return Ok(found);
    }
    match shared
        .store
        .dataset(&reference.name, None)
        .map_err(internal)?
    {
        Some(latest) => Err(ApiError::not_found(format!(
            "no version {reference}: {} has versions 1 to {}",
            reference.name, latest.version
        ))),
        None => Err(ApiError::not_found(format!(
            "no dataset named {}",
            reference.name
        ))),
    }
}
