-- Events partitioned by month (declarative range partitioning on
-- occurred_at), so that retention drops whole months instead of deleting
-- rows (`accessaudit retention`, store::retention). Run once, by
-- `accessaudit migrate --partition-events` (Store::partition_events), in
-- one transaction; every row is copied.
--
-- Partitions are `events_pYYYYMM` ([first instant of the month, first
-- instant of the next), UTC); `events_default` takes what falls outside
-- them, so an insert never fails. store::partitions creates months ahead
-- (migrate, the daemon) and moves a month's rows out of the default
-- partition when it creates that month. Here: every month the existing
-- rows fall in.

DROP INDEX events_principal_action_time;
DROP INDEX events_action_time;
DROP INDEX events_time;
ALTER TABLE events RENAME TO events_unpartitioned;
ALTER TABLE events_unpartitioned DROP CONSTRAINT events_pkey;

CREATE TABLE events (
    id           TEXT NOT NULL,
    occurred_at  TIMESTAMPTZ NOT NULL,
    principal_id TEXT,
    action       TEXT NOT NULL,
    object_type  TEXT,
    record_count BIGINT,
    ip           TEXT,
    device_id    TEXT,
    outcome      TEXT CHECK (outcome IN ('success', 'failure')),
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE TABLE events_default PARTITION OF events DEFAULT;

DO $$
DECLARE
    m TIMESTAMP;
    grantee TEXT;
    privilege TEXT;
BEGIN
    -- Months in UTC, whatever the session's time zone.
    FOR m IN SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')
               FROM events_unpartitioned LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
            'events_p' || to_char(m, 'YYYYMM'),
            to_char(m, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
            to_char(m + INTERVAL '1 month', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
    END LOOP;
    -- What roles were granted on the old table (a scan role's SELECT,
    -- README "Database roles") holds for the new one.
    FOR grantee, privilege IN
        SELECT g.grantee, g.privilege_type FROM information_schema.role_table_grants g
         WHERE g.table_schema = current_schema() AND g.table_name = 'events_unpartitioned'
           AND g.grantee <> current_user LOOP
        EXECUTE format('GRANT %s ON events TO %I', privilege, grantee);
    END LOOP;
END $$;

INSERT INTO events (id, occurred_at, principal_id, action, object_type, record_count, ip, device_id, outcome)
SELECT id, occurred_at, principal_id, action, object_type, record_count, ip, device_id, outcome
  FROM events_unpartitioned;
DROP TABLE events_unpartitioned;

-- On the parent: each partition gets its own, present and future.
CREATE INDEX events_principal_action_time ON events (principal_id, action, occurred_at, outcome);
CREATE INDEX events_action_time ON events (action, occurred_at);
CREATE INDEX events_time ON events (occurred_at);
