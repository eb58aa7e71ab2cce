-- No query looks findings up by key across runs: the lifecycle, alert state
-- and first-seen lookups all name a run, which the primary key serves.
-- Dropping the index halves the B-tree work of recording findings.
DROP INDEX findings_key;
