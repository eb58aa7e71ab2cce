-- The engine's own record: each run, the outcome of each rule in it, its findings.

CREATE TABLE runs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job           TEXT,
    as_of         TIMESTAMPTZ NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    finding_count BIGINT NOT NULL DEFAULT 0,
    error         TEXT
);
CREATE INDEX runs_job_as_of ON runs (job, as_of);

CREATE TABLE rule_outcomes (
    run_id        BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    rule_id       TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('ok', 'skipped', 'failed')),
    reason        TEXT,
    finding_count BIGINT NOT NULL DEFAULT 0,
    duration_ms   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, rule_id)
);

CREATE TABLE findings (
    run_id       BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    rule         TEXT NOT NULL,
    severity     TEXT NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    subject_type TEXT NOT NULL CHECK (subject_type IN ('principal', 'role', 'grant')),
    subject_id   TEXT NOT NULL,
    title        TEXT NOT NULL,
    evidence     JSONB NOT NULL,
    PRIMARY KEY (run_id, rule, subject_type, subject_id)
);
CREATE INDEX findings_key ON findings (rule, subject_type, subject_id);
