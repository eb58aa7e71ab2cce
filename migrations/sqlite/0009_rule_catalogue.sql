-- The rule catalogue: a rule whose data no row fills (no `expires_at`
-- anywhere, no `mfa_enabled`, …) is recorded as `not_applicable` with the
-- reason, never as a clean pass; and people carry their kind of work
-- (contractors, interns and vendors are watched by `non-employee-access`).
ALTER TABLE people ADD COLUMN worker_type TEXT
    CHECK (worker_type IN ('employee', 'contractor', 'intern', 'vendor'));

-- Adding a value a CHECK allows, in place (as in 0008_run_process.sql:
-- https://sqlite.org/lang_altertable.html, "making other kinds of table
-- schema changes"); existing rows stay valid.
PRAGMA writable_schema = ON;
UPDATE sqlite_master
   SET sql = replace(sql,
                     'CHECK (status IN (''ok'', ''skipped'', ''failed''))',
                     'CHECK (status IN (''ok'', ''skipped'', ''not_applicable'', ''failed''))')
 WHERE type = 'table' AND name = 'rule_outcomes';
PRAGMA writable_schema = OFF;
-- The migration fails unless the definition was found and changed.
CREATE TEMP TABLE migration_check (changed INTEGER CHECK (changed = 1));
INSERT INTO migration_check
    SELECT instr(sql, '''not_applicable''') > 0 FROM sqlite_master WHERE type = 'table' AND name = 'rule_outcomes';
DROP TABLE migration_check;
-- A schema change after the edit makes every connection read the new definition.
CREATE INDEX people_worker_type ON people (worker_type);
