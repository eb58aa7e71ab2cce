-- Findings lifecycle, risk acceptance (exceptions) and the report archive.

-- When a finding's key (rule + subject) was first seen in an unbroken series
-- of runs of the same job: carried forward from the previous run of the job.
ALTER TABLE findings ADD COLUMN first_seen_at TIMESTAMPTZ;

-- Accepted risks: a rule and a subject (or a pattern of subjects, `*` and `?`),
-- with a reason, an approver and an expiry. `source` is `cli` for those added
-- with `exceptions add`, `file` for those loaded from a versioned YAML file.
CREATE TABLE exceptions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule        TEXT NOT NULL CHECK (rule <> ''),
    subject     TEXT NOT NULL CHECK (subject <> ''),
    reason      TEXT NOT NULL CHECK (trim(reason) <> ''),
    approved_by TEXT NOT NULL CHECK (trim(approved_by) <> ''),
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('cli', 'file'))
);
CREATE INDEX exceptions_rule ON exceptions (rule);

-- Every rendered report, byte for byte, with its SHA-256: the evidence that a
-- report was not altered after it was sent (`runs verify`).
CREATE TABLE reports (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      BIGINT NOT NULL REFERENCES runs (id),
    job         TEXT,
    template    TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    eml         BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (run_id, template, sha256)
);
CREATE INDEX reports_run ON reports (run_id);
