//! Crash-safe file writes for certificates, keys and state: write a temporary file beside the
//! target, fsync it, rename it over the target. Private files are created mode 0600.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `bytes` to `path` atomically; `private` files are readable by their owner only.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    if let Ok(d) = fs::File::open(dir) {
        // Persisting the directory entry is best effort: not every filesystem supports it.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a UTF-8 file, naming the path in the error.
pub fn read_text(path: &Path) -> io::Result<String> {
    fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_files_are_owner_only() {
        let dir = std::env::temp_dir().join(format!("drover-files-{}", std::process::id()));
        let path = dir.join("k.pem");
        write_atomic(&path, b"secret", true).expect("write");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_text(&path).expect("read"), "secret");
        fs::remove_dir_all(dir).expect("cleanup");
    }
}
