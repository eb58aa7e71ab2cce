//! SQL sources: MySQL/MariaDB, PostgreSQL and SQLite through sqlx.
//!
//! One connection per sync, in one read-only transaction with a consistent
//! snapshot (principals, roles and grants are read as of the same instant),
//! and a statement timeout set on the session. The mapping's queries are the
//! deployment's own SQL (like custom rules); the watermark is bound.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{AssertSqlSafe, Column, ConnectOptions, Connection, Row, TypeInfo, ValueRef};

use accessaudit_sqlite_guard::{self as guard, Policy};

use super::{RawRow, RawValue, utc_to_local};
use crate::collect::source::SourceKind;

#[derive(Debug, thiserror::Error)]
pub enum SqlSourceError {
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("{0}")]
    Sql(#[from] sqlx::Error),
    #[error("column `{column}` has type {ty}, which cannot be read; CAST it in the query")]
    Type { column: String, ty: String },
    #[error("the mapping's query is refused: {0}")]
    Refused(String),
}

/// Our own statements on a SQLite source: no ATTACH or DETACH.
static SOURCE_TRUSTED: Policy = Policy::Trusted;
/// A mapping's query on a SQLite source: reads any of the source's tables,
/// with core functions only; no PRAGMA, ATTACH, VACUUM, transaction control.
static SOURCE_QUERY: Policy = Policy::Untrusted { readable: None };

/// PostgreSQL's refusal of several statements in one prepared statement, in
/// our words. (MySQL and MariaDB answer with a syntax error at the `;`.)
fn refuse_several(e: sqlx::Error) -> SqlSourceError {
    match &e {
        sqlx::Error::Database(db) if db.message().contains("multiple commands") => {
            SqlSourceError::Refused(format!(
                "more than one statement: only one SELECT is allowed ({})",
                db.message()
            ))
        }
        _ => SqlSourceError::Sql(e),
    }
}

