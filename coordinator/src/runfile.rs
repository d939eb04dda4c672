//! Which coordinator runs on a data dir: an exclusive lock on `coordinator.lock` held for the
//! coordinator's lifetime (the kernel releases it even on SIGKILL, so it is never stale), and
//! `coordinator.json` with the addresses it really listens on.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use drover_protocol::files::{read_text, write_atomic};
use serde::{Deserialize, Serialize};

/// Where and since when a coordinator listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub pid: u32,
    pub quic_addr: String,
    pub http_addr: String,
    pub version: String,
    pub started_ms: u64,
    /// Whether the HTTP listener speaks HTTPS (absent in files of older releases).
    #[serde(default)]
    pub http_tls: bool,
}

/// Held while a coordinator runs on a data dir.
pub struct RunLock {
    _file: File,
}

fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join("coordinator.lock")
}

fn info_path(data_dir: &Path) -> PathBuf {
    data_dir.join("coordinator.json")
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("a coordinator is already running on {0}")]
    Held(PathBuf),
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn open(data_dir: &Path) -> Result<File, LockError> {
    let path = lock_path(data_dir);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| LockError::Io { path, source })
}

/// Takes the data dir for this process.
pub fn acquire(data_dir: &Path) -> Result<RunLock, LockError> {
    let file = open(data_dir)?;
    match file.try_lock() {
        Ok(()) => Ok(RunLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(LockError::Held(data_dir.to_path_buf())),
        Err(TryLockError::Error(source)) => Err(LockError::Io {
            path: lock_path(data_dir),
            source,
        }),
    }
}

/// True when some process holds the data dir's lock.
pub fn is_running(data_dir: &Path) -> bool {
    if !lock_path(data_dir).exists() {
        return false;
    }
    match open(data_dir) {
        Ok(file) => matches!(file.try_lock(), Err(TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Records where the coordinator listens.
pub fn write(data_dir: &Path, info: &RunInfo) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(info).map_err(std::io::Error::other)?;
    write_atomic(&info_path(data_dir), &json, false)
}

/// Reads where the coordinator on `data_dir` listens.
pub fn read(data_dir: &Path) -> anyhow::Result<RunInfo> {
    let text = read_text(&info_path(data_dir))?;
    Ok(serde_json::from_str(&text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!is_running(dir.path()));
        let lock = acquire(dir.path()).expect("first lock");
        assert!(is_running(dir.path()));
        assert!(matches!(acquire(dir.path()), Err(LockError::Held(_))));
        drop(lock);
        assert!(!is_running(dir.path()));
    }
}
