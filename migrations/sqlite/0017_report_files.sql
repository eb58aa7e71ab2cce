-- A report's CSV of findings larger than `report.max_attachment_bytes` is
-- not attached to its message: the message names it (its SHA-256) and it is
-- archived here, in chunks of at most 1 MB, so that neither writing nor
-- reading it back ever holds the whole file in memory. Content-addressed:
-- the same bytes are kept once.
CREATE TABLE report_files (
    sha256     TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    bytes      INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE report_file_chunks (
    sha256 TEXT NOT NULL REFERENCES report_files (sha256),
    seq    INTEGER NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (sha256, seq)
);
-- The archived file a report's message names instead of attaching it.
ALTER TABLE reports ADD COLUMN csv_sha256 TEXT;
