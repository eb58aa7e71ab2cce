-- Identity correlation by login (identity.match: login_is_mail_local_part):
-- an account's login is looked up among people's email local parts, one
-- seek per account on this index (store::Backend::mail_local_part_folded
-- spells the same expression).
CREATE INDEX people_mail_local_ci ON people (lower(substr(email, 1, instr(email, '@') - 1)));
