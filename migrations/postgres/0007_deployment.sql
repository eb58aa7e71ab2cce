-- The deployment's stable identity: made once, when the store is created (or
-- upgraded), and part of every report's Message-ID. It names the store, not
-- the URL it is reached by, so every process and every spelling of the URL
-- renders the same run to the same bytes. A configured `deployment:` takes
-- its place.
CREATE TABLE deployment (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    id          TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO deployment (singleton, id)
VALUES (1, md5(random()::text || clock_timestamp()::text || txid_current()::text));
