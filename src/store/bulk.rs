//! Bulk loading: appending many rows to a canonical table as fast as each
//! backend allows, inside the caller's transaction (all or nothing).
//!
//! - PostgreSQL: `COPY … FROM STDIN` in text format. One round trip per batch
//!   instead of one per statement, and no planning or parameter decoding per
//!   row: an order of magnitude faster than multi-row `INSERT`s.
//! - SQLite: one single-row statement prepared once and bound per row on the
//!   connection's own handle (`accessaudit-sqlite-guard`), as `sqlite3
//!   .import` does: through sqlx, every value crosses to its worker thread in
//!   an argument buffer, which made imports 1.6x slower than `.import`.
//!   SQLite has no COPY; the rest of what makes it fast is one transaction
//!   and loading before the secondary indexes exist ([`Tx::secondary_indexes`]).
//!
//! [`Tx::append_new`] appends rows whose keys should be new under a
//! savepoint, and undoes just that when one is not: the bulk path of
//! imports, which then fall back to upserts.
//!
//! Table and column names come from the static table specs of `collect/`,
//! never from a user; every value is bound (SQLite) or escaped as COPY data
//! (PostgreSQL).

use accessaudit_sqlite_guard as guard;
use sqlx::AssertSqlSafe;

use super::error::{Result, StoreError};
use super::tx::Tx;
use super::value::{SqlValue, guard_value};

/// The table whose rows go to monthly partitions on PostgreSQL: a load
/// makes sure their months exist first (`partitions::cover`).
const EVENTS: &str = "events";

/// PostgreSQL's SQLSTATE of a unique (or primary key) violation.
const PG_UNIQUE_VIOLATION: &str = "23505";

/// What [`Tx::append_new`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Every row was appended: this many.
    Rows(u64),
    /// A row's key was already in the table (or twice among the rows):
    /// nothing of this call was kept, the transaction goes on.
    KeyExists,
}

/// A secondary index of a table, as the database itself spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub create_sql: String,
}

