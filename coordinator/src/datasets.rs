//! Dataset uploads: the CSV is staged in the artifact store (exact length, verified BLAKE3);
//! only bytes that also scan as a valid table (as a stream, in bounded memory) are committed
//! and recorded as a version.
//! Anything else leaves nothing behind.

use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;

use drover_ml::scan::{self, ScanError};
use drover_protocol::bulk::BulkError;
use drover_protocol::conn::FramedRecv;
use drover_protocol::data::version::validate_name;
use drover_protocol::data::{DatasetAdded, DatasetRef, DatasetUpload, DatasetVersion};
use drover_protocol::hash::ContentHash;
use drover_protocol::msg::{ApiError, OperatorResponse};
use drover_protocol::types::unix_ms;

use crate::artifacts::StageError;
use crate::state::Shared;
use std::sync::Arc;

/// Receives the bytes of `upload` from `recv` and records the version.
pub async fn receive(
    shared: &Arc<Shared>,
    upload: DatasetUpload,
    recv: FramedRecv,
) -> OperatorResponse {
    match receive_into(shared, &upload, recv).await {
        Ok(added) => OperatorResponse::DatasetAdded(Box::new(added)),
        Err(e) => {
            tracing::warn!(dataset = %upload.name, cause = %e, "dataset upload refused");
            OperatorResponse::Error(e)
        }
    }
}

async fn receive_into(
    shared: &Arc<Shared>,
    upload: &DatasetUpload,
    recv: FramedRecv,
) -> Result<DatasetAdded, ApiError> {
    validate_name(&upload.name).map_err(ApiError::invalid)?;
    let announced =
        ContentHash::parse(&upload.blake3).map_err(|e| ApiError::invalid(e.to_string()))?;
    let staged = shared.artifacts.stage(recv, upload.len, &announced).await.map_err(|e| match e {
        StageError::Transfer(BulkError::Sink(e)) => ApiError::internal(format!("writing the upload: {e}")),
        StageError::Mismatch { announced, received } => ApiError::invalid(format!(
            "the upload does not verify: its BLAKE3 is {received}, the client announced {announced}; nothing was stored"
        )),
        other => ApiError::invalid(format!("{other}; nothing was stored")),
    })?;
    finish(shared, upload, staged).await
}

/// Adds the CSV at `path`, on the coordinator's machine, as the next version of `name`: the
/// embedded console's upload, checked exactly as one over the network.
pub async fn add_file(shared: &Arc<Shared>, name: &str, path: &Path) -> OperatorResponse {
    let upload = DatasetUpload {
        name: name.into(),
        file_name: path.file_name().map_or_else(
            || "dataset.csv".into(),
            |n| n.to_string_lossy().into_owned(),
        ),
        len: 0,
        blake3: String::new(),
    };
    let added = async {
        validate_name(name).map_err(ApiError::invalid)?;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| ApiError::invalid(format!("{}: {e}", path.display())))?;
        let chunks = Box::pin(futures_util::stream::unfold(file, |mut file| async move {
            let mut buf = vec![0u8; 64 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(bytes::Bytes::from(buf)), file))
                }
                Err(e) => Some((Err(e), file)),
            }
        }));
        let staged = shared
            .artifacts
            .stage_stream(chunks)
            .await
            .map_err(|e| ApiError::invalid(format!("{e}; nothing was stored")))?;
        finish(shared, &upload, staged).await
    };
    match added.await {
        Ok(added) => OperatorResponse::DatasetAdded(Box::new(added)),
        Err(e) => OperatorResponse::Error(e),
    }
}

/// Validates staged bytes as a table and records them as the next version.
async fn finish(
    shared: &Arc<Shared>,
    upload: &DatasetUpload,
    staged: crate::artifacts::Staged,
) -> Result<DatasetAdded, ApiError> {
    let draft = validate(
        staged.path().to_path_buf(),
        upload,
        staged.hash().to_string(),
    )
    .await?;
    shared
        .blocking(move |shared| record(shared, staged, draft))
        .await
}

/// Keeps the staged bytes and stores the version (on the blocking pool).
fn record(
    shared: &Shared,
    staged: crate::artifacts::Staged,
    draft: DatasetVersion,
) -> Result<DatasetAdded, ApiError> {
    shared
        .artifacts
        .commit(staged)
        .map_err(|e| ApiError::internal(format!("storing the dataset: {e}")))?;
    let (added, event) = shared
        .store
        .sync()
        .add_dataset(draft)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    // Retraining on the new version is a reaction to this event (see `reactions`).
    if let Some(event) = event {
        shared.events.announce(event);
    }
    Ok(added)
}

/// Validates and profiles the CSV as a stream, off the async threads, in bounded memory
/// whatever its size.
async fn validate(
    path: PathBuf,
    upload: &DatasetUpload,
    hash: String,
) -> Result<DatasetVersion, ApiError> {
    let (name, source) = (upload.name.clone(), upload.file_name.clone());
    tokio::task::spawn_blocking(move || {
        let open = || std::fs::File::open(&path).map(std::io::BufReader::new);
        let scanned = scan::scan(open).map_err(|e| match e {
            ScanError::Table(e) => ApiError::invalid(format!("{source}: {e}")),
            ScanError::Io(e) => ApiError::internal(format!("reading the upload: {e}")),
        })?;
        let size_bytes = std::fs::metadata(&path)
            .map_err(|e| ApiError::internal(format!("reading the upload: {e}")))?
            .len();
        Ok(DatasetVersion {
            name,
            version: 0,
            hash,
            size_bytes,
            rows: scanned.rows,
            schema: scanned.schema,
            profile: scanned.profile,
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
    let internal = |e: crate::store::StoreError| ApiError::internal(e.to_string());
    if let Some(found) = shared
        .store
        .sync()
        .dataset(&reference.name, reference.version)
        .map_err(internal)?
    {
        return Ok(found);
    }
    match shared
        .store
        .sync()
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
