-- SQLite's 0018 spells its CHECK lists as OR chains, because SQLite builds
-- an ephemeral index of an IN list for every inserted row. PostgreSQL
-- checks an IN list as it is: nothing to change here; the file keeps the
-- two backends' migrations numbered alike.
SELECT 1;
