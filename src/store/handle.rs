//! A SQLite connection's own handle, locked safely.
//!
//! sqlx hands a connection's handle out (`lock_handle`) by queueing for the
//! connection's mutex and sending its worker thread an "unlock" command; the
//! worker drops its hold and queues to take it back. When the handle is
//! locked and released again quickly (a rule's query per account), the
//! caller can win the free mutex before the worker queues, so an unlock
//! command is left over in the worker's channel each time. Those pile up
//! until the channel is full: the caller then waits, holding the handle, to
//! send one more, while the worker waits for the handle: a deadlock (seen
//! after ~1,000 queries in a row). Pinging the worker first, which it
//! answers after every command before it, leaves no unlock command over.

use sqlx::Connection as _;
use sqlx::SqliteConnection;
use sqlx::sqlite::LockedSqliteHandle;

/// Locks `conn`'s handle for the caller's own use (`accessaudit-sqlite-guard`).
pub async fn lock_handle(
    conn: &mut SqliteConnection,
) -> Result<LockedSqliteHandle<'_>, sqlx::Error> {
    conn.ping().await?;
    conn.lock_handle().await
}