/// An open, read-only session on a SQL source.
pub enum SqlSource {
    Mysql(MySqlConnection),
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl SqlSource {
    /// Connects and starts the read-only snapshot transaction.
    pub async fn open(
        kind: SourceKind,
        url: &str,
        password: Option<&str>,
        timeout: Duration,
        tz: chrono_tz::Tz,
    ) -> Result<SqlSource, SqlSourceError> {
        let err = |source| SqlSourceError::Connect {
            url: crate::store::redact_url(url),
            source,
        };
        let ms = timeout.as_millis().to_string();
        match kind {
            SourceKind::Mysql => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                let mut options = MySqlConnectOptions::from_str(&url).map_err(err)?;
                if let Some(pw) = password {
                    options = options.password(pw);
                }
                let mut conn = options.connect().await.map_err(err)?;
                let version: String = sqlx::query_scalar("SELECT VERSION()")
                    .fetch_one(&mut conn)
                    .await?;
                // MariaDB and MySQL spell the statement timeout differently.
                if version.to_ascii_lowercase().contains("mariadb") {
                    sqlx::query("SET SESSION max_statement_time = ?")
                        .bind(timeout.as_secs_f64())
                        .execute(&mut conn)
                        .await?;
                } else {
                    sqlx::query("SET SESSION max_execution_time = ?")
                        .bind(ms.parse::<u64>().unwrap_or(u64::MAX))
                        .execute(&mut conn)
                        .await?;
                }
                sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .execute(&mut conn)
                    .await?;
                sqlx::query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    .execute(&mut conn)
                    .await?;
                Ok(SqlSource::Mysql(conn))
            }
            SourceKind::Postgres => {
                let mut options = PgConnectOptions::from_str(url).map_err(err)?;
                if let Some(pw) = password {
                    options = options.password(pw);
                }
                let mut conn = options.connect().await.map_err(err)?;
                sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut conn)
                    .await?;
                sqlx::query("SELECT set_config('statement_timeout', $1, true)")
                    .bind(format!("{ms}ms"))
                    .execute(&mut conn)
                    .await?;
                // `timestamp` values compare with the bound watermark in the
                // mapping's zone.
                sqlx::query("SELECT set_config('TimeZone', $1, true)")
                    .bind(tz.name())
                    .execute(&mut conn)
                    .await?;
                Ok(SqlSource::Postgres(conn))
            }
            _ => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(err)?
                    .read_only(true);
                let mut conn = options.connect().await.map_err(err)?;
                guard::install_authorizer(
                    &mut crate::store::lock_handle(&mut conn).await?,
                    &SOURCE_TRUSTED,
                );
                sqlx::query("BEGIN").execute(&mut conn).await?;
                Ok(SqlSource::Sqlite(conn))
            }
        }
    }

    /// Reads a feed's rows; with a watermark, only rows at or after it
    /// (`occurred_at`, compared in the source's own time zone).
    pub async fn read(
        &mut self,
        query: &str,
        since: Option<DateTime<Utc>>,
        tz: chrono_tz::Tz,
    ) -> Result<Vec<RawRow>, SqlSourceError> {
        let mut all = Vec::new();
        let done: Result<(), std::convert::Infallible> = self
            .for_each_batch(query, &BTreeSet::new(), since, tz, 10_000, async |batch| {
                all.extend(batch);
                Ok(())
            })
            .await?;
        let Ok(()) = done;
        Ok(all)
    }

    /// Streams a feed's rows in batches of `size` to `sink`: nothing but
    /// one batch is held. Stops at the first error of the sink, which is
    /// returned inside `Ok` (the outer error is the source's). The result
    /// columns named in `dated` (`Feed::dated`) must have a date or time
    /// type, or nothing is read.
    pub async fn for_each_batch<E, F>(
        &mut self,
        query: &str,
        dated: &BTreeSet<String>,
        since: Option<DateTime<Utc>>,
        tz: chrono_tz::Tz,
        size: usize,
        mut sink: F,
    ) -> Result<Result<(), E>, SqlSourceError>
    where
        F: AsyncFnMut(Vec<RawRow>) -> Result<(), E>,
    {
        let since_local = since.map(|t| utc_to_local(t, tz));
        let sql = self.since_filtered(query, since_local.is_some());
        self.guarded(&sql, dated, since_local, size, &mut sink)
            .await
    }

    /// The source's own count of the rows a feed's query gives (with the
    /// same watermark), in the same snapshot as the rows were read: what
    /// the rows read are reconciled against. `count_query`: a configured
    /// SELECT whose one row's first column is the count, run as written.
    pub async fn count(
        &mut self,
        query: &str,
        count_query: Option<&str>,
        since: Option<DateTime<Utc>>,
        tz: chrono_tz::Tz,
    ) -> Result<u64, SqlSourceError> {
        let since_local = since.map(|t| utc_to_local(t, tz));
        let (sql, since_local) = match count_query {
            Some(q) => (q.trim().trim_end_matches(';').to_string(), None),
            None => (
                format!(
                    "SELECT COUNT(*) AS n FROM ({}) counted",
                    self.since_filtered(query, since_local.is_some())
                ),
                since_local,
            ),
        };
        let mut value = None;
        let done: Result<(), std::convert::Infallible> = self
            .guarded(
                &sql,
                &BTreeSet::new(),
                since_local,
                2,
                &mut async |rows: Vec<RawRow>| {
                    if value.is_none() {
                        value = rows.first().and_then(|r| r.first()).map(|(_, v)| v.clone());
                    }
                    Ok(())
                },
            )
            .await?;
        let Ok(()) = done;
        match value {
            Some(RawValue::Int(n)) if n >= 0 => return Ok(n as u64),
            Some(RawValue::Text(ref t)) => {
                if let Ok(n) = t.trim().parse::<u64>() {
                    return Ok(n);
                }
            }
            Some(RawValue::Float(f)) if f >= 0.0 && f.fract() == 0.0 => return Ok(f as u64),
            _ => {}
        }
        Err(SqlSourceError::Refused(format!(
            "the count query gave {value:?}, not a count (one row, a whole number first)"
        )))
    }

    /// A feed's query, with a watermark: only rows at or after it.
    fn since_filtered(&self, query: &str, since: bool) -> String {
        let query = query.trim().trim_end_matches(';');
        match (since, self) {
            (false, _) => query.to_string(),
            (true, SqlSource::Postgres(_)) => {
                format!("SELECT * FROM ({query}) src WHERE src.occurred_at >= $1")
            }
            (true, _) => format!("SELECT * FROM ({query}) src WHERE src.occurred_at >= ?"),
        }
    }

    /// Runs one statement of a feed under the source's guards.
    async fn guarded<E, F>(
        &mut self,
        sql: &str,
        dated: &BTreeSet<String>,
        since_local: Option<NaiveDateTime>,
        size: usize,
        sink: &mut F,
    ) -> Result<Result<(), E>, SqlSourceError>
    where
        F: AsyncFnMut(Vec<RawRow>) -> Result<(), E>,
    {
        // Exactly one statement: SQLite's parser checks it under the strict
        // authorizer, which stays on while the query runs. PostgreSQL and
        // MySQL get it as a prepared statement (sqlx prepares every query
        // with arguments, and `query` always has them), which their servers
        // refuse to hold several statements.
        if let SqlSource::Sqlite(conn) = self {
            let mut handle = crate::store::lock_handle(conn).await?;
            guard::install_authorizer(&mut handle, &SOURCE_QUERY);
            if let Err(e) = guard::single_statement(&mut handle, sql) {
                guard::install_authorizer(&mut handle, &SOURCE_TRUSTED);
                return Err(SqlSourceError::Refused(e.to_string()));
            }
        }
        let read = self.drain(sql, dated, since_local, size, sink).await;
        if let SqlSource::Sqlite(conn) = self {
            guard::install_authorizer(&mut crate::store::lock_handle(conn).await?, &SOURCE_TRUSTED);
        }
        read
    }

    async fn drain<E, F>(
        &mut self,
        sql: &str,
        dated: &BTreeSet<String>,
        since_local: Option<NaiveDateTime>,
        size: usize,
        sink: &mut F,
    ) -> Result<Result<(), E>, SqlSourceError>
    where
        F: AsyncFnMut(Vec<RawRow>) -> Result<(), E>,
    {
        let mut batch = Vec::with_capacity(size.min(10_000));
        let mut checked = dated.is_empty();
        macro_rules! drain {
            ($rows:expr, $decode:expr) => {{
                let mut rows = $rows;
                while let Some(row) = rows.try_next().await.map_err(refuse_several)? {
                    if !checked {
                        check_dated(row.columns(), dated)?;
                        checked = true;
                    }
                    batch.push($decode(&row)?);
                    if batch.len() >= size {
                        if let Err(e) = sink(std::mem::take(&mut batch)).await {
                            return Ok(Err(e));
                        }
                    }
                }
            }};
        }
        match self {
            SqlSource::Mysql(conn) => {
                let mut q = sqlx::query(AssertSqlSafe(sql));
                if let Some(t) = since_local {
                    q = q.bind(t);
                }
                drain!(q.fetch(&mut *conn), mysql_row)
            }
            SqlSource::Postgres(conn) => {
                let mut q = sqlx::query(AssertSqlSafe(sql));
                if let Some(t) = since_local {
                    q = q.bind(t);
                }
                drain!(q.fetch(&mut *conn), pg_row)
            }
            SqlSource::Sqlite(conn) => {
                let mut q = sqlx::query(AssertSqlSafe(sql));
                if let Some(t) = since_local {
                    q = q.bind(t.format("%Y-%m-%d %H:%M:%S").to_string());
                }
                drain!(q.fetch(&mut *conn), sqlite_row)
            }
        }
        if batch.is_empty() {
            return Ok(Ok(()));
        }
        Ok(sink(batch).await)
    }

    /// What the source's account may write, asked of the source itself:
    /// MySQL/MariaDB `SHOW GRANTS` (any privilege beyond reading),
    /// PostgreSQL `has_table_privilege` on every table (INSERT, UPDATE,
    /// DELETE, TRUNCATE) and superuser; a SQLite file is opened read-only.
    pub async fn write_check(&mut self) -> Result<WriteCheck, SqlSourceError> {
        match self {
            SqlSource::Mysql(conn) => {
                let grants: Vec<String> = sqlx::query_scalar("SHOW GRANTS FOR CURRENT_USER()")
                    .fetch_all(&mut *conn)
                    .await?;
                let writes: Vec<String> = grants
                    .into_iter()
                    .filter(|g| mysql_grant_writes(g))
                    .collect();
                Ok(match writes.is_empty() {
                    true => WriteCheck::ReadOnly {
                        how: "SHOW GRANTS: no privilege beyond reading".into(),
                    },
                    false => WriteCheck::CanWrite { what: writes },
                })
            }
            SqlSource::Postgres(conn) => {
                let superuser: Option<bool> = sqlx::query_scalar(
                    "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
                )
                .fetch_optional(&mut *conn)
                .await?;
                if superuser == Some(true) {
                    return Ok(WriteCheck::CanWrite {
                        what: vec!["the role is a superuser".into()],
                    });
                }
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT n.nspname || '.' || c.relname || ': ' ||
                            concat_ws(', ',
                              CASE WHEN has_table_privilege(c.oid, 'INSERT') THEN 'INSERT' END,
                              CASE WHEN has_table_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
                              CASE WHEN has_table_privilege(c.oid, 'DELETE') THEN 'DELETE' END,
                              CASE WHEN has_table_privilege(c.oid, 'TRUNCATE') THEN 'TRUNCATE' END)
                       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE c.relkind IN ('r', 'p')
                        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                        AND n.nspname NOT LIKE 'pg\\_%'
                        AND (has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE')
                             OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE'))
                      ORDER BY 1 LIMIT 20",
                )
                .fetch_all(&mut *conn)
                .await?;
                Ok(match tables.is_empty() {
                    true => WriteCheck::ReadOnly {
                        how: "has_table_privilege: no INSERT, UPDATE, DELETE or TRUNCATE on any table"
                            .into(),
                    },
                    false => WriteCheck::CanWrite { what: tables },
                })
            }
            SqlSource::Sqlite(_) => Ok(WriteCheck::ReadOnly {
                how: "the file is opened read-only".into(),
            }),
        }
    }

    /// Ends the read-only transaction.
    pub async fn close(self) -> Result<(), SqlSourceError> {
        match self {
            SqlSource::Mysql(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await?;
                c.close().await?
            }
            SqlSource::Postgres(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await?;
                c.close().await?
            }
            SqlSource::Sqlite(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await?;
                c.close().await?
            }
        }
        Ok(())
    }
}

