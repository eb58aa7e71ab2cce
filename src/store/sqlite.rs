//! SQLite: the embedded default.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use super::error::{Result, StoreError};
use super::tx::Tx;
use super::untrusted;

/// SQLite has no statement timeout. Every read-only connection gets a progress
/// handler that interrupts its statement once the scan deadline has passed;
/// `begin_scan` moves the deadline. (Scans share one deadline: they are
/// sequential within a process.)
#[derive(Debug, Clone)]
pub(super) struct ScanDeadline {
    origin: Instant,
    /// Milliseconds after `origin`; `u64::MAX` = none.
    at_ms: Arc<AtomicU64>,
}

impl ScanDeadline {
    fn new() -> Self {
        ScanDeadline {
            origin: Instant::now(),
            at_ms: Arc::new(AtomicU64::new(u64::MAX)),
        }
    }
    pub(super) fn set(&self, timeout: Duration) {
        let at = self.origin.elapsed().saturating_add(timeout).as_millis();
        self.at_ms
            .store(u64::try_from(at).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
    fn passed(&self) -> bool {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        now >= self.at_ms.load(Ordering::Relaxed)
    }
}

/// The file a `sqlite:` URL names (`None` for an in-memory database or a
/// URL that is not SQLite's).
pub(super) fn file_of(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    (!path.as_os_str().is_empty() && path != std::path::Path::new(":memory:"))
        .then(|| path.to_path_buf())
}

/// Opens a read-write pool (creating the file when missing) and a read-only
/// pool for scans, so that nothing a rule runs can write.
pub(super) async fn connect(url: &str) -> Result<(SqlitePool, SqlitePool, ScanDeadline, bool)> {
    let err = |source| StoreError::Connect {
        url: url.to_string(),
        source,
    };
    let parsed = SqliteConnectOptions::from_str(url).map_err(err)?;
    let read_only = is_read_only(url, &parsed);
    let base = parsed
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true)
        // 16 MiB of page cache per connection instead of 2 MiB: index inserts
        // of bulk imports and the rules' scans stay in memory much longer,
        // and the process stays under 100 MB (measured: docs/ARCHITECTURE.md).
        .pragma("cache_size", "-16384");
    let base = if read_only {
        // A file we may not write (an auditor's copy, a read-only mount):
        // opened as it is, without the journal files a writer would make.
        base.read_only(true).immutable(true)
    } else {
        base.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
    };
    let rw = SqlitePoolOptions::new()
        .max_connections(if read_only { 1 } else { 4 })
        .connect_with(writer(base.clone(), read_only).create_if_missing(!read_only))
        .await
        .map_err(err)?;
    let deadline = ScanDeadline::new();
    let handler_deadline = deadline.clone();
    let ro = SqlitePoolOptions::new()
        .max_connections(2)
        .after_connect(move |conn, _| {
            let deadline = handler_deadline.clone();
            Box::pin(async move {
                let mut handle = conn.lock_handle().await?;
                // Returning false from the handler interrupts the statement.
                handle.set_progress_handler(10_000, move || !deadline.passed());
                untrusted::trust(&mut handle);
                Ok(())
            })
        })
        // A scan's sort keeps up to a page cache's worth in memory before it
        // writes to its temporary file (SQLite sizes it by `cache_size`, past
        // any heap limit): 8 MiB each for the scans, whose reads are mostly
        // seeks the operating system's cache serves as well.
        .connect_with(base.read_only(true).pragma("cache_size", "-8192"))
        .await
        .map_err(err)?;
    bound_memory(&rw).await.map_err(err)?;
    Ok((rw, ro, deadline, read_only))
}

/// What SQLite may hold in this process, all connections together, unless
/// a caller bound it otherwise (`Store::hold_cache_bound`).
const SOFT_HEAP_LIMIT: i64 = 32 << 20;

/// Puts the page caches of all SQLite connections under one bound (`PRAGMA
/// soft_heap_limit`, process-wide): past it, caches reuse their pages
/// instead of growing. It does not bound a sort, which keeps up to its
/// connection's page cache size in memory whatever the limit (measured:
/// BENCHMARKS.md, "A monthly run back under 100 MB"); the scan pool's
/// smaller cache does that. A bound already set (by a report, or another
/// store of this process) is kept.
async fn bound_memory(pool: &SqlitePool) -> std::result::Result<(), sqlx::Error> {
    if soft_heap_limit(pool).await? == 0 {
        set_soft_heap_limit(pool, SOFT_HEAP_LIMIT).await?;
    }
    Ok(())
}

/// The process-wide `soft_heap_limit` in force (0: none).
pub(super) async fn soft_heap_limit(pool: &SqlitePool) -> std::result::Result<i64, sqlx::Error> {
    let (limit,): (i64,) = sqlx::query_as("PRAGMA soft_heap_limit")
        .fetch_one(pool)
        .await?;
    Ok(limit)
}

/// Sets the process-wide `soft_heap_limit` (0 or less: none).
pub(super) async fn set_soft_heap_limit(
    pool: &SqlitePool,
    bytes: i64,
) -> std::result::Result<(), sqlx::Error> {
    // A pragma's value cannot be bound; an integer formatted here is safe.
    let set = format!("PRAGMA soft_heap_limit = {}", bytes.max(0));
    sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(set))
        .fetch_one(pool)
        .await?;
    Ok(())
}

