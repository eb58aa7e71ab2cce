-- Exact history (issue 16): where a grant's `granted_at` comes from, so a
-- report and `run --as-of` can tell a date the source gave from one the
-- sync inferred. Written by `accessaudit sync` only; NULL for rows written
-- otherwise (CSV import, rule-test fixtures), whose date is the data's own.
--   source        the source gave the date
--   first_seen    the source gives none: the sync that first saw the grant
--   account_start the synthetic super-user grant (privileged.principals):
--                 the account's own created_at
--   clamped       the source's date fell inside an archived interval of the
--                 same grant (revoked, then granted again): the re-grant
--                 starts at the sync that saw it again
ALTER TABLE grants ADD COLUMN granted_at_basis TEXT
    CHECK (granted_at_basis IN ('source', 'first_seen', 'account_start', 'clamped'));

-- Grants synced before this migration: a date equal to the instant of one
-- of the source's syncs was set by that sync (a source's own date matching
-- a sync to the microsecond is not credible); other synced grants carry the
-- source's date.
UPDATE grants SET granted_at_basis = CASE
        WHEN granted_at IN (SELECT started_at FROM syncs WHERE status = 'succeeded')
            THEN 'first_seen'
        ELSE 'source'
    END
    WHERE split_part(id, '@', 1) IN
        (SELECT row_key FROM source_rows WHERE table_name = 'grants');
