-- The same CHECK constraints, spelled as OR chains instead of IN lists.
-- SQLite checks `x IN ('a', 'b', 'c')` (three values or more) by building an
-- ephemeral index of the list every time the statement runs, which is once
-- per inserted row: 277,000 findings took 3.4-4.2 s with the lists against
-- 1.5-1.7 s with OR chains or with no CHECK at all (measured with sqlite3,
-- BENCHMARKS.md). Bulk-written tables only; PostgreSQL is not affected.
--
-- The allowed values do not change, so every row stays valid: the
-- documented case for editing a table's definition in place
-- (https://sqlite.org/lang_altertable.html, "making other kinds of table
-- schema changes"), as migration 0008 did.
PRAGMA writable_schema = ON;
UPDATE sqlite_master
   SET sql = replace(replace(sql,
                'CHECK (employment_status IN (''active'', ''on_leave'', ''terminated''))',
                'CHECK (employment_status = ''active'' OR employment_status = ''on_leave'' OR employment_status = ''terminated'')'),
                'CHECK (worker_type IN (''employee'', ''contractor'', ''intern'', ''vendor''))',
                'CHECK (worker_type = ''employee'' OR worker_type = ''contractor'' OR worker_type = ''intern'' OR worker_type = ''vendor'')')
 WHERE type = 'table' AND name = 'people';
UPDATE sqlite_master
   SET sql = replace(replace(sql,
                'CHECK (account_type IN (''human'', ''service'', ''shared'', ''external''))',
                'CHECK (account_type = ''human'' OR account_type = ''service'' OR account_type = ''shared'' OR account_type = ''external'')'),
                'CHECK (status IN (''active'', ''pending'', ''disabled'', ''locked''))',
                'CHECK (status = ''active'' OR status = ''pending'' OR status = ''disabled'' OR status = ''locked'')')
 WHERE type = 'table' AND name = 'principals';
UPDATE sqlite_master
   SET sql = replace(sql,
                'CHECK (data_scope IN (''self'', ''subordinates'', ''department'', ''department_tree'', ''custom'', ''all''))',
                'CHECK (data_scope = ''self'' OR data_scope = ''subordinates'' OR data_scope = ''department'' OR data_scope = ''department_tree'' OR data_scope = ''custom'' OR data_scope = ''all'')')
 WHERE type = 'table' AND name = 'roles';
UPDATE sqlite_master
   SET sql = replace(sql,
                'CHECK (granted_at_basis IN (''source'', ''first_seen'', ''account_start'', ''clamped''))',
                'CHECK (granted_at_basis = ''source'' OR granted_at_basis = ''first_seen'' OR granted_at_basis = ''account_start'' OR granted_at_basis = ''clamped'')')
 WHERE type = 'table' AND name = 'grants';
UPDATE sqlite_master
   SET sql = replace(sql,
                'CHECK (status IN (''running'', ''succeeded'', ''failed'', ''abandoned''))',
                'CHECK (status = ''running'' OR status = ''succeeded'' OR status = ''failed'' OR status = ''abandoned'')')
 WHERE type = 'table' AND name = 'runs';
UPDATE sqlite_master
   SET sql = replace(sql,
                'CHECK (status IN (''running'', ''retrying'', ''done'', ''abandoned''))',
                'CHECK (status = ''running'' OR status = ''retrying'' OR status = ''done'' OR status = ''abandoned'')')
 WHERE type = 'table' AND name = 'job_slots';
UPDATE sqlite_master
   SET sql = replace(sql,
                'CHECK (status IN (''queued'', ''sending'', ''sent'', ''failed''))',
                'CHECK (status = ''queued'' OR status = ''sending'' OR status = ''sent'' OR status = ''failed'')')
 WHERE type = 'table' AND name = 'outbox';
UPDATE sqlite_master
   SET sql = replace(sql,
                'CHECK (status IN (''ok'', ''skipped'', ''not_applicable'', ''failed''))',
                'CHECK (status = ''ok'' OR status = ''skipped'' OR status = ''not_applicable'' OR status = ''failed'')')
 WHERE type = 'table' AND name = 'rule_outcomes';
UPDATE sqlite_master
   SET sql = replace(replace(sql,
                'CHECK (severity IN (''info'', ''low'', ''medium'', ''high'', ''critical''))',
                'CHECK (severity = ''info'' OR severity = ''low'' OR severity = ''medium'' OR severity = ''high'' OR severity = ''critical'')'),
                'CHECK (subject_type IN (''principal'', ''role'', ''grant'', ''person''))',
                'CHECK (subject_type = ''principal'' OR subject_type = ''role'' OR subject_type = ''grant'' OR subject_type = ''person'')')
 WHERE type = 'table' AND name = 'findings';
UPDATE sqlite_master
   SET sql = replace(sql,
                'CHECK (reason IN (''rule'', ''fallback'', ''self'', ''delegated'', ''escalated''))',
                'CHECK (reason = ''rule'' OR reason = ''fallback'' OR reason = ''self'' OR reason = ''delegated'' OR reason = ''escalated'')')
 WHERE type = 'table' AND name = 'review_assignments';
UPDATE sqlite_master
   SET sql = replace(replace(sql,
                'CHECK (decision IN (''keep'', ''revoke''))',
                'CHECK (decision = ''keep'' OR decision = ''revoke'')'),
                'CHECK (source IN (''page'', ''cli'', ''import'', ''policy'', ''delta''))',
                'CHECK (source = ''page'' OR source = ''cli'' OR source = ''import'' OR source = ''policy'' OR source = ''delta'')')
 WHERE type = 'table' AND name = 'review_decisions';
PRAGMA writable_schema = OFF;
-- The migration fails unless every list was found and changed: no table
-- above keeps an IN list.
CREATE TEMP TABLE migration_check (changed INTEGER CHECK (changed = 1));
INSERT INTO migration_check
    SELECT instr(sql, ' IN (') = 0 FROM sqlite_master
     WHERE type = 'table' AND name IN ('people', 'principals', 'roles', 'grants', 'runs', 'job_slots', 'outbox', 'rule_outcomes', 'findings', 'review_assignments', 'review_decisions');
DROP TABLE migration_check;
-- A schema change after the edit makes every connection read the new
-- definitions.
CREATE TABLE migration_0018_done (x INTEGER);
DROP TABLE migration_0018_done;
