-- The daemon's record: scheduled job slots (run exactly once, even with
-- several daemons on one database), the mail outbox, alert de-duplication.

-- One row per (job, scheduled instant). A daemon owns a slot while its lease
-- runs; a crashed owner's slot is taken over when the lease has expired.
CREATE TABLE job_slots (
    job          TEXT NOT NULL,
    slot_at      INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'retrying', 'done', 'abandoned')),
    owner        TEXT NOT NULL,
    lease_until  INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_id       INTEGER,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    error        TEXT,
    PRIMARY KEY (job, slot_at)
);

-- A rendered message is stored here before any send; the sender delivers it
-- and records acceptance. message_id is stable, so a retry is the same message.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      TEXT NOT NULL UNIQUE,
    job             TEXT,
    run_id          INTEGER,
    envelope_from   TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- Which findings an alert job has already sent: a key is alerted once, again
-- only after it resolved and came back (row deleted) or after the job's
-- re-alert interval.
CREATE TABLE alert_state (
    job              TEXT NOT NULL,
    rule             TEXT NOT NULL,
    subject_type     TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    first_alerted_at INTEGER NOT NULL,
    last_alerted_at  INTEGER NOT NULL,
    run_id           INTEGER NOT NULL,
    PRIMARY KEY (job, rule, subject_type, subject_id)
);
