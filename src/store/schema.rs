//! The store's tables by who may read them.

/// What a deployment's SQL (custom rules) may read: the canonical tables and
/// the history kept of them. The engine's own tables (runs, findings,
/// reports, outbox, slots, exceptions…) are out of its reach: on SQLite the
/// scan authorizer enforces this list; on PostgreSQL the scan role's grants
/// do (README, "Database roles").
pub static SCAN_READABLE: [&str; 9] = [
    "people",
    "principals",
    "roles",
    "role_permissions",
    "grants",
    "events",
    "principal_history",
    "access_changes",
    // What closed access reviews asked IT to revoke: the input of
    // review-revocation-pending, as much a fact for rules as a grant.
    "review_revocations",
];

/// The engine's own tables: what it records of runs, reports, deliveries,
/// schedules, exceptions and syncs. Never readable by a deployment's SQL.
/// (With `SCAN_READABLE`, every table the migrations make: a test holds
/// the two lists to the schema.)
pub static ENGINE_TABLES: [&str; 25] = [
    "runs",
    "rule_outcomes",
    "findings",
    "reports",
    // A report's CSV too large to attach, archived by its SHA-256 in chunks.
    "report_files",
    "report_file_chunks",
    "outbox",
    "job_slots",
    "exceptions",
    "alert_state",
    "syncs",
    "source_rows",
    "source_watermarks",
    "deployment",
    "ledger",
    "ledger_adopt",
    "review_campaigns",
    "review_items",
    "review_assignments",
    "review_decisions",
    "review_links",
    "review_notices",
    "review_reports",
    // Retention runs (store::retention): the horizon of `run --as-of`.
    "retention_log",
    "_sqlx_migrations",
];
