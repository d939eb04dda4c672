//! The backup archive: a gzipped tar whose first entry is `manifest.json`, then the store
//! snapshot and the PKI, each listed in the manifest with its size and BLAKE3 hash. Artifacts
//! are not copied, only listed by hash: they are content-addressed and usually far larger than
//! everything else, so they are synced separately.

use std::path::{Component, Path, PathBuf};

use drover_protocol::hash::ContentHash;
use serde::{Deserialize, Serialize};

/// Version of the archive layout.
pub const FORMAT: u32 = 1;

/// Name of the manifest entry.
pub const MANIFEST: &str = "manifest.json";

/// The store file inside the data dir and the archive.
pub const STORE: &str = "drover.db";

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub drover_version: String,
    pub created_ms: u64,
    /// Every file in the archive besides the manifest, relative to the data dir.
    pub files: Vec<FileEntry>,
    /// Every artifact blob in the store when the backup was taken.
    pub artifacts: Vec<ArtifactEntry>,
}

/// A file of the data dir carried in the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub blake3: String,
    /// Readable by its owner only (keys, secrets).
    pub private: bool,
}

/// An artifact blob, by content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactEntry {
    pub hash: ContentHash,
    pub size: u64,
}

/// Files besides the store that a backup carries when present: the PKI, the HTTP bearer
/// token and the local agent's identity. Private ones are written with mode 0600.
pub const EXTRA_FILES: &[(&str, bool)] = &[
    ("pki/ca.pem", false),
    ("pki/ca.key", true),
    ("pki/coordinator.pem", false),
    ("pki/coordinator.key", true),
    ("pki/operator.pem", false),
    ("pki/operator.key", true),
    ("pki/reset.key", true),
    ("http.token", true),
    ("local-agent/agent.json", false),
    ("local-agent/agent.pem", false),
    ("local-agent/agent.key", true),
    ("local-agent/ca.pem", false),
];

/// `path` inside `root` when it is a plain relative path (no `..`, no root, no prefix).
pub fn inside(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    (plain && !path.is_empty()).then(|| root.join(relative))
}

/// Size and BLAKE3 hash (hex) of a file, read in a stream.
pub fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(file)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    Ok((hasher.count(), hasher.finalize().to_hex().to_string()))
}

/// Every blob in the artifact store of `data_dir` (`artifacts/<2 hex>/<hash>`), by hash.
pub fn list_artifacts(data_dir: &Path) -> std::io::Result<Vec<ArtifactEntry>> {
    let root = data_dir.join("artifacts");
    let mut blobs = Vec::new();
    let Ok(prefixes) = std::fs::read_dir(&root) else {
        return Ok(blobs);
    };
    for prefix in prefixes {
        let prefix = prefix?;
        if prefix.file_name() == "tmp" || !prefix.file_type()?.is_dir() {
            continue;
        }
        for blob in std::fs::read_dir(prefix.path())? {
            let blob = blob?;
            // Anything that is not named by a hash is not a blob of the store.
            let hash = blob.file_name().to_str().map(ContentHash::parse);
            if let Some(Ok(hash)) = hash {
                blobs.push(ArtifactEntry {
                    hash,
                    size: blob.metadata()?.len(),
                });
            }
        }
    }
    blobs.sort_by(|a, b| a.hash.cmp(&b.hash));
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_inside() {
        let root = Path::new("/data");
        assert_eq!(
            inside(root, "pki/ca.pem"),
            Some(PathBuf::from("/data/pki/ca.pem"))
        );
        for bad in ["../etc/passwd", "/etc/passwd", "pki/../../x", "", "./x"] {
            assert_eq!(inside(root, bad), None, "{bad}");
        }
    }
}
