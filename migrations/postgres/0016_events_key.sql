-- The key of an event becomes (id, occurred_at), on SQLite too (its
-- 0016), so that both backends treat a re-sent event alike, and so that
-- the table can be partitioned by month (`accessaudit migrate
-- --partition-events`, store::partitions: PostgreSQL requires a unique key
-- of a partitioned table to include the partition column). An event log is
-- append-only: the same id at the same instant is the same event
-- (re-imported or re-synced: updated in place); the same id at another
-- instant is another event, and both are kept.
--
-- Partitioning is not done here: measured at 100k accounts, the rules that
-- look for an account's last event of any age (idle-accounts,
-- departed-still-active, over-privileged) are 1.6-2.1x slower on a table of
-- 19 months (one index probe per month): a deployment chooses it for
-- retention by whole months (BENCHMARKS.md).

ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD PRIMARY KEY (id, occurred_at);

-- Every retention run (store::retention): the horizon a run as of an
-- earlier instant is checked against (engine::run).
CREATE TABLE retention_log (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                 TIMESTAMPTZ NOT NULL,
    cutoff             TIMESTAMPTZ NOT NULL,
    keep               TEXT NOT NULL,
    rows_removed       BIGINT NOT NULL,
    partitions_dropped TEXT NOT NULL
);
