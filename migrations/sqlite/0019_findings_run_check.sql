-- PostgreSQL's 0019 checks the findings' run once per statement instead of
-- per row, because its foreign key check locks the run's row for every
-- finding. SQLite checks the same key with one rowid seek per row, which
-- costs nothing measurable: nothing to change here; the file keeps the two
-- backends' migrations numbered alike.
SELECT 1;
