//! The content-addressed artifact store under `<data-dir>/artifacts`: every blob lives at
//! `ab/abcdef...` named by its BLAKE3 hash, is written once through a temporary file, and is
//! never modified afterwards.

use std::path::{Path, PathBuf};

use rand::RngCore;

/// Blobs by BLAKE3 hash.
pub struct Artifacts {
    root: PathBuf,
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
    pub fn path(&self, hash: &str) -> PathBuf {
        let prefix = hash.get(..2).unwrap_or("00");
        self.root.join(prefix).join(hash)
    }

    /// A fresh temporary path for an incoming blob.
    pub fn temp_path(&self) -> PathBuf {
        let mut id = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut id);
        self.root.join("tmp").join(drover_protocol::pki::hex(&id))
    }

    /// Moves a verified temporary file into place as `hash`; a blob already there is kept.
    pub fn commit(&self, temp: &Path, hash: &str) -> std::io::Result<PathBuf> {
        let target = self.path(hash);
        if target.exists() {
            std::fs::remove_file(temp)?;
        } else {
            std::fs::create_dir_all(target.parent().unwrap_or(&self.root))?;
            std::fs::File::open(temp)?.sync_all()?;
            std::fs::rename(temp, &target)?;
        }
        Ok(target)
    }
}