impl Tx {
    /// Appends `rows` (each in the order of `columns`) to `table`. Existing
    /// rows are not updated: a key that is already there is an error.
    pub async fn bulk_insert(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<SqlValue>],
    ) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        if let Some(row) = rows.iter().find(|r| r.len() != columns.len()) {
            return Err(StoreError::RowShape {
                table: table.to_string(),
                expected: columns.len(),
                got: row.len(),
            });
        }
        if table == EVENTS {
            super::partitions::cover(self, columns, rows).await?;
        }
        match self {
            Tx::Postgres(tx) => copy_in(tx, table, columns, rows.iter()).await,
            Tx::Lent => Err(StoreError::lent()),
            Tx::Sqlite(_) => {
                self.execute_each(&insert_sql(table, columns, 1), columns.len(), rows)
                    .await
            }
        }
    }

    /// Appends `batches` of rows whose keys should all be new to `table`,
    /// under a savepoint: when one is already there, or repeats among the
    /// rows, the savepoint is rolled back and [`Appended::KeyExists`]
    /// returned (any other error is an error). PostgreSQL: one `COPY`;
    /// SQLite: a prepared `INSERT` bound per row.
    pub async fn append_new(
        &mut self,
        table: &str,
        columns: &[&str],
        batches: &[Vec<Vec<SqlValue>>],
    ) -> Result<Appended> {
        if table == EVENTS {
            super::partitions::cover(self, columns, batches.iter().flatten()).await?;
        }
        self.execute("SAVEPOINT append_new", &[]).await?;
        let result = match self {
            Tx::Postgres(tx) => copy_in(tx, table, columns, batches.iter().flatten()).await,
            Tx::Lent => Err(StoreError::lent()),
            Tx::Sqlite(_) => {
                let sql = insert_sql(table, columns, 1);
                let mut written = 0;
                let mut result = Ok(0);
                for batch in batches {
                    match self.execute_each(&sql, columns.len(), batch).await {
                        Ok(n) => written += n,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                result.map(|_: u64| written)
            }
        };
        match result {
            Ok(n) => {
                self.execute("RELEASE SAVEPOINT append_new", &[]).await?;
                Ok(Appended::Rows(n))
            }
            Err(e) if is_key_violation(&e) => {
                self.execute("ROLLBACK TO SAVEPOINT append_new", &[])
                    .await?;
                self.execute("RELEASE SAVEPOINT append_new", &[]).await?;
                Ok(Appended::KeyExists)
            }
            Err(e) => Err(e),
        }
    }

    /// Runs the one-row statement `sql` (`width` parameters) once per row.
    /// SQLite: prepared once and bound per row on the connection's handle
    /// (the bulk path; the connection blocks this thread meanwhile, as it
    /// does sqlx's worker). PostgreSQL: one prepared statement per row
    /// through sqlx (a round trip each: bulk callers use COPY there).
    pub async fn execute_each(
        &mut self,
        sql: &str,
        width: usize,
        rows: &[Vec<SqlValue>],
    ) -> Result<u64> {
        if let Tx::Sqlite(_) = self {
            // (PostgreSQL's rows each go through `execute`, which logs them.)
            self.trace(sql);
        }
        match self {
            Tx::Sqlite(tx) => {
                let mut values = Vec::with_capacity(rows.len() * width);
                for row in rows {
                    for (i, v) in row.iter().enumerate() {
                        values.push(guard_value(v, i)?);
                    }
                }
                let mut handle = super::handle::lock_handle(tx).await?;
                guard::execute_rows(&mut handle, sql, width, &values).map_err(|e| {
                    StoreError::Write {
                        key_violation: e.is_key_violation(),
                        message: e.to_string(),
                    }
                })
            }
            Tx::Lent => Err(StoreError::lent()),
            Tx::Postgres(_) => {
                let mut written = 0;
                for row in rows {
                    written += self.execute(sql, row).await?;
                }
                Ok(written)
            }
        }
    }

    /// The secondary indexes of `table` (not its primary key), so that a bulk
    /// load can drop them first and build each once at the end (SQLite: 4x
    /// faster than maintaining three B-trees row by row).
    pub async fn secondary_indexes(&mut self, table: &str) -> Result<Vec<IndexDef>> {
        let sql = match self {
            Tx::Sqlite(_) | Tx::Lent => {
                "SELECT name, sql FROM sqlite_master
                  WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL ORDER BY name"
            }
            Tx::Postgres(_) => {
                "SELECT i.indexname AS name, i.indexdef AS sql
                   FROM pg_indexes i
                  WHERE i.schemaname = current_schema() AND i.tablename = $1
                    AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                                     WHERE c.conname = i.indexname AND c.contype IN ('p', 'u'))
                  ORDER BY i.indexname"
            }
        };
        let rows = self.fetch_all(sql, &[SqlValue::text(table)]).await?;
        rows.iter()
            .map(|r| {
                // A partitioned table's index is spelled `ON ONLY` (the
                // parent alone, left invalid): built again, it must reach
                // every partition (events, migration 0016).
                Ok(IndexDef {
                    name: r.req_text("name")?,
                    create_sql: r.req_text("sql")?.replacen(" ON ONLY ", " ON ", 1),
                })
            })
            .collect()
    }

    /// Drops the given indexes (read with [`Tx::secondary_indexes`]).
    pub async fn drop_indexes(&mut self, indexes: &[IndexDef]) -> Result<()> {
        for index in indexes {
            let sql = format!("DROP INDEX {}", quote_ident(&index.name));
            self.execute(&sql, &[]).await?;
        }
        Ok(())
    }

    /// Builds the given indexes again, each in one pass over the loaded table.
    pub async fn create_indexes(&mut self, indexes: &[IndexDef]) -> Result<()> {
        if let (Tx::Postgres(tx), false) = (&mut *self, indexes.is_empty()) {
            // Index builds sort in memory up to this much (default 64 MB).
            sqlx::query("SET LOCAL maintenance_work_mem = '256MB'")
                .execute(&mut **tx)
                .await?;
        }
        for index in indexes {
            match self {
                Tx::Sqlite(tx) => {
                    sqlx::query(AssertSqlSafe(index.create_sql.as_str()))
                        .execute(&mut **tx)
                        .await?;
                }
                Tx::Postgres(tx) => {
                    sqlx::query(AssertSqlSafe(index.create_sql.as_str()))
                        .execute(&mut **tx)
                        .await?;
                }
                Tx::Lent => return Err(StoreError::lent()),
            }
        }
        Ok(())
    }
}

/// Bytes of COPY text encoded before they are sent: the server loads one
/// piece while the next is encoded, instead of waiting for the whole chunk.
const COPY_PIECE: usize = 256 * 1024;

