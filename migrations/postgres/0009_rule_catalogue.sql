-- The rule catalogue: a rule whose data no row fills (no `expires_at`
-- anywhere, no `mfa_enabled`, …) is recorded as `not_applicable` with the
-- reason, never as a clean pass; a finding may be about a person (across
-- their accounts, for separation of duties); and people carry their kind of
-- work (contractors, interns and vendors are watched by `non-employee-access`).
ALTER TABLE people ADD COLUMN worker_type TEXT
    CHECK (worker_type IN ('employee', 'contractor', 'intern', 'vendor'));
ALTER TABLE rule_outcomes DROP CONSTRAINT rule_outcomes_status_check;
ALTER TABLE rule_outcomes ADD CONSTRAINT rule_outcomes_status_check
    CHECK (status IN ('ok', 'skipped', 'not_applicable', 'failed'));
ALTER TABLE findings DROP CONSTRAINT findings_subject_type_check;
ALTER TABLE findings ADD CONSTRAINT findings_subject_type_check
    CHECK (subject_type IN ('principal', 'role', 'grant', 'person'));
CREATE INDEX people_worker_type ON people (worker_type);
