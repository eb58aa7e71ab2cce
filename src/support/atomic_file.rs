//! The one atomic file writer: a temporary file beside the target, flushed
//! and synced, then renamed over it, so that a reader (a person opening a
//! report, a mail client picking up an .eml) never sees half a file and a
//! failed write leaves the old file as it was.

use std::io::Write;
use std::path::Path;

/// Writes `path` with whatever `write` puts into the buffered file.
pub fn write_with<E>(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<std::io::Error>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    let mut file = std::io::BufWriter::new(tmp.reopen()?);
    write(&mut file)?;
    file.flush()?;
    file.get_ref().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, |f| f.write_all(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        super::write(&path, b"first").unwrap();
        let failed: Result<(), std::io::Error> = super::write_with(&path, |f| {
            use std::io::Write;
            f.write_all(b"half")?;
            Err(std::io::Error::other("stopped"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        super::write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
