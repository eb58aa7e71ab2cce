-- The findings' foreign key to runs was checked row by row: a lookup and a
-- share lock on the run's row for every finding written. At 1M accounts,
-- idle-accounts' 277,053 findings made `run --rule idle-accounts` take
-- 7.9 s with it against 5.4-6.6 s without (BENCHMARKS.md). The same rule
-- is now checked once per INSERT statement, over the rows it inserted
-- (a batch of findings), and the cascade it declared is a trigger too,
-- for DELETE and for TRUNCATE (which used to refuse, or with CASCADE
-- take the findings along). accessaudit never deletes a run (runs are in
-- the ledger); the cascade is kept for whoever does.
ALTER TABLE findings DROP CONSTRAINT findings_run_id_fkey;

CREATE FUNCTION findings_of_existing_runs() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted i
                WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = i.run_id)) THEN
        RAISE EXCEPTION 'findings of a run that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER findings_of_existing_runs
    AFTER INSERT ON findings
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION findings_of_existing_runs();

CREATE FUNCTION findings_go_with_their_run() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    DELETE FROM findings f USING deleted d WHERE f.run_id = d.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER findings_go_with_their_run
    AFTER DELETE ON runs
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION findings_go_with_their_run();

CREATE FUNCTION findings_truncated_with_runs() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    TRUNCATE findings;
    RETURN NULL;
END
$$;

CREATE TRIGGER findings_truncated_with_runs
    AFTER TRUNCATE ON runs
    FOR EACH STATEMENT EXECUTE FUNCTION findings_truncated_with_runs();
