//! A deployment's SQL on a SQLite scan (a `sql` rule): the authorizer
//! policies of `accessaudit-sqlite-guard` and the switch between them. Our
//! own statements run under `TRUSTED`; a rule's query under `SCAN`, which
//! also has SQLite's parser check that it is exactly one read-only SELECT.

use accessaudit_sqlite_guard::{self as guard, Policy};
use sqlx::sqlite::LockedSqliteHandle;

use super::error::{Result, StoreError};
use super::schema::SCAN_READABLE;

/// Our own statements on scan connections: no ATTACH or DETACH.
static TRUSTED: Policy = Policy::Trusted;
/// A custom rule: the canonical tables and core functions only.
static SCAN: Policy = Policy::Untrusted {
    readable: Some(&SCAN_READABLE),
};

pub(super) async fn begin_untrusted(conn: &mut sqlx::SqliteConnection, sql: &str) -> Result<()> {
    let mut handle = super::handle::lock_handle(conn).await?;
    guard::install_authorizer(&mut handle, &SCAN);
    if let Err(e) = guard::single_statement(&mut handle, sql) {
        guard::install_authorizer(&mut handle, &TRUSTED);
        return Err(StoreError::Refused(e.to_string()));
    }
    Ok(())
}

pub(super) async fn end_untrusted(conn: &mut sqlx::SqliteConnection) -> Result<()> {
    guard::install_authorizer(&mut super::handle::lock_handle(conn).await?, &TRUSTED);
    Ok(())
}

/// Installs the policy of our own statements (every new scan connection).
pub(super) fn trust(handle: &mut LockedSqliteHandle<'_>) {
    guard::install_authorizer(handle, &TRUSTED);
}
