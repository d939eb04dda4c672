//! Manifests: the files under one folder of MLflow artifacts (a logged model's, or a run's
//! model folder) as one artifact in the content-addressed store.

use super::Api;
use super::error::MlflowError;

/// The files under `dir` as one artifact: the file itself when `dir` is a file, else their
/// manifest (`path<TAB>hash` lines), stored as a blob of its own so that the hash names
/// something the store holds. Empty when drover holds nothing there.
pub fn manifest(api: &Api, dir: &str) -> Result<String, MlflowError> {
    let dir = dir.trim_end_matches('/');
    if let Some((hash, _)) = api.store.sync().run_file(dir)? {
        return Ok(hash);
    }
    let files = api.store.sync().run_files(dir)?;
    if files.is_empty() {
        return Ok(String::new());
    }
    let mut listing = String::new();
    for (file, _) in files {
        if let Some((hash, _)) = api.store.sync().run_file(&file)? {
            listing.push_str(&format!("{}\t{hash}\n", &file[dir.len() + 1..]));
        }
    }
    let hash = api
        .artifacts
        .put_bytes(listing.as_bytes())
        .map_err(|e| MlflowError::internal(format!("storing the manifest of {dir}: {e}")))?;
    Ok(hash.to_string())
}
