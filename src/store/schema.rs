//! The store's tables by who may read them.

/// What a deployment's SQL (custom rules) may read: the canonical tables and
/// the history kept of them. The engine's own tables (runs, findings,
/// reports, outbox, slots, exceptions…) are out of its reach: on SQLite the
/// scan authorizer enforces this list; on PostgreSQL the scan role's grants
/// do (README, "Database roles").
pub static SCAN_READABLE: [&str; 8] = [
    "people",
    "principals",
    "roles",
    "role_permissions",
    "grants",
    "events",
    "principal_history",
    "access_changes",
];
