-- Findings lifecycle, risk acceptance (exceptions) and the report archive.

-- When a finding's key (rule + subject) was first seen in an unbroken series
-- of runs of the same job: carried forward from the previous run of the job.
ALTER TABLE findings ADD COLUMN first_seen_at INTEGER;

-- Accepted risks: a rule and a subject (or a pattern of subjects, `*` and `?`),
-- with a reason, an approver and an expiry. `source` is `cli` for those added
-- with `exceptions add`, `file` for those loaded from a versioned YAML file.
CREATE TABLE exceptions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    rule        TEXT NOT NULL CHECK (rule <> ''),
    subject     TEXT NOT NULL CHECK (subject <> ''),
    reason      TEXT NOT NULL CHECK (trim(reason) <> ''),
    approved_by TEXT NOT NULL CHECK (trim(approved_by) <> ''),
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('cli', 'file'))
);
CREATE INDEX exceptions_rule ON exceptions (rule);

-- Every rendered report, byte for byte, with its SHA-256: the evidence that a
-- report was not altered after it was sent (`runs verify`).
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    job         TEXT,
    template    TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    eml         BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (run_id, template, sha256)
);
CREATE INDEX reports_run ON reports (run_id);
