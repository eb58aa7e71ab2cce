//! Files a report writes before its message is built (the CSV of every
//! finding, the standalone HTML): written once through a `Spool`, which
//! counts and hashes the bytes on the way, so that a large report is never
//! held in memory to be hashed or copied.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// A spooled file once written: a temporary file of its own (removed when
/// the last handle to it goes), its size and its SHA-256.
#[derive(Debug, Clone)]
pub struct Spooled {
    file: Arc<tempfile::NamedTempFile>,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

impl Spooled {
    pub fn path(&self) -> &std::path::Path {
        self.file.path()
    }

    /// The whole file (for a message that attaches it: at most
    /// `report.max_attachment_bytes`).
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path())
    }

    /// Copies the file to `out`, atomically.
    pub fn copy_to(&self, out: &std::path::Path) -> std::io::Result<()> {
        let mut from = std::fs::File::open(self.path())?;
        crate::support::atomic_file::write_with(out, |w| std::io::copy(&mut from, w).map(|_| ()))
    }
}

/// A file being spooled: in the system's temporary directory.
pub struct Spool {
    file: tempfile::NamedTempFile,
    out: BufWriter<std::fs::File>,
    hash: Sha256,
    size: u64,
}

impl Spool {
    pub fn new() -> std::io::Result<Spool> {
        let file = tempfile::NamedTempFile::new()?;
        let out = BufWriter::new(file.reopen()?);
        Ok(Spool {
            file,
            out,
            hash: Sha256::new(),
            size: 0,
        })
    }

    /// Flushes the file to disk and gives its size and SHA-256.
    pub fn finish(mut self) -> std::io::Result<Spooled> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok(Spooled {
            file: Arc::new(self.file),
            size: self.size,
            sha256: crate::support::pii::hex(&self.hash.finalize()),
        })
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write_all(buf)?;
        self.hash.update(buf);
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    /// The file is flushed once, by `finish`.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spooled_file_has_the_size_and_digest_of_its_bytes() {
        let mut spool = Spool::new().unwrap();
        spool.write_all(b"abc").unwrap();
        spool.write_all(b"def").unwrap();
        let file = spool.finish().unwrap();
        assert_eq!(file.read().unwrap(), b"abcdef");
        assert_eq!(file.size, 6);
        assert_eq!(
            file.sha256,
            "bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721"
        );
        let copy = tempfile::tempdir().unwrap();
        let out = copy.path().join("copy");
        file.copy_to(&out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"abcdef");
        let path = file.path().to_path_buf();
        drop(file);
        assert!(!path.exists(), "the last handle removes the file");
    }
}
