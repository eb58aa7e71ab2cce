-- A run records the process that runs it (host, pid), so that a run left
-- `running` by a process that died is marked `abandoned` (with the reason in
-- `error`) instead of running forever in the history.
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned'));
ALTER TABLE runs ADD COLUMN host TEXT, ADD COLUMN pid INTEGER;
CREATE INDEX runs_status ON runs (status);
