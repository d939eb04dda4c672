//! `drover restore FILE`: puts a backup back into a data dir. Every file is checked against
//! the manifest's hash before anything in the data dir changes; the data dir is locked so no
//! coordinator starts meanwhile; artifacts the backup lists but the data dir lacks are named.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use flate2::read::GzDecoder;
use serde::Serialize;

use super::archive::{self, ArtifactEntry, Manifest};
use drover_coordinator::artifacts::blob_path;
use drover_coordinator::runfile;

/// Largest manifest accepted, against a crafted archive.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// What a restore did.
#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub data_dir: PathBuf,
    pub drover_version: String,
    pub created_ms: u64,
    pub files: usize,
    pub artifacts_present: usize,
    /// Artifacts the store refers to that are not in `<data-dir>/artifacts`.
    pub artifacts_missing: Vec<ArtifactEntry>,
}

/// Restores `file` into `data_dir`. An existing store is replaced only with `force`.
pub fn restore(file: &Path, data_dir: &Path, force: bool) -> anyhow::Result<RestoreReport> {
    let parent = data_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".drover-restore-")
        .tempdir_in(parent)?;
    let manifest = unpack(file, staging.path())?;
    for entry in &manifest.files {
        let staged = archive::inside(staging.path(), &entry.path)
            .with_context(|| format!("the backup names a bad path {:?}", entry.path))?;
        let (size, hash) = archive::hash_file(&staged)
            .with_context(|| format!("the backup lacks {}", entry.path))?;
        if (size, hash.as_str()) != (entry.size, entry.blake3.as_str()) {
            bail!(
                "{} in the backup is damaged: {size} bytes hashing to {hash}, the manifest says {} bytes hashing to {}",
                entry.path,
                entry.size,
                entry.blake3
            );
        }
    }
    check_store(&staging.path().join(archive::STORE))?;

    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let _lock = runfile::acquire(data_dir)
        .context("stop the coordinator before restoring into its data dir")?;
    if data_dir.join(archive::STORE).exists() && !force {
        bail!(
            "{} already holds a store; pass --force to replace it",
            data_dir.display()
        );
    }

    for stale in ["drover.db-wal", "drover.db-shm", "coordinator.json"] {
        let _ = std::fs::remove_file(data_dir.join(stale));
    }
    for entry in &manifest.files {
        let (Some(from), Some(to)) = (
            archive::inside(staging.path(), &entry.path),
            archive::inside(data_dir, &entry.path),
        ) else {
            continue;
        };
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
            set_mode(parent, 0o700)?;
        }
        set_mode(&from, if entry.private { 0o600 } else { 0o644 })?;
        std::fs::rename(&from, &to).with_context(|| format!("writing {}", to.display()))?;
    }
    set_mode(data_dir, 0o700)?;
    let root = data_dir.join("artifacts");
    let (present, missing): (Vec<_>, Vec<_>) = manifest
        .artifacts
        .iter()
        .cloned()
        .partition(|a| blob_path(&root, &a.hash).is_file());
    Ok(RestoreReport {
        data_dir: data_dir.to_path_buf(),
        drover_version: manifest.drover_version,
        created_ms: manifest.created_ms,
        files: manifest.files.len(),
        artifacts_present: present.len(),
        artifacts_missing: missing,
    })
}

/// Unpacks the manifest and the files it lists into `dir`; anything else is an error.
fn unpack(file: &Path, dir: &Path) -> anyhow::Result<Manifest> {
    let reader =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut tar = tar::Archive::new(GzDecoder::new(reader));
    let mut entries = tar
        .entries()
        .with_context(|| format!("{} is not a drover backup", file.display()))?;
    let not_backup = || format!("{} is not a drover backup", file.display());
    let mut first = entries
        .next()
        .with_context(not_backup)?
        .with_context(not_backup)?;
    if first.path()?.to_str() != Some(archive::MANIFEST) || first.size() > MAX_MANIFEST_BYTES {
        bail!("{}: its first entry is not a manifest", not_backup());
    }
    let manifest: Manifest = serde_json::from_reader(&mut first)
        .with_context(|| format!("{}: unreadable manifest", not_backup()))?;
    if manifest.format != archive::FORMAT {
        bail!(
            "the backup has format {}, this drover reads format {}",
            manifest.format,
            archive::FORMAT
        );
    }
    for entry in entries {
        let mut entry = entry.with_context(|| format!("{} is damaged", file.display()))?;
        let name = entry.path()?.to_string_lossy().to_string();
        let listed = manifest.files.iter().any(|f| f.path == name);
        let Some(target) = archive::inside(dir, &name).filter(|_| listed) else {
            bail!("the backup holds {name:?}, which its manifest does not list");
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        entry
            .unpack(&target)
            .with_context(|| format!("unpacking {name}"))?;
    }
    Ok(manifest)
}

/// The restored store must pass SQLite's integrity check before it replaces anything.
fn check_store(path: &Path) -> anyhow::Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .context("checking the restored store")?;
    anyhow::ensure!(
        verdict == "ok",
        "the store in the backup is damaged: {verdict}"
    );
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// Prints what a restore did and what is left to do.
pub fn print(report: &RestoreReport) {
    println!(
        "restored {} file(s) from a drover {} backup into {}",
        report.files,
        report.drover_version,
        report.data_dir.display()
    );
    println!(
        "artifacts: {} present, {} missing",
        report.artifacts_present,
        report.artifacts_missing.len()
    );
    if !report.artifacts_missing.is_empty() {
        for missing in report.artifacts_missing.iter().take(10) {
            println!("  missing {} ({} bytes)", missing.hash, missing.size);
        }
        println!(
            "copy them into {}/artifacts/<first two hex digits>/<hash> (e.g. rsync -a OLD_HOST:/var/lib/drover/artifacts/ {}/artifacts/); until then their models cannot be fetched",
            report.data_dir.display(),
            report.data_dir.display()
        );
    }
}
