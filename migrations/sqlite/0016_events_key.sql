-- SQLite has no partitions (retention deletes in batches there:
-- store::retention); this is the other half of PostgreSQL's 0016. The
-- events key becomes (id, occurred_at) as it must there, so that both
-- backends treat a re-sent event alike: the same id at the same instant is
-- the same event (updated in place), the same id at another instant is
-- another event (an event log is append-only). SQLite cannot change a
-- primary key in place: the table is rebuilt.

CREATE TABLE events_rekeyed (
    id           TEXT NOT NULL,
    occurred_at  INTEGER NOT NULL,
    principal_id TEXT,
    action       TEXT NOT NULL,
    object_type  TEXT,
    record_count INTEGER,
    ip           TEXT,
    device_id    TEXT,
    outcome      TEXT CHECK (outcome IN ('success', 'failure')),
    PRIMARY KEY (id, occurred_at)
);
INSERT INTO events_rekeyed (id, occurred_at, principal_id, action, object_type, record_count, ip, device_id, outcome)
SELECT id, occurred_at, principal_id, action, object_type, record_count, ip, device_id, outcome FROM events;
DROP TABLE events;
ALTER TABLE events_rekeyed RENAME TO events;
CREATE INDEX events_principal_action_time ON events (principal_id, action, occurred_at);
CREATE INDEX events_action_time ON events (action, occurred_at);
CREATE INDEX events_time ON events (occurred_at);

-- Every retention run (store::retention): the horizon a run as of an
-- earlier instant is checked against (engine::run).
CREATE TABLE retention_log (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    at                 INTEGER NOT NULL,
    cutoff             INTEGER NOT NULL,
    keep               TEXT NOT NULL,
    rows_removed       INTEGER NOT NULL,
    partitions_dropped TEXT NOT NULL
);