/// Whether one `SHOW GRANTS` line gives more than reading: `GRANT USAGE`
/// (no privilege), `SELECT`, `SHOW VIEW` and `PROCESS`-free read grants
/// are reading; anything else (INSERT, UPDATE, DELETE, ALL PRIVILEGES,
/// CREATE, DROP, ALTER, GRANT OPTION, …) is writing. Role grants
/// (`GRANT `r`@`%` TO …`) are judged by the role's own lines, which
/// `SHOW GRANTS` does not list: they count as writing, to be safe.
fn mysql_grant_writes(grant: &str) -> bool {
    let upper = grant.to_ascii_uppercase();
    let Some(rest) = upper.strip_prefix("GRANT ") else {
        return false;
    };
    if upper.starts_with("GRANT PROXY ON") {
        return true;
    }
    let Some((privileges, _)) = rest.split_once(" ON ") else {
        // `GRANT role TO user`: a role whose privileges are not shown here.
        return true;
    };
    // Column lists (`SELECT (a, b)`) hold commas of their own.
    let mut bare = String::with_capacity(privileges.len());
    let mut depth = 0usize;
    for c in privileges.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => bare.push(c),
            _ => {}
        }
    }
    let read_only = ["USAGE", "SELECT", "SHOW VIEW", "SHOW DATABASES"];
    let writes = bare
        .split(',')
        .map(|p| p.trim())
        .any(|p| !read_only.contains(&p));
    writes || upper.contains("WITH GRANT OPTION")
}

