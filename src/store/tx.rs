//! A transaction on either backend: the one way statements reach the
//! database, every value bound.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::AssertSqlSafe;

use super::backend::Backend;
use super::error::{Result, StoreError, refuse_several};
use super::value::{DbRow, SqlValue, bind_postgres, bind_sqlite};

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
                let q = bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params);
                q.fetch(&mut **tx)
                    .map(|r| r.map(DbRow::Sqlite).map_err(StoreError::from))
                    .boxed()
            }
            Tx::Postgres(tx) => {
                // `query` always carries arguments (empty or not), so sqlx
                // uses the extended protocol: one statement, prepared.
                let q = bind_postgres(sqlx::query(AssertSqlSafe(sql)), params);
                q.fetch(&mut **tx)
                    .map(|r| r.map(DbRow::Postgres).map_err(refuse_several))
                    .boxed()
            }
        }
    }

    /// Gets ready to run untrusted SQL (a custom rule) in this scan: on
    /// SQLite the connection's authorizer becomes the strict one (read the
    /// canonical tables, core functions, nothing else) and SQLite's parser
    /// checks that `sql` is exactly one read-only SELECT. On PostgreSQL the
    /// prepared statement does the same (see `fetch`), and the scan's
    /// settings are asserted again before each rule (`Store::rearm_scan`).
    /// Call `end_untrusted` after it, whatever happened, before our own
    /// statements run again.
    pub async fn begin_untrusted(&mut self, sql: &str) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => super::untrusted::begin_untrusted(tx, sql).await,
            Tx::Postgres(_) => Ok(()),
        }
    }

    /// Puts back the authorizer of our own statements (SQLite).
    pub async fn end_untrusted(&mut self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => super::untrusted::end_untrusted(tx).await,
            Tx::Postgres(_) => Ok(()),
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
            Tx::Sqlite(tx) => bind_sqlite(sqlx::query(AssertSqlSafe(sql)), params)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::Postgres(tx) => bind_postgres(sqlx::query(AssertSqlSafe(sql)), params)
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
