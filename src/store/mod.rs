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

mod bulk;
mod canonical;
mod postgres;
mod sqlite;
mod value;

pub mod runs;

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};

pub use bulk::IndexDef;
pub use value::{DbRow, SqlValue};

/// Errors of the store: connecting, migrating, reading and writing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL `{0}`: expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open database {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("column `{column}`: {message}")]
    Decode { column: String, message: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store talks to; decides the few SQL spellings that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// SQL that is true when `expr` is one of the strings of the list bound
    /// at placeholder `$n` (a `SqlValue::TextList`).
    pub fn in_list(self, expr: &str, n: usize) -> String {
        match self {
            Backend::Sqlite => format!("{expr} IN (SELECT value FROM json_each(${n}))"),
            Backend::Postgres => format!("{expr} = ANY(${n}::text[])"),
        }
    }

    /// The placeholder of the `n`th parameter in a statement whose
    /// placeholders appear in binding order (bulk INSERTs). SQLite resolves a
    /// named `$n` by a linear search of the statement's names, so a statement
    /// with thousands of them costs quadratic time to prepare; a plain `?` is
    /// positional and free.
    pub fn sequential_param(self, n: usize) -> String {
        match self {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// A duration in the unit timestamps are compared in: SQLite stores
    /// microseconds, PostgreSQL takes an interval.
    pub fn interval(self, d: Duration) -> String {
        match self {
            Backend::Sqlite => format!("{}", d.as_micros()),
            Backend::Postgres => format!("INTERVAL '{} microseconds'", d.as_micros()),
        }
    }

    /// A derived table of `(k, v)` rows from a JSON object of string arrays
    /// bound at `$n` as text: `{"r1": ["export", "delete"]}` gives two rows.
    /// Give it an alias (`FROM … m`): PostgreSQL before 16 requires one.
    pub fn json_map_rows(self, n: usize) -> String {
        match self {
            Backend::Sqlite => format!(
                "(SELECT m.key AS k, a.value AS v FROM json_each(${n}) m, json_each(m.value) a)"
            ),
            Backend::Postgres => {
                format!(
                    "(SELECT m.key AS k, a.v FROM jsonb_each(${n}::jsonb) m, jsonb_array_elements_text(m.value) AS a(v))"
                )
            }
        }
    }

    /// `expr` with ASCII letters lower-cased, the same on both backends:
    /// SQLite's `lower` folds only ASCII, PostgreSQL's folds all of Unicode,
    /// and a rule must give the same findings on both. (The indexes on
    /// emails use this same expression.)
    pub fn fold_case(self, expr: &str) -> String {
        match self {
            Backend::Sqlite => format!("lower({expr})"),
            Backend::Postgres => format!("translate({expr}, '{ASCII_UPPER}', '{ASCII_LOWER}')"),
        }
    }

    /// An instant as an SQL literal, for the few places where a statement
    /// cannot take it as a parameter (see engine::principals_at). Only ever
    /// given a formatted `DateTime`, never user text.
    pub fn time_literal(self, t: chrono::DateTime<chrono::Utc>) -> String {
        match self {
            Backend::Sqlite => t.timestamp_micros().to_string(),
            Backend::Postgres => format!("TIMESTAMPTZ '{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
        }
    }

    /// The part of a login before `@` (the whole login where there is none).
    pub fn local_part(self, expr: &str) -> String {
        match self {
            Backend::Sqlite => format!(
                "(CASE WHEN instr({expr}, '@') > 0 THEN substr({expr}, 1, instr({expr}, '@') - 1) ELSE {expr} END)"
            ),
            Backend::Postgres => format!("split_part({expr}, '@', 1)"),
        }
    }
}

const ASCII_UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ASCII_LOWER: &str = "abcdefghijklmnopqrstuvwxyz";

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
}

#[derive(Clone, Debug)]
enum Pools {
    /// A read-write pool, and a pool opened read-only for scans.
    Sqlite {
        rw: SqlitePool,
        ro: SqlitePool,
        deadline: sqlite::ScanDeadline,
    },
    Postgres(PgPool),
}

impl Store {
    /// Opens the database named by `url`, creating a SQLite file when missing,
    /// and brings its schema up to date.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Store> {
        let store = Store::connect(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database without migrating it.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Store> {
        let pools = if url.starts_with("sqlite:") {
            let (rw, ro, deadline) = sqlite::connect(url).await?;
            Pools::Sqlite { rw, ro, deadline }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pools::Postgres(postgres::connect(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        Ok(Store { pools, options })
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the embedded migrations of this backend.
    pub async fn migrate(&self) -> Result<()> {
        match &self.pools {
            Pools::Sqlite { rw, .. } => sqlx::migrate!("./migrations/sqlite").run(rw).await?,
            Pools::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
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
            Pools::Postgres(pool) => {
                postgres::begin_scan(pool, self.options.statement_timeout).await
            }
        }
    }

    /// Restarts the statement timeout of scans. PostgreSQL times each
    /// statement itself; SQLite's deadline is ours, so the engine rearms it
    /// before each rule (and before cleaning up after one that timed out).
    pub fn rearm_statement_timeout(&self) {
        if let Pools::Sqlite { deadline, .. } = &self.pools {
            deadline.set(self.options.statement_timeout);
        }
    }

    /// Starts a read-write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match &self.pools {
            Pools::Sqlite { rw, .. } => Tx::Sqlite(rw.begin().await?),
            Pools::Postgres(pool) => Tx::Postgres(pool.begin().await?),
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

/// A transaction on either backend.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    /// Streams the rows of a query: nothing is held beyond the current row.
    pub fn fetch<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [SqlValue],
    ) -> BoxStream<'a, Result<DbRow>> {
        match self {
            Tx::Sqlite(tx) => {
                let q = sqlite::bind_all(sqlx::query(AssertSqlSafe(sql)), params);
                q.fetch(&mut **tx)
                    .map(|r| r.map(DbRow::Sqlite).map_err(StoreError::from))
                    .boxed()
            }
            Tx::Postgres(tx) => {
                let q = postgres::bind_all(sqlx::query(AssertSqlSafe(sql)), params);
                q.fetch(&mut **tx)
                    .map(|r| r.map(DbRow::Postgres).map_err(StoreError::from))
                    .boxed()
            }
        }
    }

    pub async fn fetch_all(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<DbRow>> {
        let mut out = Vec::new();
        let mut rows = self.fetch(sql, params);
        while let Some(row) = rows.next().await {
            out.push(row?);
        }
        Ok(out)
    }

    pub async fn fetch_optional(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Option<DbRow>> {
        let mut rows = self.fetch(sql, params);
        rows.next().await.transpose()
    }

    pub async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        Ok(match self {
            Tx::Sqlite(tx) => sqlite::bind_all(sqlx::query(AssertSqlSafe(sql)), params)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::Postgres(tx) => postgres::bind_all(sqlx::query(AssertSqlSafe(sql)), params)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// A database URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_appear_in_redacted_urls() {
        assert_eq!(
            redact_url("postgres://audit:s3cr%40t@db.example:5432/crm"),
            "postgres://audit:***@db.example:5432/crm"
        );
        assert_eq!(
            redact_url("sqlite://accessaudit.db"),
            "sqlite://accessaudit.db"
        );
        assert_eq!(
            redact_url("postgres://audit@db/crm"),
            "postgres://audit@db/crm"
        );
    }

    #[test]
    fn case_folding_is_ascii_on_both_backends() {
        assert_eq!(Backend::Sqlite.fold_case("p.email"), "lower(p.email)");
        assert_eq!(
            Backend::Postgres.fold_case("p.email"),
            "translate(p.email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
        );
    }

    #[test]
    fn lists_bind_as_json_on_sqlite_and_arrays_on_postgres() {
        assert_eq!(
            Backend::Sqlite.in_list("p.status", 2),
            "p.status IN (SELECT value FROM json_each($2))"
        );
        assert_eq!(
            Backend::Postgres.in_list("p.status", 2),
            "p.status = ANY($2::text[])"
        );
    }
}