/// What a source's account may write, as its server says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WriteCheck {
    ReadOnly { how: String },
    CanWrite { what: Vec<String> },
    NotChecked { why: String },
}

impl std::fmt::Display for WriteCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteCheck::ReadOnly { how } => write!(f, "read-only ({how})"),
            WriteCheck::CanWrite { what } => write!(f, "CAN WRITE: {}", what.join("; ")),
            WriteCheck::NotChecked { why } => write!(f, "not checked ({why})"),
        }
    }
}

/// The credential guard's type rule at run time: a result column whose
/// source name looks like a credential passed the mapping's check as a
/// date, so the source must give it a date or time type (SQLite: the type
/// its table declares). Judged before any value is read.
fn check_dated<C: Column>(columns: &[C], dated: &BTreeSet<String>) -> Result<(), SqlSourceError> {
    for col in columns.iter().filter(|c| dated.contains(c.name())) {
        let ty = col.type_info().name().to_ascii_uppercase();
        // MySQL/MariaDB, PostgreSQL and SQLite (through its declared type).
        let is_date = matches!(
            ty.as_str(),
            "DATE" | "DATETIME" | "TIMESTAMP" | "TIMESTAMPTZ"
        );
        if !is_date {
            return Err(SqlSourceError::Refused(format!(
                "column `{}` comes from a source column whose name looks like a credential; it passed the mapping's check as a date, but the source gives it as {ty}: a date or time column passes, any other only through `allow_columns` with a reason",
                col.name()
            )));
        }
    }
    Ok(())
}

