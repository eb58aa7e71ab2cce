-- Access reviews (certification campaigns). A campaign freezes its
-- population as of T: one item per live grant in scope, with the facts a
-- reviewer saw. Assignments and decisions are append-only: the current
-- reviewer and decision of an item are its latest rows, and every earlier
-- one stays as evidence. Links are stored only as SHA-256 hashes.

-- The owner of a role (a person, people.id): the reviewer of `role_owner`
-- campaigns.
ALTER TABLE roles ADD COLUMN owner_id TEXT;

CREATE TABLE review_campaigns (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    definition  TEXT NOT NULL,
    -- The scheduled instant that opened it (NULL: opened by hand); one
    -- campaign per definition and slot, however many daemons run.
    slot_at     INTEGER,
    as_of       INTEGER NOT NULL,
    opened_at   INTEGER NOT NULL,
    deadline    INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at   INTEGER,
    -- The definition as it was when the campaign opened (JSON): editing the
    -- configuration never changes a running campaign.
    settings    TEXT NOT NULL,
    UNIQUE (definition, slot_at)
);

CREATE TABLE review_items (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id  INTEGER NOT NULL REFERENCES review_campaigns (id),
    grant_id     TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    role_id      TEXT NOT NULL,
    person_id    TEXT,
    sensitive    INTEGER NOT NULL,
    -- SHA-256 of the facts that decide (account, role, permissions, scope):
    -- unchanged since the last campaign means a delta re-certification.
    fingerprint  TEXT NOT NULL,
    -- Everything the reviewer is shown (JSON), frozen at opening.
    context      TEXT NOT NULL,
    UNIQUE (campaign_id, grant_id)
);
CREATE INDEX review_items_grant ON review_items (grant_id);

CREATE TABLE review_assignments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id     INTEGER NOT NULL REFERENCES review_items (id),
    reviewer    TEXT NOT NULL,
    reason      TEXT NOT NULL CHECK (reason IN ('rule', 'fallback', 'self', 'delegated', 'escalated')),
    assigned_at INTEGER NOT NULL,
    assigned_by TEXT
);
CREATE INDEX review_assignments_item ON review_assignments (item_id, id);

CREATE TABLE review_decisions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id       INTEGER NOT NULL REFERENCES review_items (id),
    campaign_id   INTEGER NOT NULL REFERENCES review_campaigns (id),
    decision      TEXT NOT NULL CHECK (decision IN ('keep', 'revoke')),
    justification TEXT,
    decided_by    TEXT NOT NULL,
    decided_at    INTEGER NOT NULL,
    source        TEXT NOT NULL CHECK (source IN ('page', 'cli', 'import', 'policy', 'delta')),
    -- The fingerprint of the facts the decision was taken on.
    facts         TEXT NOT NULL
);
CREATE INDEX review_decisions_item ON review_decisions (item_id, id);

CREATE TABLE review_links (
    token_sha256 TEXT PRIMARY KEY NOT NULL,
    campaign_id  INTEGER NOT NULL REFERENCES review_campaigns (id),
    reviewer     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);

-- Messages of a campaign already handed to the outbox (invitation,
-- reminders, escalations): each at most once. The reviewer's link is
-- minted when the message is sent, found by its Message-ID.
CREATE TABLE review_notices (
    campaign_id INTEGER NOT NULL REFERENCES review_campaigns (id),
    reviewer    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    message_id  TEXT NOT NULL UNIQUE,
    sent_at     INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, reviewer, kind)
);

-- What a closed campaign asked IT to revoke, and by when: what the rule
-- review-revocation-pending checks against later syncs and imports.
CREATE TABLE review_revocations (
    item_id      INTEGER PRIMARY KEY NOT NULL,
    campaign_id  INTEGER NOT NULL,
    campaign     TEXT NOT NULL,
    grant_id     TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    role_id      TEXT NOT NULL,
    decided_by   TEXT NOT NULL,
    decided_at   INTEGER NOT NULL,
    due_at       INTEGER NOT NULL
);
CREATE INDEX review_revocations_grant ON review_revocations (grant_id);

-- A closed campaign's evidence report, byte for byte, with its SHA-256.
CREATE TABLE review_reports (
    campaign_id INTEGER PRIMARY KEY NOT NULL REFERENCES review_campaigns (id),
    message_id  TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    eml         BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
