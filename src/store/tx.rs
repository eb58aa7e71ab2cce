//! A transaction on either backend: the one way statements reach the
//! database, every value bound.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::AssertSqlSafe;

use super::backend::Backend;
use super::error::{Result, StoreError, refuse_several};
use super::value::{CellRow, DbRow, SqlValue, bind_postgres, bind_sqlite};

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

    /// Logs a statement's text at trace level (`RUST_LOG=accessaudit::sql=trace`):
    /// the statement only, since values are bound and not all are for a log.
    pub(super) fn trace(&self, sql: &str) {
        tracing::trace!(target: "accessaudit::sql", backend = self.backend().name(), "{sql}");
    }

    /// Streams the rows of a query: nothing is held beyond the current row.
    pub fn fetch<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [SqlValue],
    ) -> BoxStream<'a, Result<DbRow>> {
        self.trace(sql);
        match self {
            Tx::Sqlite(tx) => sqlite_rows(tx, sql, params),
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
        self.trace(sql);
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

/// Rows between cooperative yields of [`sqlite_rows`]: a long scan steps
/// SQLite on the runtime's thread, and gives the daemon's other tasks (its
/// web server, other jobs) a turn this often.
const ROWS_PER_YIELD: usize = 256;

/// `Tx::fetch` on SQLite: the statement stepped on the connection's own
/// handle (`accessaudit_sqlite_guard::Rows`), every row read into owned
/// cells. The connection's authorizer, progress handler (the scan
/// deadline) and busy timeout apply as to sqlx's own statements.
fn sqlite_rows<'a>(
    tx: &'a mut sqlx::Transaction<'static, sqlx::Sqlite>,
    sql: &'a str,
    params: &'a [SqlValue],
) -> BoxStream<'a, Result<DbRow>> {
    use accessaudit_sqlite_guard::Rows;
    use std::sync::Arc;

    /// Where the stream stands: not started, stepping, or ended.
    enum State<'h> {
        Start(&'h mut sqlx::Transaction<'static, sqlx::Sqlite>),
        Rows(Rows<'h>, Arc<[String]>, usize),
        End,
    }
    let read = |e: accessaudit_sqlite_guard::GuardError| {
        StoreError::Read(if e.is_interrupt() {
            "interrupted: the scan's statement timeout passed (--statement-timeout, \
             `statement_timeout` in the config)"
                .to_string()
        } else {
            e.to_string()
        })
    };
    futures_util::stream::unfold(State::Start(tx), move |state| async move {
        let (mut rows, columns, mut stepped) = match state {
            State::End => return None,
            State::Rows(rows, columns, stepped) => (rows, columns, stepped),
            State::Start(tx) => {
                let handle = match super::handle::lock_handle(tx).await {
                    Ok(handle) => handle,
                    Err(e) => return Some((Err(e.into()), State::End)),
                };
                let prepared =
                    super::value::with_guard_values(params, |v| Rows::prepare(handle, sql, v));
                match prepared {
                    Err(e) => return Some((Err(e), State::End)),
                    Ok(Ok(rows)) => {
                        let columns: Arc<[String]> = rows.columns().into();
                        (rows, columns, 0)
                    }
                    Ok(Err(e)) => return Some((Err(read(e)), State::End)),
                }
            }
        };
        stepped += 1;
        if stepped % ROWS_PER_YIELD == 0 {
            tokio::task::yield_now().await;
        }
        match rows.next_row() {
            Ok(Some(cells)) => {
                let row = DbRow::Cells(CellRow {
                    columns: columns.clone(),
                    cells,
                });
                Some((Ok(row), State::Rows(rows, columns, stepped)))
            }
            Ok(None) => None,
            Err(e) => Some((Err(read(e)), State::End)),
        }
    })
    .boxed()
}
