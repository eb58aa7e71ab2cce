-- What was in force when a run ran (JSON): the SHA-256 of the config file,
-- each rule as loaded (its digest, files and parameters), the exceptions
-- that applied and the job's schedule and recipients. The monthly report
-- lists what changed since the previous run of the job; NULL for runs
-- recorded before this column.
ALTER TABLE runs ADD COLUMN settings TEXT;
