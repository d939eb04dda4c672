//! Proxied artifacts under `/api/2.0/mlflow-artifacts/artifacts`: a file a client uploads for
//! a run (`<experiment>/<run>/artifacts/<path>`) is stored once in drover's content-addressed
//! artifact store, and its path is recorded in the store so listings and downloads find it.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use drover_protocol::hash::ContentHash;
use drover_protocol::types::unix_ms;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::io::ReaderStream;

use super::Api;
use super::error::MlflowError;
use super::request::query;
use crate::artifacts::StageError;

/// Whether one segment of an artifact path is a plain name: not empty, `.` or `..`, and free
/// of backslashes and control characters (a client on Windows would read `..\x` as a way
/// out of its folder).
fn plain_segment(segment: &str) -> bool {
    !matches!(segment, "" | "." | "..") && !segment.chars().any(|c| c == '\\' || c.is_control())
}

/// Checks an artifact path (plain segments; `<experiment>/<run>/artifacts/...` of a run, or
/// `<experiment>/models/<model>/artifacts/...` of a logged model; the owner's own experiment)
/// and returns it with its owner's id.
fn run_path(api: &Api, path: &str) -> Result<(String, String), MlflowError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if !segments.iter().all(|s| plain_segment(s)) {
        return Err(MlflowError::invalid(format!(
            "invalid artifact path {path:?}: every part must be a plain name, without backslashes or control characters"
        )));
    }
    let (experiment, id, owner) = match segments.as_slice() {
        [experiment, "models", model, "artifacts", ..] => {
            let owner = super::logged_models::load_model(api, model, false)?.experiment_id;
            (*experiment, *model, owner)
        }
        [experiment, run, "artifacts", ..] => {
            let Some(owner) = api.store.sync().run_experiment(run)? else {
                return Err(MlflowError::not_found(format!(
                    "Run with id={run} not found"
                )));
            };
            (*experiment, *run, owner)
        }
        _ => {
            return Err(MlflowError::invalid(format!(
                "artifact paths are <experiment>/<run>/artifacts/... or <experiment>/models/<model>/artifacts/..., not {path:?}"
            )));
        }
    };
    if experiment != owner.to_string() {
        return Err(MlflowError::invalid(format!(
            "{id} belongs to experiment {owner}, not {experiment}"
        )));
    }
    Ok((id.to_string(), segments.join("/")))
}

/// How many segments the owner's artifact folder has: 3 for a run's, 4 for a logged model's.
fn root_depth(path: &str) -> usize {
    if path.split('/').nth(1) == Some("models") {
        4
    } else {
        3
    }
}

/// Refuses a file where a folder of that name holds files, or below a file of that name: the
/// two would hide each other in listings and downloads.
fn no_clash(api: &Api, path: &str) -> Result<(), MlflowError> {
    if !api.store.sync().run_files(path)?.is_empty() {
        return Err(MlflowError::invalid(format!(
            "{path:?} is a folder of artifacts; a file cannot have its name"
        )));
    }
    let mut parent = path;
    while let Some((above, _)) = parent.rsplit_once('/') {
        if above.split('/').count() <= root_depth(path) {
            break;
        }
        if api.store.sync().run_file(above)?.is_some() {
            return Err(MlflowError::invalid(format!(
                "{above:?} is a file; it cannot also be a folder"
            )));
        }
        parent = above;
    }
    Ok(())
}

/// `PUT artifacts/<path>`: stores the body as the file at `path`.
pub async fn put(
    State(api): State<Api>,
    Path(path): Path<String>,
    body: Body,
) -> Result<Json<Value>, MlflowError> {
    let (run, path) = api
        .blocking(move |api| {
            let (run, path) = run_path(api, &path)?;
            if path.split('/').count() <= root_depth(&path) {
                return Err(MlflowError::invalid(format!("{path:?} names no file")));
            }
            no_clash(api, &path)?;
            Ok((run, path))
        })
        .await?;
    let staged = api
        .artifacts
        .stage_stream(body.into_data_stream())
        .await
        .map_err(|e| match e {
            StageError::TooLarge { .. } | StageError::Body(_) => {
                MlflowError::invalid(e.to_string())
            }
            other => MlflowError::internal(other.to_string()),
        })?;
    api.blocking(move |api| {
        let size = std::fs::metadata(staged.path())
            .map_err(|e| MlflowError::internal(e.to_string()))?
            .len();
        let hash = staged.hash().to_string();
        api.artifacts
            .commit(staged)
            .map_err(|e| MlflowError::internal(e.to_string()))?;
        api.store
            .sync()
            .put_run_file(&path, &run, &hash, size, unix_ms())?;
        Ok(Json(json!({})))
    })
    .await
}

/// `GET artifacts/<path>`: the file's bytes.
pub async fn get(
    State(api): State<Api>,
    Path(path): Path<String>,
) -> Result<Response, MlflowError> {
    let (hash, path) = api
        .blocking(move |api| {
            let (_, path) = run_path(api, &path)?;
            let (hash, _) = api
                .store
                .sync()
                .run_file(&path)?
                .ok_or_else(|| MlflowError::not_found(format!("no artifact at {path}")))?;
            Ok::<_, MlflowError>((hash, path))
        })
        .await?;
    let hash = ContentHash::parse(&hash).map_err(|e| MlflowError::internal(e.to_string()))?;
    let file = tokio::fs::File::open(api.artifacts.path(&hash))
        .await
        .map_err(|e| MlflowError::internal(format!("reading artifact {path}: {e}")))?;
    let size = file
        .metadata()
        .await
        .map_err(|e| MlflowError::internal(format!("reading artifact {path}: {e}")))?
        .len();
    // Streamed from disk a chunk at a time: a reader holds one chunk of memory, whatever
    // the artifact's size and however slowly it reads.
    let body = Body::from_stream(ReaderStream::with_capacity(file, STREAM_CHUNK));
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream".to_string()),
        (header::CONTENT_LENGTH, size.to_string()),
    ];
    Ok((headers, body).into_response())
}

/// Bytes read from disk at a time when an artifact is downloaded.
const STREAM_CHUNK: usize = 64 << 10;

#[derive(Deserialize)]
struct Listing {
    path: Option<String>,
}

/// `GET artifacts?path=<dir>`: the files and directories directly in `dir`; a file or an
/// unknown path lists nothing (`{}`), which the client reads as "this is a file".
pub async fn list(State(api): State<Api>, uri: Uri) -> Result<Json<Value>, MlflowError> {
    api.blocking(move |api| {
        let q: Listing = query(&uri)?;
        let Some(dir) = q.path.filter(|p| !p.is_empty()) else {
            return Ok(Json(json!({})));
        };
        let (_, dir) = run_path(api, &dir)?;
        let mut entries: BTreeMap<String, Option<u64>> = BTreeMap::new();
        for (path, size) in api.store.sync().run_files(&dir)? {
            let rest = &path[dir.len() + 1..];
            match rest.split_once('/') {
                Some((sub, _)) => entries.insert(sub.to_string(), None),
                None => entries.insert(rest.to_string(), Some(size)),
            };
        }
        if entries.is_empty() {
            return Ok(Json(json!({})));
        }
        let files: Vec<Value> = entries
            .into_iter()
            .map(|(name, size)| match size {
                Some(size) => json!({"path": name, "is_dir": false, "file_size": size}),
                None => json!({"path": name, "is_dir": true}),
            })
            .collect();
        Ok(Json(json!({ "files": files })))
    })
    .await
}
