-- What was in force when a run ran (JSON): the SHA-256 of the config file,
-- each rule as loaded (its digest, files and parameters), the exceptions
-- that applied and the job's schedule and recipients. The monthly report
-- lists what changed since the previous run of the job; NULL for runs
-- recorded before this column.
ALTER TABLE runs ADD COLUMN settings TEXT;

-- What the source's account could write when it was synced (JSON:
-- read_only / can_write / not_checked): the report's data proof says which
-- sources were checked.
ALTER TABLE syncs ADD COLUMN write_check TEXT;
