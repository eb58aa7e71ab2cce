-- The ledger: an append-only, hash-chained list of the records that must
-- not change or vanish unnoticed (archived reports; campaign records and
-- review decisions later). `seq` runs 1, 2, 3, … with no gap; each entry
-- carries the SHA-256 of its record's content, the hash of the entry before
-- it (64 zeros for the first) and its own hash over all of that
-- (src/store/ledger.rs). Written only by `store::ledger::append`.
CREATE TABLE ledger (
    seq            INTEGER PRIMARY KEY CHECK (seq > 0),
    kind           TEXT NOT NULL CHECK (kind <> ''),
    subject        TEXT NOT NULL CHECK (subject <> ''),
    content_sha256 TEXT NOT NULL CHECK (length(content_sha256) = 64),
    prev_hash      TEXT NOT NULL CHECK (length(prev_hash) = 64),
    entry_hash     TEXT NOT NULL UNIQUE CHECK (length(entry_hash) = 64),
    recorded_at    INTEGER NOT NULL
);
CREATE INDEX ledger_record ON ledger (kind, subject);

-- Reports archived before this migration, to be chained once, in archive
-- order and with their archive time, with their digest as recorded then, by
-- the process that ran the migration (store::ledger::adopt, right after
-- it): SHA-256 is not part of SQLite's SQL. A report archived later is
-- chained as it is archived; one that no entry covers was put there by hand.
CREATE TABLE ledger_adopt (
    ordinal        INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    subject        TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    recorded_at    INTEGER NOT NULL
);
INSERT INTO ledger_adopt (ordinal, kind, subject, content_sha256, recorded_at)
    SELECT id, 'report', CAST(id AS TEXT), sha256, created_at FROM reports;