/// `COPY table (columns) FROM STDIN` of `rows`, encoded as COPY text and
/// sent a piece at a time.
async fn copy_in<'r>(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    table: &str,
    columns: &[&str],
    rows: impl Iterator<Item = &'r Vec<SqlValue>>,
) -> Result<u64> {
    let statement = format!("COPY {table} ({}) FROM STDIN", columns.join(", "));
    let mut copy = tx.copy_in_raw(&statement).await?;
    let mut piece = Vec::with_capacity(COPY_PIECE + 4096);
    let sent: Result<()> = async {
        for row in rows {
            encode_copy_row(&mut piece, row)?;
            if piece.len() >= COPY_PIECE {
                copy.send(piece.as_slice()).await?;
                piece.clear();
            }
        }
        if !piece.is_empty() {
            copy.send(piece.as_slice()).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = sent {
        // The connection must leave COPY mode before it is reused.
        let _ = copy.abort(e.to_string()).await;
        return Err(e);
    }
    Ok(copy.finish().await?)
}

/// Whether `e` is a unique or primary key violation.
fn is_key_violation(e: &StoreError) -> bool {
    match e {
        StoreError::Sql(sqlx::Error::Database(db)) => {
            db.code().as_deref() == Some(PG_UNIQUE_VIOLATION)
        }
        StoreError::Write { key_violation, .. } => *key_violation,
        _ => false,
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn insert_sql(table: &str, columns: &[&str], rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    // Plain `?`: numbered or named placeholders cost SQLite a linear search
    // each when preparing (see `Backend::sequential_param`).
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    sql.push_str(&vec![row; rows].join(", "));
    sql
}

/// One row of COPY text format: tab-separated, `\N` for NULL, backslash
/// escapes for the characters COPY treats specially.
fn encode_copy_row(out: &mut Vec<u8>, row: &[SqlValue]) -> Result<()> {
    use std::io::Write as _;
    for (i, value) in row.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match value {
            SqlValue::Bool(None)
            | SqlValue::Int(None)
            | SqlValue::Float(None)
            | SqlValue::Text(None)
            | SqlValue::Time(None)
            | SqlValue::Bytes(None) => out.extend_from_slice(b"\\N"),
            SqlValue::Bytes(Some(bytes)) => {
                // bytea hex form; its backslash escaped for COPY.
                out.extend_from_slice(b"\\\\x");
                for b in bytes {
                    let _ = write!(out, "{b:02x}");
                }
            }
            SqlValue::Bool(Some(b)) => out.push(if *b { b't' } else { b'f' }),
            SqlValue::Int(Some(n)) => {
                out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes())
            }
            SqlValue::Float(Some(f)) => {
                let _ = write!(out, "{f}");
            }
            SqlValue::Time(Some(t)) => encode_copy_instant(out, t),
            SqlValue::Text(Some(s)) => escape_copy_text(out, s),
            SqlValue::TextList(_) => {
                return Err(StoreError::Decode {
                    column: format!("#{}", i + 1),
                    message: "a list cannot be bulk-loaded into a column".into(),
                });
            }
        }
    }
    out.push(b'\n');
    Ok(())
}

/// `s` with COPY's special characters escaped; the runs between them are
/// copied whole (most values have none).
fn escape_copy_text(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// An instant as COPY reads a timestamptz, `2026-11-01T08:00:00.000005Z`
/// (microseconds: the precision both backends keep), written digit by
/// digit: chrono's RFC 3339 writer builds a `String` per value. Years
/// outside 0–9999 and leap seconds go through chrono.
fn encode_copy_instant(out: &mut Vec<u8>, t: &chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike as _, Timelike as _};
    let year = t.year();
    if !(0..=9999).contains(&year) || t.nanosecond() >= 1_000_000_000 {
        let text = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        out.extend_from_slice(text.as_bytes());
        return;
    }
    let fields = [
        (year as u32, 4, b'-'),
        (t.month(), 2, b'-'),
        (t.day(), 2, b'T'),
        (t.hour(), 2, b':'),
        (t.minute(), 2, b':'),
        (t.second(), 2, b'.'),
        (t.nanosecond() / 1_000, 6, b'Z'),
    ];
    for (value, width, after) in fields {
        let mut digits = [b'0'; 6];
        let mut rest = value;
        for d in digits[..width].iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        out.extend_from_slice(&digits[..width]);
        out.push(after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn copy_rows_escape_specials_and_mark_nulls() {
        let mut out = Vec::new();
        let t = DateTime::from_timestamp(1_793_520_000, 5_000).expect("valid instant");
        encode_copy_row(
            &mut out,
            &[
                SqlValue::text("a\tb\\c\nd\r"),
                SqlValue::Text(None),
                SqlValue::int(-7),
                SqlValue::Bool(Some(true)),
                SqlValue::time(t),
            ],
        )
        .expect("encodable");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "a\\tb\\\\c\\nd\\r\t\\N\t-7\tt\t2026-11-01T08:00:00.000005Z\n"
        );
    }

    #[test]
    fn copy_instants_are_written_as_chrono_writes_them() {
        let instants = [
            DateTime::from_timestamp(0, 0),
            DateTime::from_timestamp(1_793_520_000, 5_000),
            DateTime::from_timestamp(1_793_520_059, 999_999_000),
            DateTime::from_timestamp(-62_135_596_800, 0), // 0001-01-01
            DateTime::from_timestamp(253_402_300_799, 123_456_000), // 9999-12-31T23:59:59
            DateTime::from_timestamp(253_402_300_800, 0), // year 10000: chrono's
            DateTime::from_timestamp(1_483_228_799, 1_500_000_000), // a leap second: chrono's
        ];
        for t in instants {
            let t = t.expect("valid instant");
            let mut out = Vec::new();
            encode_copy_instant(&mut out, &t);
            assert_eq!(
                String::from_utf8(out).expect("utf-8"),
                t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "{t:?}"
            );
        }
    }

    #[test]
    fn copy_rejects_lists() {
        let mut out = Vec::new();
        assert!(encode_copy_row(&mut out, &[SqlValue::list(&["a"])]).is_err());
    }

    #[test]
    fn sqlite_insert_uses_positional_parameters() {
        assert_eq!(
            insert_sql("t", &["a", "b"], 2),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
    }
}