fn type_error(column: &str, ty: &str) -> SqlSourceError {
    SqlSourceError::Type {
        column: column.to_string(),
        ty: ty.to_string(),
    }
}

fn mysql_row(row: &MySqlRow) -> Result<RawRow, SqlSourceError> {
    let mut out = Vec::with_capacity(row.columns().len());
    for (i, col) in row.columns().iter().enumerate() {
        let name = col.name().to_string();
        let raw = row.try_get_raw(i)?;
        let value = if raw.is_null() {
            RawValue::Null
        } else {
            let ty = col.type_info().name().to_ascii_uppercase();
            match ty.as_str() {
                "DATETIME" => RawValue::Local(row.try_get::<NaiveDateTime, _>(i)?),
                "DATE" => RawValue::Local(
                    row.try_get::<NaiveDate, _>(i)?
                        .and_time(chrono::NaiveTime::MIN),
                ),
                // sqlx sets the session zone to UTC: TIMESTAMP reads as UTC.
                "TIMESTAMP" => RawValue::Utc(row.try_get::<DateTime<Utc>, _>(i)?),
                "BOOLEAN" => RawValue::Bool(row.try_get::<bool, _>(i)?),
                "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
                    RawValue::Int(row.try_get::<i64, _>(i)?)
                }
                t if t.ends_with("UNSIGNED") => {
                    let v: u64 = row.try_get(i)?;
                    RawValue::Int(i64::try_from(v).map_err(|_| type_error(&name, t))?)
                }
                "FLOAT" | "DOUBLE" => RawValue::Float(row.try_get::<f64, _>(i)?),
                "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM"
                | "JSON" => RawValue::Text(row.try_get::<String, _>(i)?),
                // CONCAT over numbers can come back binary: take it as UTF-8.
                "VARBINARY" | "BINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
                    let bytes: Vec<u8> = row.try_get(i)?;
                    RawValue::Text(String::from_utf8(bytes).map_err(|_| type_error(&name, &ty))?)
                }
                other => return Err(type_error(&name, other)),
            }
        };
        out.push((name, value));
    }
    Ok(out)
}

