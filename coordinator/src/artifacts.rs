//! The content-addressed artifact store under `<data-dir>/artifacts`: every blob lives at
//! `ab/abcdef...` named by its BLAKE3 hash, arrives through a temporary file that is kept only
//! once its bytes verify, and is never modified afterwards. It takes only [`ContentHash`]es,
//! which cannot name anything outside it.

use std::io::Write;
use std::path::{Path, PathBuf};

use drover_protocol::bulk::{self, BulkError};
use drover_protocol::conn::FramedRecv;
use drover_protocol::hash::ContentHash;
use rand::RngCore;

/// Most bytes one blob (a dataset version, a model) may have.
pub const MAX_BLOB_BYTES: u64 = 1 << 30;

/// Blobs by BLAKE3 hash.
pub struct Artifacts {
    root: PathBuf,
}

/// Why an incoming blob was not staged.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{len} bytes is over the {MAX_BLOB_BYTES}-byte limit")]
    TooLarge { len: u64 },
    #[error(transparent)]
    Transfer(#[from] BulkError),
    #[error("the bytes do not verify: announced BLAKE3 {announced}, received {received}")]
    Mismatch { announced: String, received: String },
    #[error("reading the upload: {0}")]
    Body(String),
    #[error("storing the upload: {0}")]
    Io(#[from] std::io::Error),
}

/// Verified bytes waiting in the temporary directory; removed when dropped uncommitted.
pub struct Staged {
    file: TempFile,
    hash: ContentHash,
}

impl Staged {
    /// Where the bytes are until they are committed.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Their BLAKE3 hash.
    pub fn hash(&self) -> &ContentHash {
        &self.hash
    }
}

/// A file in the temporary directory, removed when dropped unless it was moved away.
struct TempFile {
    path: PathBuf,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.path.exists() {
            // An uncommitted blob must not linger; a failure here leaves a file that the next
            // start removes with the rest of the temporary directory.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where the blob with `hash` lives under an artifact store's `root` (`<data-dir>/artifacts`):
/// sharded by its first two hex digits.
pub fn blob_path(root: &Path, hash: &ContentHash) -> PathBuf {
    root.join(hash.shard()).join(hash.as_str())
}

impl Artifacts {
    /// The store in `data_dir`, created if needed; leftovers of interrupted uploads are removed.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let root = data_dir.join("artifacts");
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Self { root })
    }

    /// Where the blob with `hash` lives (whether or not it exists).
    pub fn path(&self, hash: &ContentHash) -> PathBuf {
        blob_path(&self.root, hash)
    }

    /// Receives exactly `len` bulk bytes from `recv` into a temporary file, synced, and checks
    /// that they hash to `announced`.
    pub async fn stage(
        &self,
        recv: FramedRecv,
        len: u64,
        announced: &ContentHash,
    ) -> Result<Staged, StageError> {
        if len > MAX_BLOB_BYTES {
            return Err(StageError::TooLarge { len });
        }
        let temp = self.temporary();
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(&temp.path).map_err(BulkError::Sink)?);
        let received = bulk::receive(recv, len, &mut |chunk| file.write_all(chunk)).await?;
        file.into_inner()
            .map_err(|e| BulkError::Sink(e.into_error()))?
            .sync_all()
            .map_err(BulkError::Sink)?;
        if &received != announced {
            return Err(StageError::Mismatch {
                announced: announced.to_string(),
                received: received.to_string(),
            });
        }
        Ok(Staged {
            file: temp,
            hash: received,
        })
    }

    /// Writes a stream of chunks of unknown length (an HTTP upload) into a temporary file,
    /// synced, hashing it on the way; more than [`MAX_BLOB_BYTES`] is refused.
    pub async fn stage_stream<S, E>(&self, mut chunks: S) -> Result<Staged, StageError>
    where
        S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let temp = self.temporary();
        let mut file = tokio::fs::File::create(&temp.path).await?;
        let mut hasher = blake3::Hasher::new();
        let mut len = 0u64;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| StageError::Body(e.to_string()))?;
            len += chunk.len() as u64;
            if len > MAX_BLOB_BYTES {
                return Err(StageError::TooLarge { len });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        Ok(Staged {
            file: temp,
            hash: ContentHash::from_hasher(&hasher),
        })
    }

    /// A fresh temporary file name for incoming bytes.
    fn temporary(&self) -> TempFile {
        let mut id = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut id);
        TempFile {
            path: self.root.join("tmp").join(drover_protocol::pki::hex(&id)),
        }
    }

    /// Stores `bytes` as a blob (written, synced, moved into place) and answers its hash.
    pub fn put_bytes(&self, bytes: &[u8]) -> std::io::Result<ContentHash> {
        let temp = self.temporary();
        let mut file = std::fs::File::create(&temp.path)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        let hash = ContentHash::from_hasher(blake3::Hasher::new().update(bytes));
        self.commit(Staged {
            file: temp,
            hash: hash.clone(),
        })?;
        Ok(hash)
    }

    /// Moves staged bytes into place under their hash; a blob already there is kept.
    pub fn commit(&self, staged: Staged) -> std::io::Result<PathBuf> {
        let target = self.path(staged.hash());
        if !target.exists() {
            std::fs::create_dir_all(target.parent().unwrap_or(&self.root))?;
            std::fs::rename(staged.path(), &target)?;
        }
        Ok(target)
    }
}
