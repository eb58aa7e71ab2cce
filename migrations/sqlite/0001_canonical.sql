-- The canonical model of DESIGN.md, for SQLite.
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC): exact, compact,
-- and compared as integers by the rules. Booleans are 0/1.

CREATE TABLE people (
    id                TEXT PRIMARY KEY NOT NULL,
    email             TEXT,
    full_name         TEXT,
    department        TEXT,
    title             TEXT,
    manager_id        TEXT,
    employment_status TEXT NOT NULL CHECK (employment_status IN ('active', 'on_leave', 'terminated')),
    hired_at          INTEGER,
    terminated_at     INTEGER,
    department_since  INTEGER
);
CREATE INDEX people_email_ci ON people (lower(email));

CREATE TABLE principals (
    id                  TEXT PRIMARY KEY NOT NULL,
    login               TEXT NOT NULL,
    display_name        TEXT,
    email               TEXT,
    person_id           TEXT,
    department          TEXT,
    account_type        TEXT NOT NULL DEFAULT 'human' CHECK (account_type IN ('human', 'service', 'shared', 'external')),
    status              TEXT NOT NULL CHECK (status IN ('active', 'pending', 'disabled', 'locked')),
    mfa_enabled         INTEGER,
    created_at          INTEGER,
    last_login_at       INTEGER,
    password_changed_at INTEGER
);
CREATE INDEX principals_person ON principals (person_id);
CREATE INDEX principals_email_ci ON principals (lower(email));

CREATE TABLE roles (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    data_scope  TEXT CHECK (data_scope IN ('self', 'subordinates', 'department', 'department_tree', 'custom', 'all')),
    privileged  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE role_permissions (
    role_id    TEXT NOT NULL,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
) WITHOUT ROWID;

CREATE TABLE grants (
    id           TEXT PRIMARY KEY NOT NULL,
    principal_id TEXT NOT NULL,
    role_id      TEXT NOT NULL,
    granted_at   INTEGER,
    granted_by   TEXT,
    approved_by  TEXT,
    expires_at   INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX grants_principal ON grants (principal_id);
CREATE INDEX grants_role ON grants (role_id);

CREATE TABLE events (
    id           TEXT PRIMARY KEY NOT NULL,
    occurred_at  INTEGER NOT NULL,
    principal_id TEXT,
    action       TEXT NOT NULL,
    object_type  TEXT,
    record_count INTEGER,
    ip           TEXT,
    device_id    TEXT,
    outcome      TEXT CHECK (outcome IN ('success', 'failure'))
);
-- Per-account history of one action (last login, last export, exports in a window).
CREATE INDEX events_principal_action_time ON events (principal_id, action, occurred_at);
-- Scans of one action over a time range (all logins or exports of the lookback).
CREATE INDEX events_action_time ON events (action, occurred_at);
-- The freshness gate: the newest event at or before T.
CREATE INDEX events_time ON events (occurred_at);
