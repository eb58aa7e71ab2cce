//! The only place that opens database connections.
//!
//! `Store` is one type over the backends (SQLite embedded, PostgreSQL for
//! production), chosen by the URL at run time. sqlx's `Any` driver cannot carry
//! timestamps or `$n` placeholders on PostgreSQL (see docs/ARCHITECTURE.md), so
//! each backend has its own typed pool and the differences (how a timestamp is
//! stored, how a list is bound) are confined to `value.rs` and to `Backend`.
//!
//! Every statement uses `$1, $2, …` placeholders: PostgreSQL's own, and accepted
//! by sqlx's SQLite driver as `?NNN` equivalents. Every value is bound, never
//! spliced.

mod backend;
mod bulk;
pub mod canonical;
mod error;
mod handle;
pub mod ledger;
pub mod partitions;
mod postgres;
mod privileges;
pub mod retention;
mod schema;
mod sqlite;
mod tx;
mod untrusted;
mod value;

pub mod runs;

use std::time::Duration;

use sqlx::{PgPool, SqlitePool};

pub use backend::Backend;
pub use bulk::{Appended, IndexDef};
pub use error::{Result, StoreError, redact_url};
pub use handle::lock_handle;
pub use privileges::ScanPrivileges;
pub use schema::{ENGINE_TABLES, SCAN_READABLE};
pub use tx::Tx;

/// A bound on SQLite's page caches held by `Store::hold_cache_bound`
/// (nothing on PostgreSQL).
#[derive(Debug)]
pub struct CacheBound(Option<sqlite::CacheHold>);

impl CacheBound {
    /// Changes the bound this hold asks for.
    pub async fn change(&mut self, bytes: i64) -> Result<()> {
        match &mut self.0 {
            Some(hold) => hold.change(bytes).await,
            None => Ok(()),
        }
    }

    /// Gives the bound up.
    pub async fn release(self) -> Result<()> {
        match self.0 {
            Some(hold) => hold.release().await,
            None => Ok(()),
        }
    }
}
pub(crate) use value::from_micros;
pub use value::{DbRow, SqlValue};

/// Connection settings that are not in the URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The longest a single scan statement may run before it is cancelled.
    pub statement_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            statement_timeout: Duration::from_secs(300),
        }
    }
}

/// The database behind accessaudit: canonical tables plus the engine's own.
#[derive(Clone, Debug)]
pub struct Store {
    pools: Pools,
    options: StoreOptions,
    /// A SQLite file this process may not write: scans only.
    read_only: bool,
}

#[derive(Clone, Debug)]
enum Pools {
    /// A read-write pool, and a pool opened read-only for scans.
    Sqlite {
        rw: SqlitePool,
        ro: SqlitePool,
        deadline: sqlite::ScanDeadline,
    },
    /// The pool of writes, and the pool scans use: the same one unless a
    /// scan role of its own is configured (`use_scan_database`).
    Postgres { pool: PgPool, scan: PgPool },
}

