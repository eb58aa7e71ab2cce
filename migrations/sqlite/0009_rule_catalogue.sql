-- The rule catalogue: a rule whose data no row fills (no `expires_at`
-- anywhere, no `mfa_enabled`, …) is recorded as `not_applicable` with the
-- reason, never as a clean pass; a finding may be about a person (across
-- their accounts, for separation of duties); and people carry their kind of
-- work (contractors, interns and vendors are watched by `non-employee-access`).
ALTER TABLE people ADD COLUMN worker_type TEXT
    CHECK (worker_type IN ('employee', 'contractor', 'intern', 'vendor'));
CREATE INDEX people_worker_type ON people (worker_type);

-- New CHECK values: the two tables are rebuilt (SQLite's documented way,
-- https://sqlite.org/lang_altertable.html#otheralter). Unlike `runs` in
-- 0008 no table refers to them, so nothing cascades; and unlike an edit of
-- sqlite_master, the connection that migrates sees the new definitions at
-- once (it may be the one that writes the next run).
CREATE TABLE rule_outcomes_new (
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    rule_id       TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('ok', 'skipped', 'not_applicable', 'failed')),
    reason        TEXT,
    finding_count INTEGER NOT NULL DEFAULT 0,
    duration_ms   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, rule_id)
);
INSERT INTO rule_outcomes_new (run_id, rule_id, status, reason, finding_count, duration_ms)
    SELECT run_id, rule_id, status, reason, finding_count, duration_ms FROM rule_outcomes;
DROP TABLE rule_outcomes;
ALTER TABLE rule_outcomes_new RENAME TO rule_outcomes;

CREATE TABLE findings_new (
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    rule          TEXT NOT NULL,
    severity      TEXT NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    subject_type  TEXT NOT NULL CHECK (subject_type IN ('principal', 'role', 'grant', 'person')),
    subject_id    TEXT NOT NULL,
    title         TEXT NOT NULL,
    evidence      TEXT NOT NULL,
    first_seen_at INTEGER,
    PRIMARY KEY (run_id, rule, subject_type, subject_id)
);
INSERT INTO findings_new (run_id, rule, severity, subject_type, subject_id, title, evidence, first_seen_at)
    SELECT run_id, rule, severity, subject_type, subject_id, title, evidence, first_seen_at FROM findings;
DROP TABLE findings;
ALTER TABLE findings_new RENAME TO findings;
