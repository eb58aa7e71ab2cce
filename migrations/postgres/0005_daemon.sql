-- The daemon's record: scheduled job slots (run exactly once, even with
-- several daemons on one database), the mail outbox, alert de-duplication.

-- One row per (job, scheduled instant). A daemon owns a slot while its lease
-- runs; a crashed owner's slot is taken over when the lease has expired.
CREATE TABLE job_slots (
    job          TEXT NOT NULL,
    slot_at      TIMESTAMPTZ NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'retrying', 'done', 'abandoned')),
    owner        TEXT NOT NULL,
    lease_until  TIMESTAMPTZ NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    run_id       BIGINT,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    error        TEXT,
    PRIMARY KEY (job, slot_at)
);

-- A rendered message is stored here before any send; the sender delivers it
-- and records acceptance. message_id is stable, so a retry is the same message.
CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    job             TEXT,
    run_id          BIGINT,
    envelope_from   TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ,
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
    first_alerted_at TIMESTAMPTZ NOT NULL,
    last_alerted_at  TIMESTAMPTZ NOT NULL,
    run_id           BIGINT NOT NULL,
    PRIMARY KEY (job, rule, subject_type, subject_id)
);