impl Store {
    /// Opens the database named by `url`, creating a SQLite file when missing,
    /// and brings its schema up to date.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Store> {
        let store = Store::connect(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens a database that must already hold accessaudit's schema (brought
    /// up to date when older): a command that reads never creates a SQLite
    /// file, nor the schema in a database that lacks it.
    pub async fn open_existing(url: &str, options: StoreOptions) -> Result<Store> {
        if let Some(path) = sqlite::file_of(url)
            && !path.exists()
        {
            return Err(StoreError::Missing(path.display().to_string()));
        }
        let store = Store::connect(url, options).await?;
        if !store.has_schema().await? {
            return Err(StoreError::NoSchema(redact_url(url)));
        }
        if !store.read_only {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// How many schema migrations the database has applied (0: none, no
    /// schema at all).
    pub async fn applied_migrations(&self) -> Result<i64> {
        if !self.has_schema().await? {
            return Ok(0);
        }
        self.count("SELECT COUNT(*) AS n FROM _sqlx_migrations", &[])
            .await
    }

    /// The number a one-row `SELECT COUNT(*) AS n …` gives (0 without a row).
    pub async fn count(&self, sql: &str, params: &[SqlValue]) -> Result<i64> {
        let rows = self.fetch_all(sql, params).await?;
        Ok(rows
            .first()
            .map(|r| r.i64("n"))
            .transpose()?
            .flatten()
            .unwrap_or(0))
    }

    /// Whether the database holds accessaudit's schema (its migrations table).
    async fn has_schema(&self) -> Result<bool> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) AS n FROM (SELECT to_regclass('_sqlx_migrations') AS t) AS r WHERE t IS NOT NULL"
            }
        };
        Ok(self.count(sql, &[]).await? > 0)
    }

    /// Opens the database without migrating it.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Store> {
        let mut read_only = false;
        let pools = if url.starts_with("sqlite:") {
            let (rw, ro, deadline, ro_file) = sqlite::connect(url).await?;
            read_only = ro_file;
            Pools::Sqlite { rw, ro, deadline }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = postgres::connect(url).await?;
            Pools::Postgres {
                scan: pool.clone(),
                pool,
            }
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        Ok(Store {
            pools,
            options,
            read_only,
        })
    }

    /// Whether the database cannot be written by this process (a read-only
    /// SQLite file): it can be audited, but a run is recorded elsewhere.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Closes the connections; on SQLite the write-ahead log is folded into
    /// the database file first, so that the file alone holds everything
    /// (a copy of it is complete).
    pub async fn close(&self) {
        if let Pools::Sqlite { rw, ro, .. } = &self.pools {
            if !self.read_only
                && let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(rw)
                    .await
            {
                tracing::warn!("could not checkpoint the SQLite write-ahead log: {e}");
            }
            // Closing waits for connections still lent out; a task that
            // died holding one must not keep the process from exiting.
            let closing = async {
                ro.close().await;
                rw.close().await;
            };
            if tokio::time::timeout(std::time::Duration::from_secs(5), closing)
                .await
                .is_err()
            {
                tracing::warn!("the database connections did not close within 5 s");
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Runs scans through a connection of their own (PostgreSQL): a role
    /// that may only read the canonical tables (README, "Database roles"),
    /// so that a deployment's SQL cannot reach the engine's tables, server
    /// files or other databases whatever it tries. It must name the same
    /// database as the store's URL.
    pub async fn use_scan_database(&mut self, url: &str) -> Result<()> {
        match &mut self.pools {
            Pools::Sqlite { .. } => Err(StoreError::ScanDatabase(
                "applies to PostgreSQL only (SQLite scans run on a read-only connection \
                 that reads the canonical tables only)"
                    .into(),
            )),
            Pools::Postgres { pool, scan } => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(StoreError::ScanDatabase(format!(
                        "`{}` is not a postgres:// URL",
                        redact_url(url)
                    )));
                }
                let candidate = postgres::connect(url).await?;
                let name = "SELECT current_database() AS db";
                let ours = postgres::text(pool, name).await?;
                let theirs = postgres::text(&candidate, name).await?;
                if ours != theirs {
                    return Err(StoreError::ScanDatabase(format!(
                        "`{}` names database `{theirs}`, the store is `{ours}`",
                        redact_url(url)
                    )));
                }
                *scan = candidate;
                Ok(())
            }
        }
    }

    /// What the role that scans run as may do beyond reading the canonical
    /// tables (`privileges.rs`).
    pub async fn scan_privileges(&self) -> Result<ScanPrivileges> {
        match &self.pools {
            Pools::Sqlite { .. } => Ok(ScanPrivileges::sqlite()),
            Pools::Postgres { pool, scan } => privileges::postgres(scan, pool).await,
        }
    }

    /// Applies the embedded migrations of this backend.
    pub async fn migrate(&self) -> Result<()> {
        match &self.pools {
            Pools::Sqlite { rw, .. } => {
                // A connection that edits a table's definition in place
                // (writable_schema: 0008) keeps the old definition, its
                // CHECKs, in memory until it is reopened; other connections
                // reload it. So the migrations run on a connection that then
                // leaves the pool and is closed.
                let mut conn = rw.acquire().await?;
                sqlx::migrate!("./migrations/sqlite")
                    .run(&mut *conn)
                    .await?;
                sqlx::Connection::close(conn.detach()).await?;
            }
            Pools::Postgres { pool, .. } => {
                sqlx::migrate!("./migrations/postgres").run(pool).await?
            }
        }
        // Records archived before the ledger existed are chained once, in
        // their order (SHA-256 is not in SQLite's SQL, so not in 0010).
        let adopted = ledger::adopt(self).await?;
        if adopted > 0 {
            tracing::info!("{adopted} archived record(s) chained into the ledger");
        }
        // The months of events ahead (PostgreSQL, partitioned), so that new
        // events land in their month rather than in the default partition.
        self.ensure_months_ahead(chrono::Utc::now()).await?;
        Ok(())
    }

    /// Partitions `events` by month (PostgreSQL; `migrate
    /// --partition-events`): every row copied in one transaction, the
    /// months it needs and those ahead created. Returns false when it
    /// already is; refused on SQLite, which has no partitions.
    pub async fn partition_events(&self) -> Result<bool> {
        if self.backend() != Backend::Postgres {
            return Err(StoreError::Refused(
                "SQLite has no partitions: retention deletes in batches there".into(),
            ));
        }
        // The check and the copy in one transaction.
        let mut tx = self.begin_write().await?;
        if partitions::is_partitioned(&mut tx).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Tx::Postgres(pg) = &mut tx {
            sqlx::raw_sql(include_str!("partition_events.sql"))
                .execute(&mut **pg)
                .await?;
        }
        tx.commit().await?;
        self.ensure_months_ahead(chrono::Utc::now()).await?;
        Ok(true)
    }

    /// The month of `now` and the next `partitions::MONTHS_AHEAD` of events
    /// (PostgreSQL; nothing on SQLite), in a transaction of their own: run
    /// by every migration and daily by the daemon. Returns the names created.
    pub async fn ensure_months_ahead(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>> {
        if self.backend() != Backend::Postgres {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let created =
            partitions::ensure_months(&mut tx, now, partitions::last_month_ahead(now)).await?;
        tx.commit().await?;
        if !created.is_empty() {
            tracing::info!(partitions = %created.join(", "), "event months created ahead");
        }
        Ok(created)
    }

    /// The deployment's stable id (table `deployment`, made by the
    /// migrations once per store): it names the store, not the URL it is
    /// reached by.
    pub async fn deployment_id(&self) -> Result<String> {
        let rows = self
            .fetch_all("SELECT id FROM deployment WHERE singleton = 1", &[])
            .await?;
        match rows.first() {
            Some(row) => row.req_text("id"),
            None => Err(StoreError::Decode {
                column: "deployment.id".into(),
                message: "the deployment row is missing (run `accessaudit migrate`)".into(),
            }),
        }
    }

    /// Starts a read-only transaction with a statement timeout, in which the
    /// rules of a run see one consistent snapshot of the canonical tables.
    pub async fn begin_scan(&self) -> Result<Tx> {
        match &self.pools {
            Pools::Sqlite { ro, deadline, .. } => {
                sqlite::begin_scan(ro, deadline, self.options.statement_timeout).await
            }
            Pools::Postgres { scan, .. } => {
                postgres::begin_scan(scan, self.options.statement_timeout).await
            }
        }
    }

    /// Like `rearm_scan`, for SQLite's deadline only: the engine calls it
    /// before cleaning up after a rule that failed (PostgreSQL takes no
    /// statement in a failed transaction before its rollback).
    pub fn rearm_deadline(&self) {
        if let Pools::Sqlite { deadline, .. } = &self.pools {
            deadline.set(self.options.statement_timeout);
        }
    }

    /// Restarts the statement timeout of a scan before each rule, after its
    /// savepoint. SQLite's deadline is ours and is moved. On PostgreSQL the
    /// settings scans rely on are set again in the transaction: a rule may
    /// have changed them with `set_config(…, true)`, which the RELEASE of
    /// its savepoint keeps for the rest of the run.
    pub async fn rearm_scan(&self, scan: &mut Tx) -> Result<()> {
        match &self.pools {
            Pools::Sqlite { deadline, .. } => deadline.set(self.options.statement_timeout),
            Pools::Postgres { .. } => {
                postgres::assert_scan_settings(scan, self.options.statement_timeout).await?
            }
        }
        Ok(())
    }

    /// Starts a read-write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match &self.pools {
            Pools::Sqlite { rw, .. } => Tx::Sqlite(rw.begin().await?),
            Pools::Postgres { pool, .. } => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Starts a read transaction whose result is larger than memory should
    /// hold in one sort (a run's findings in the report's order). SQLite
    /// keeps a sort in memory up to the size of the connection's page cache,
    /// then writes it to a temporary file: this connection's cache is small
    /// (a stream read once needs no large one), and the connection is
    /// closed afterwards, so no other statement inherits the setting.
    /// PostgreSQL spills by itself (`work_mem`).
    pub async fn begin_spilling(&self) -> Result<Tx> {
        Ok(match &self.pools {
            Pools::Sqlite { rw, .. } => {
                let mut conn = rw.acquire().await?;
                sqlx::query("PRAGMA cache_size = -2048")
                    .execute(&mut *conn)
                    .await?;
                conn.close_on_drop();
                Tx::Sqlite(sqlx::Transaction::begin(conn, None).await?)
            }
            Pools::Postgres { pool, .. } => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Bounds the memory all SQLite page caches of this process may hold
    /// together (`PRAGMA soft_heap_limit`: caches give pages back beyond it)
    /// until the hold is released; holds that overlap share the limit (the
    /// smallest wins, `sqlite::CacheHold`). PostgreSQL: nothing to bound. A
    /// report over a large run holds one while it reads, so that its lookups
    /// on several connections do not each fill a cache.
    pub async fn hold_cache_bound(&self, bytes: i64) -> Result<CacheBound> {
        match &self.pools {
            Pools::Sqlite { rw, .. } => {
                Ok(CacheBound(Some(sqlite::CacheHold::take(rw, bytes).await?)))
            }
            Pools::Postgres { .. } => Ok(CacheBound(None)),
        }
    }

    /// Empties the page caches of the SQLite connections idle in the pools
    /// (`PRAGMA shrink_memory`): a bound held by `hold_cache_bound` stops
    /// caches from growing but does not take back what each connection
    /// already holds (the bundled SQLite gives each connection a cache of
    /// its own). PostgreSQL: nothing to do.
    pub async fn release_cache_memory(&self) -> Result<()> {
        if let Pools::Sqlite { rw, ro, .. } = &self.pools {
            for pool in [rw, ro] {
                // Each idle connection once: held until all are done, so
                // that the pool does not hand the same one out again.
                let mut held = Vec::new();
                while let Some(mut conn) = pool.try_acquire() {
                    sqlx::query("PRAGMA shrink_memory")
                        .execute(&mut *conn)
                        .await?;
                    held.push(conn);
                }
            }
        }
        Ok(())
    }

    /// Starts a transaction that will write after it reads: on SQLite it
    /// takes the write lock at once (`BEGIN IMMEDIATE`), waiting its turn
    /// behind other writers, instead of failing at its first write when
    /// another process wrote since its reads began (SQLITE_BUSY_SNAPSHOT,
    /// which no busy timeout can wait out). On PostgreSQL, a transaction.
    /// A ledger append (`ledger::append`) needs it: the tail it reads stays
    /// the tail until it commits (on PostgreSQL the append locks the table).
    pub async fn begin_write(&self) -> Result<Tx> {
        Ok(match &self.pools {
            Pools::Sqlite { rw, .. } => Tx::Sqlite(rw.begin_with("BEGIN IMMEDIATE").await?),
            Pools::Postgres { pool, .. } => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Runs one statement outside a transaction; returns the rows it touched.
    pub async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let mut tx = self.begin().await?;
        let n = tx.execute(sql, params).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Reads all rows of a small query (a run's outcomes, a list of runs).
    pub async fn fetch_all(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<DbRow>> {
        let mut tx = self.begin().await?;
        let rows = tx.fetch_all(sql, params).await?;
        tx.commit().await?;
        Ok(rows)
    }
}
