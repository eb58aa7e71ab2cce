-- The deployment's stable identity: made once, when the store is created (or
-- upgraded), and part of every report's Message-ID. It names the store, not
-- the URL it is reached by, so every process and every spelling of the URL
-- renders the same run to the same bytes. A configured `deployment:` takes
-- its place.
CREATE TABLE deployment (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    id          TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
INSERT INTO deployment (singleton, id, created_at)
VALUES (1, lower(hex(randomblob(16))), CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
