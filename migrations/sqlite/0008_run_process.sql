-- A run records the process that runs it (host, pid), so that a run left
-- `running` by a process that died is marked `abandoned` (with the reason in
-- `error`) instead of running forever in the history.
ALTER TABLE runs ADD COLUMN host TEXT;
ALTER TABLE runs ADD COLUMN pid INTEGER;

-- SQLite cannot change a CHECK constraint with ALTER TABLE, and rebuilding
-- `runs` would cascade into its findings while foreign keys are on. Adding a
-- value a CHECK allows is the documented case for editing the table's
-- definition in place (https://sqlite.org/lang_altertable.html, "making
-- other kinds of table schema changes"): existing rows stay valid.
PRAGMA writable_schema = ON;
UPDATE sqlite_master
   SET sql = replace(sql,
                     'CHECK (status IN (''running'', ''succeeded'', ''failed''))',
                     'CHECK (status IN (''running'', ''succeeded'', ''failed'', ''abandoned''))')
 WHERE type = 'table' AND name = 'runs';
PRAGMA writable_schema = OFF;
-- The migration fails unless the definition was found and changed.
CREATE TEMP TABLE migration_check (changed INTEGER CHECK (changed = 1));
INSERT INTO migration_check
    SELECT instr(sql, '''abandoned''') > 0 FROM sqlite_master WHERE type = 'table' AND name = 'runs';
DROP TABLE migration_check;
-- A schema change after the edit makes every connection read the new
-- definition; the index serves the look for runs left running.
CREATE INDEX runs_status ON runs (status);
