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
    /// A SQLite transaction while a scan's thread steps a statement on it
    /// (`sqlite_rows`); it is back when the scan's stream ends or is
    /// dropped. Seen only if a stream was leaked or its thread panicked:
    /// every use is then an error.
    Lent,
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) | Tx::Lent => Backend::Sqlite,
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
            Tx::Sqlite(_) | Tx::Lent => sqlite_rows(self, sql, params),
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
            Tx::Lent => Err(StoreError::lent()),
        }
    }

    /// Puts back the authorizer of our own statements (SQLite).
    pub async fn end_untrusted(&mut self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => super::untrusted::end_untrusted(tx).await,
            Tx::Postgres(_) => Ok(()),
            Tx::Lent => Err(StoreError::lent()),
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
            Tx::Lent => return Err(StoreError::lent()),
        })
    }

    /// Lets PostgreSQL compile this rule's expressions (JIT), which scans
    /// otherwise turn off (`Store::rearm_scan`, again before the next
    /// rule). For a rule whose query reads millions of rows in one pass,
    /// where the compile pays: at 1M accounts device-sprawl's aggregate
    /// 5.4 s with it against 6.1 s without (`EXPLAIN ANALYZE`), and
    /// shared-account's sorted sign-ins 4.41 s against 4.86 s for the
    /// whole rule; the other rules are as fast or slower with it
    /// (BENCHMARKS.md). Nothing on SQLite.
    pub async fn compile_expressions(&mut self) -> Result<()> {
        if self.backend() == Backend::Postgres {
            self.execute("SELECT set_config('jit', 'on', true)", &[])
                .await?;
        }
        Ok(())
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
            Tx::Lent => return Err(StoreError::lent()),
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
            Tx::Lent => return Err(StoreError::lent()),
        }
        Ok(())
    }
}

/// Rows per message from a scan's stepping thread to its reader.
const SCAN_BATCH: usize = 256;
/// Messages the stepping thread may run ahead of the reader.
const SCAN_AHEAD: usize = 4;

/// What a scan's stepping thread hands its reader.
enum ScanMessage {
    Columns(std::sync::Arc<[String]>),
    Rows(Vec<Vec<accessaudit_sqlite_guard::Cell>>),
    Failed(StoreError),
}

/// `Tx::fetch` on SQLite: the statement is stepped on a thread of its own
/// (`step_scan`) while the caller works on the rows it already has, so a
/// rule builds its findings as SQLite finds the next ones (before, both ran
/// one after the other on the caller's thread). The transaction is lent to
/// that thread (`Tx::Lent`) and is back in `tx` when the stream ends or is
/// dropped (a dropped stream waits for the thread's current step). The
/// thread steps on the connection's own handle
/// (`accessaudit_sqlite_guard::Rows`): its authorizer, progress handler (the
/// scan deadline) and busy timeout apply as to sqlx's own statements.
fn sqlite_rows<'a>(
    tx: &'a mut Tx,
    sql: &'a str,
    params: &'a [SqlValue],
) -> BoxStream<'a, Result<DbRow>> {
    SqliteScan {
        tx,
        start: Some((sql.to_string(), params.to_vec())),
        running: None,
    }
    .boxed()
}

/// A scan in progress: its stepping thread, and the rows received.
struct SqliteScan<'a> {
    tx: &'a mut Tx,
    /// The statement and its values, until the thread takes them.
    start: Option<(String, Vec<SqlValue>)>,
    running: Option<Running>,
}

struct Running {
    rows: tokio::sync::mpsc::Receiver<ScanMessage>,
    thread: std::thread::JoinHandle<sqlx::Transaction<'static, sqlx::Sqlite>>,
    columns: std::sync::Arc<[String]>,
    batch: std::vec::IntoIter<Vec<accessaudit_sqlite_guard::Cell>>,
}

