-- Most rules ask of an account's events "of this action, up to T, that
-- succeeded": the index on (principal, action, time) found them, and the
-- outcome of each was then read from the table row, a random read into
-- the largest table per event looked at. With outcome in the index the
-- index answers alone. At 1M accounts / 48.6M events (BENCHMARKS.md,
-- "outcome in the events index"): idle-accounts' query 1.5-1.6 s -> 0.94 s,
-- shared-account's run 10.2 s -> 3.8 s, for about 9 bytes more per event.
-- Same name, so that plans and comments that name it still do.
DROP INDEX events_principal_action_time;
CREATE INDEX events_principal_action_time ON events (principal_id, action, occurred_at, outcome);
