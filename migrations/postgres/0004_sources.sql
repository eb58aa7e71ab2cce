-- Source mappings (accessaudit sync): what each source owns, event watermarks,
-- and the history of accounts and grants. The canonical tables stay the
-- contract; history lives beside them. Timestamps: timestamptz.

-- Each sync of a source: when, how it ended, what it read.
CREATE TABLE syncs (
    id          BIGSERIAL PRIMARY KEY,
    source      TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    summary     TEXT,
    error       TEXT
);
CREATE INDEX syncs_source ON syncs (source, started_at);

-- The canonical rows a feed of a source wrote in its last snapshot: a row
-- that a later snapshot no longer has is deleted (grants: revoked).
CREATE TABLE source_rows (
    source     TEXT NOT NULL,
    feed       TEXT NOT NULL,
    table_name TEXT NOT NULL,
    row_key    TEXT NOT NULL,
    PRIMARY KEY (source, feed, row_key)
);

-- How far an incremental feed (events) has read: the newest occurred_at seen.
CREATE TABLE source_watermarks (
    source    TEXT NOT NULL,
    feed      TEXT NOT NULL,
    watermark TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, feed)
);

-- Every version of a synced account, valid from valid_from until valid_to
-- (NULL: still current). `run --as-of` reads the version valid at T.
CREATE TABLE principal_history (
    principal_id        TEXT NOT NULL,
    source              TEXT NOT NULL,
    valid_from          TIMESTAMPTZ NOT NULL,
    valid_to            TIMESTAMPTZ,
    fingerprint         TEXT NOT NULL,
    login               TEXT NOT NULL,
    display_name        TEXT,
    email               TEXT,
    person_id           TEXT,
    department          TEXT,
    account_type        TEXT NOT NULL,
    status              TEXT NOT NULL,
    mfa_enabled         BOOLEAN,
    created_at          TIMESTAMPTZ,
    last_login_at       TIMESTAMPTZ,
    password_changed_at TIMESTAMPTZ,
    PRIMARY KEY (principal_id, valid_from)
);
CREATE INDEX principal_history_open ON principal_history (valid_to);

-- Grants and revokes found by snapshot diffs (the sources do not log them).
CREATE TABLE access_changes (
    id           BIGSERIAL PRIMARY KEY,
    sync_id      BIGINT,
    source       TEXT NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    change       TEXT NOT NULL CHECK (change IN ('grant', 'revoke')),
    grant_id     TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    role_id      TEXT NOT NULL
);
CREATE INDEX access_changes_at ON access_changes (at);