impl SqliteScan<'_> {
    fn begin(&mut self, sql: String, params: Vec<SqlValue>) -> Result<()> {
        // The thread locks the connection's handle through sqlx (async).
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| StoreError::Read(format!("a scan needs the tokio runtime: {e}")))?;
        let Tx::Sqlite(tx) = std::mem::replace(self.tx, Tx::Lent) else {
            return Err(StoreError::lent());
        };
        let (send, rows) = tokio::sync::mpsc::channel(SCAN_AHEAD);
        let thread = std::thread::Builder::new()
            .name("accessaudit-scan".into())
            .spawn(move || step_scan(tx, &sql, &params, &send, &runtime))
            .map_err(|e| StoreError::Read(format!("cannot start the scan's thread: {e}")))?;
        self.running = Some(Running {
            rows,
            thread,
            columns: std::sync::Arc::from(Vec::new()),
            batch: Vec::new().into_iter(),
        });
        Ok(())
    }

    /// Waits for the stepping thread (told to stop by the closed channel
    /// when the reader stops early) and takes the transaction back.
    fn end(&mut self) {
        if let Some(Running { rows, thread, .. }) = self.running.take() {
            drop(rows);
            if let Ok(tx) = thread.join() {
                *self.tx = Tx::Sqlite(tx);
            }
        }
    }
}

impl futures_util::Stream for SqliteScan<'_> {
    type Item = Result<DbRow>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        if let Some((sql, params)) = this.start.take()
            && let Err(e) = this.begin(sql, params)
        {
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            let Some(running) = this.running.as_mut() else {
                return Poll::Ready(None);
            };
            if let Some(cells) = running.batch.next() {
                return Poll::Ready(Some(Ok(DbRow::Cells(CellRow {
                    columns: running.columns.clone(),
                    cells,
                }))));
            }
            match running.rows.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(ScanMessage::Columns(columns))) => running.columns = columns,
                Poll::Ready(Some(ScanMessage::Rows(batch))) => running.batch = batch.into_iter(),
                Poll::Ready(Some(ScanMessage::Failed(e))) => {
                    this.end();
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.end();
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl Drop for SqliteScan<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

/// The stepping thread of a scan: runs `sql` on `tx`'s connection and sends
/// its rows in batches until they end, fail, or nobody reads them any more;
/// then gives the transaction back.
fn step_scan(
    mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    sql: &str,
    params: &[SqlValue],
    send: &tokio::sync::mpsc::Sender<ScanMessage>,
    runtime: &tokio::runtime::Handle,
) -> sqlx::Transaction<'static, sqlx::Sqlite> {
    use accessaudit_sqlite_guard::Rows;
    let read = |e: accessaudit_sqlite_guard::GuardError| {
        StoreError::Read(if e.is_interrupt() {
            "interrupted: the scan's statement timeout passed (--statement-timeout, \
             `statement_timeout` in the config)"
                .to_string()
        } else {
            e.to_string()
        })
    };
    let stepped = (|| -> Result<()> {
        let handle = runtime.block_on(super::handle::lock_handle(&mut tx))?;
        let mut rows = super::value::with_guard_values(params, |v| Rows::prepare(handle, sql, v))?
            .map_err(read)?;
        if send
            .blocking_send(ScanMessage::Columns(rows.columns().into()))
            .is_err()
        {
            return Ok(());
        }
        let mut batch = Vec::with_capacity(SCAN_BATCH);
        loop {
            // Ok(false): the rows ended; an error ends them too.
            let more = match rows.next_row().map_err(read) {
                Ok(Some(cells)) => {
                    batch.push(cells);
                    Ok(true)
                }
                Ok(None) => Ok(false),
                Err(e) => Err(e),
            };
            let ended = !matches!(more, Ok(true));
            // The rows before an error reach the reader before it does.
            if (ended && !batch.is_empty()) || batch.len() == SCAN_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(SCAN_BATCH));
                if send.blocking_send(ScanMessage::Rows(full)).is_err() {
                    return Ok(()); // the reader stopped
                }
            }
            if ended {
                return more.map(drop);
            }
        }
    })();
    if let Err(e) = stepped {
        let _ = send.blocking_send(ScanMessage::Failed(e));
    }
    tx
}