/// The cache bounds held in this process (`Store::hold_cache_bound`). The
/// limit is process-wide, so holders that overlap (two reports rendered at
/// once by the daemon) share it: the smallest bound held is in force, and
/// when the last is released the limit in force before the first comes
/// back. Each holder saving and restoring the limit itself left the
/// process at whatever bound the first to finish had replaced.
struct CacheHolds {
    /// The limit before the first of the holds now held.
    before: i64,
    held: Vec<(u64, i64)>,
    next: u64,
}

impl CacheHolds {
    /// The limit these holds ask for.
    fn limit(&self) -> i64 {
        self.held
            .iter()
            .map(|&(_, bytes)| bytes)
            .min()
            .unwrap_or(self.before)
    }
}

static CACHE_HOLDS: tokio::sync::Mutex<CacheHolds> = tokio::sync::Mutex::const_new(CacheHolds {
    before: 0,
    held: Vec::new(),
    next: 0,
});

/// A bound on the page caches of every SQLite connection of the process,
/// in force until `release`, or until it is dropped (see `CacheHolds`).
#[derive(Debug)]
pub struct CacheHold {
    id: u64,
    /// None once given up.
    pool: Option<SqlitePool>,
}

impl CacheHold {
    pub(super) async fn take(pool: &SqlitePool, bytes: i64) -> Result<CacheHold> {
        let mut holds = CACHE_HOLDS.lock().await;
        if holds.held.is_empty() {
            holds.before = soft_heap_limit(pool).await?;
        }
        let id = holds.next;
        holds.next += 1;
        holds.held.push((id, bytes));
        if let Err(e) = set_soft_heap_limit(pool, holds.limit()).await {
            holds.held.retain(|&(held, _)| held != id);
            return Err(e.into());
        }
        Ok(CacheHold {
            id,
            pool: Some(pool.clone()),
        })
    }

    /// Changes this hold's bound.
    pub async fn change(&mut self, bytes: i64) -> Result<()> {
        let Some(pool) = &self.pool else {
            return Ok(());
        };
        let mut holds = CACHE_HOLDS.lock().await;
        for held in holds.held.iter_mut().filter(|(id, _)| *id == self.id) {
            held.1 = bytes;
        }
        Ok(set_soft_heap_limit(pool, holds.limit()).await?)
    }

    /// Gives the bound up: the others held, or the limit before them all,
    /// are in force again.
    pub async fn release(mut self) -> Result<()> {
        match self.pool.take() {
            Some(pool) => give_up(self.id, &pool).await,
            None => Ok(()),
        }
    }
}

impl Drop for CacheHold {
    /// A hold dropped unreleased (the report holding it was cancelled, or
    /// its task panicked) gives its bound up on the runtime: otherwise the
    /// process would keep the smallest bound ever held.
    fn drop(&mut self) {
        let (Some(pool), Ok(runtime)) = (self.pool.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let id = self.id;
        runtime.spawn(async move {
            if let Err(e) = give_up(id, &pool).await {
                tracing::warn!(error = %e, "could not give a dropped cache bound up");
            }
        });
    }
}

/// Forgets hold `id` and sets the limit the others ask for.
async fn give_up(id: u64, pool: &SqlitePool) -> Result<()> {
    let mut holds = CACHE_HOLDS.lock().await;
    holds.held.retain(|&(held, _)| held != id);
    Ok(set_soft_heap_limit(pool, holds.limit()).await?)
}

/// The writers' options: incremental auto-vacuum, so that retention can
/// hand freed pages back to the file system a few at a time
/// (store::retention). SQLite applies it only before the first table is
/// created (sqlx sets it before the journal mode): new stores get it, an
/// existing one keeps its mode until a VACUUM (README, "Retention"). Not on
/// read-only connections, which may not set it.
fn writer(options: SqliteConnectOptions, read_only: bool) -> SqliteConnectOptions {
    if read_only {
        options
    } else {
        options.auto_vacuum(SqliteAutoVacuum::Incremental)
    }
}

/// Whether the database must be opened read-only: the URL says so
/// (`?mode=ro`), or the file exists and this process may not write it.
fn is_read_only(url: &str, options: &SqliteConnectOptions) -> bool {
    if url.contains("mode=ro") {
        return true;
    }
    let path = options.get_filename();
    path.exists()
        && std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
}

/// A deferred transaction on a read-only connection: it reads one snapshot
/// (WAL) and cannot write, and its statements stop at the deadline.
pub(super) async fn begin_scan(
    pool: &SqlitePool,
    deadline: &ScanDeadline,
    timeout: Duration,
) -> Result<Tx> {
    deadline.set(timeout);
    Ok(Tx::Sqlite(pool.begin().await?))
}

#[cfg(test)]
mod tests {
    use super::CacheHolds;

    #[test]
    fn the_smallest_hold_is_in_force_and_none_gives_the_limit_before() {
        let mut holds = CacheHolds {
            before: 32 << 20,
            held: vec![(0, 16 << 20), (1, 1 << 20)],
            next: 2,
        };
        assert_eq!(holds.limit(), 1 << 20);
        holds.held.retain(|&(id, _)| id != 1);
        assert_eq!(holds.limit(), 16 << 20);
        holds.held.clear();
        assert_eq!(holds.limit(), 32 << 20);
    }
}
