//! `drover backup FILE`: a consistent snapshot of the store, taken online through SQLite's
//! backup API while the coordinator keeps writing, with the PKI, in one archive.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use drover_protocol::types::unix_ms;
use flate2::Compression;
use flate2::write::GzEncoder;
use rusqlite::backup::StepResult;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::archive::{self, FileEntry, Manifest};

/// What a backup wrote.
#[derive(Debug, Serialize)]
pub struct BackupReport {
    pub file: PathBuf,
    pub bytes: u64,
    pub files: usize,
    pub artifacts: usize,
    pub artifact_bytes: u64,
}

/// Writes a backup of `data_dir` to `out` (replaced atomically, mode 0600: it holds the CA key).
pub fn backup(data_dir: &Path, out: &Path) -> anyhow::Result<BackupReport> {
    let store = data_dir.join(archive::STORE);
    anyhow::ensure!(
        store.exists(),
        "no store at {}: is this a coordinator data dir? (--data-dir)",
        store.display()
    );
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = tempfile::Builder::new()
        .prefix(".drover-backup-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a temporary dir in {}", parent.display()))?;
    let snapshot = staging.path().join(archive::STORE);
    snapshot_store(&store, &snapshot)?;

    let mut sources = vec![(archive::STORE.to_string(), snapshot, true)];
    for (path, private) in archive::EXTRA_FILES {
        let source = data_dir.join(path);
        if source.is_file() {
            sources.push((path.to_string(), source, *private));
        }
    }
    let mut files = Vec::new();
    for (path, source, private) in &sources {
        let (size, blake3) = archive::hash_file(source)?;
        files.push(FileEntry {
            path: path.clone(),
            size,
            blake3,
            private: *private,
        });
    }
    let artifacts = archive::list_artifacts(data_dir).context("listing artifacts")?;
    let manifest = Manifest {
        format: archive::FORMAT,
        drover_version: drover_protocol::DROVER_VERSION.into(),
        created_ms: unix_ms(),
        files,
        artifacts,
    };

    let partial = staging.path().join("backup.tar.gz");
    write_archive(&partial, &manifest, &sources)?;
    std::fs::rename(&partial, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(BackupReport {
        file: out.to_path_buf(),
        bytes: std::fs::metadata(out)?.len(),
        files: manifest.files.len(),
        artifacts: manifest.artifacts.len(),
        artifact_bytes: manifest.artifacts.iter().map(|a| a.size).sum(),
    })
}

/// Copies the live store into `to` in one step of the backup API: one read transaction, so
/// the copy is the store as of one commit even while the coordinator writes.
fn snapshot_store(from: &Path, to: &Path) -> anyhow::Result<()> {
    let source = Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", from.display()))?;
    source.busy_timeout(std::time::Duration::from_secs(10))?;
    let mut target = Connection::open(to)?;
    let backup = rusqlite::backup::Backup::new(&source, &mut target)?;
    // -1 copies every page in one step; a writer holding the lock at that moment makes the
    // step report busy, and it is tried again.
    for _ in 0..200 {
        match backup.step(-1).context("copying the store")? {
            StepResult::Done => break,
            StepResult::More | StepResult::Busy | StepResult::Locked => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            _ => anyhow::bail!("copying the store: unexpected backup step result"),
        }
    }
    anyhow::ensure!(
        backup.progress().remaining == 0,
        "the store stayed busy; try again"
    );
    drop(backup);
    target.execute_batch("PRAGMA journal_mode = DELETE;")?;
    Ok(())
}

fn write_archive(
    path: &Path,
    manifest: &Manifest,
    sources: &[(String, PathBuf, bool)],
) -> anyhow::Result<()> {
    let file = private_file(path)?;
    let mut tar = tar::Builder::new(GzEncoder::new(file, Compression::default()));
    let manifest_json = serde_json::to_vec_pretty(manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest_json.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(manifest.created_ms / 1000);
    tar.append_data(&mut header, archive::MANIFEST, manifest_json.as_slice())?;
    for (name, source, _) in sources {
        tar.append_path_with_name(source, name)
            .with_context(|| format!("archiving {name}"))?;
    }
    let mut file = tar.into_inner()?.finish()?;
    file.flush()?;
    file.sync_all()?;
    Ok(())
}

fn private_file(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// Prints what a backup wrote.
pub fn print(report: &BackupReport) {
    println!(
        "backup written to {} ({} bytes): store and {} other file(s); {} artifact(s), {} bytes, listed by hash (copy artifacts/ separately)",
        report.file.display(),
        report.bytes,
        report.files.saturating_sub(1),
        report.artifacts,
        report.artifact_bytes
    );
}
