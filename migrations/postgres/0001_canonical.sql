-- The canonical model of DESIGN.md, for PostgreSQL.

CREATE TABLE people (
    id                TEXT PRIMARY KEY,
    email             TEXT,
    full_name         TEXT,
    department        TEXT,
    title             TEXT,
    manager_id        TEXT,
    employment_status TEXT NOT NULL CHECK (employment_status IN ('active', 'on_leave', 'terminated')),
    hired_at          TIMESTAMPTZ,
    terminated_at     TIMESTAMPTZ,
    department_since  TIMESTAMPTZ
);
-- ASCII case folding, as SQLite's lower() does (Backend::fold_case).
CREATE INDEX people_email_ci ON people (translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'));

CREATE TABLE principals (
    id                  TEXT PRIMARY KEY,
    login               TEXT NOT NULL,
    display_name        TEXT,
    email               TEXT,
    person_id           TEXT,
    department          TEXT,
    account_type        TEXT NOT NULL DEFAULT 'human' CHECK (account_type IN ('human', 'service', 'shared', 'external')),
    status              TEXT NOT NULL CHECK (status IN ('active', 'pending', 'disabled', 'locked')),
    mfa_enabled         BOOLEAN,
    created_at          TIMESTAMPTZ,
    last_login_at       TIMESTAMPTZ,
    password_changed_at TIMESTAMPTZ
);
CREATE INDEX principals_person ON principals (person_id);
CREATE INDEX principals_email_ci ON principals (translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'));

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT,
    data_scope  TEXT CHECK (data_scope IN ('self', 'subordinates', 'department', 'department_tree', 'custom', 'all')),
    privileged  BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE role_permissions (
    role_id    TEXT NOT NULL,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE grants (
    id           TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL,
    role_id      TEXT NOT NULL,
    granted_at   TIMESTAMPTZ,
    granted_by   TEXT,
    approved_by  TEXT,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX grants_principal ON grants (principal_id);
CREATE INDEX grants_role ON grants (role_id);

CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    occurred_at  TIMESTAMPTZ NOT NULL,
    principal_id TEXT,
    action       TEXT NOT NULL,
    object_type  TEXT,
    record_count BIGINT,
    ip           TEXT,
    device_id    TEXT,
    outcome      TEXT CHECK (outcome IN ('success', 'failure'))
);
CREATE INDEX events_principal_action_time ON events (principal_id, action, occurred_at);
CREATE INDEX events_action_time ON events (action, occurred_at);
CREATE INDEX events_time ON events (occurred_at);