fn pg_row(row: &PgRow) -> Result<RawRow, SqlSourceError> {
    let mut out = Vec::with_capacity(row.columns().len());
    for (i, col) in row.columns().iter().enumerate() {
        let name = col.name().to_string();
        let raw = row.try_get_raw(i)?;
        let value = if raw.is_null() {
            RawValue::Null
        } else {
            match col.type_info().name() {
                "TIMESTAMPTZ" => RawValue::Utc(row.try_get::<DateTime<Utc>, _>(i)?),
                "TIMESTAMP" => RawValue::Local(row.try_get::<NaiveDateTime, _>(i)?),
                "DATE" => RawValue::Local(
                    row.try_get::<NaiveDate, _>(i)?
                        .and_time(chrono::NaiveTime::MIN),
                ),
                "BOOL" => RawValue::Bool(row.try_get::<bool, _>(i)?),
                "INT2" => RawValue::Int(row.try_get::<i16, _>(i)?.into()),
                "INT4" => RawValue::Int(row.try_get::<i32, _>(i)?.into()),
                "INT8" => RawValue::Int(row.try_get::<i64, _>(i)?),
                "FLOAT4" => RawValue::Float(row.try_get::<f32, _>(i)?.into()),
                "FLOAT8" => RawValue::Float(row.try_get::<f64, _>(i)?),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CITEXT" => {
                    RawValue::Text(row.try_get::<String, _>(i)?)
                }
                other => return Err(type_error(&name, other)),
            }
        };
        out.push((name, value));
    }
    Ok(out)
}

fn sqlite_row(row: &SqliteRow) -> Result<RawRow, SqlSourceError> {
    let mut out = Vec::with_capacity(row.columns().len());
    for (i, col) in row.columns().iter().enumerate() {
        let name = col.name().to_string();
        let raw = row.try_get_raw(i)?;
        // SQLite is dynamically typed: go by the value's own type (a NULL
        // may still report its column's declared type).
        let value = match raw.type_info().name() {
            _ if raw.is_null() => RawValue::Null,
            "NULL" => RawValue::Null,
            "INTEGER" => RawValue::Int(row.try_get::<i64, _>(i)?),
            "REAL" => RawValue::Float(row.try_get::<f64, _>(i)?),
            "TEXT" => RawValue::Text(row.try_get::<String, _>(i)?),
            other => return Err(type_error(&name, other)),
        };
        out.push((name, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::mysql_grant_writes;

    #[test]
    fn mysql_grants_that_only_read_are_read_only() {
        for g in [
            "GRANT USAGE ON *.* TO `audit`@`%`",
            "GRANT SELECT ON `wk_crm_single`.* TO `audit`@`%`",
            "GRANT SELECT, SHOW VIEW ON `crm`.* TO `audit`@`localhost`",
            "GRANT SELECT (`id`, `name`) ON `crm`.`t` TO `audit`@`%`",
        ] {
            assert!(!mysql_grant_writes(g), "{g}");
        }
        for g in [
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION",
            "GRANT SELECT, INSERT, UPDATE ON `crm`.* TO `app`@`%`",
            "GRANT DELETE ON `crm`.`wk_admin_user` TO `app`@`%`",
            "GRANT SELECT ON `crm`.* TO `audit`@`%` WITH GRANT OPTION",
            "GRANT `writer`@`%` TO `audit`@`%`",
        ] {
            assert!(mysql_grant_writes(g), "{g}");
        }
    }
}
