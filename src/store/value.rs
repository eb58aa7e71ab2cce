//! Values bound to statements and rows read back, the same on every backend.
//!
//! SQLite keeps timestamps as integer microseconds since the epoch (UTC);
//! PostgreSQL as `timestamptz`. Callers only ever see `DateTime<Utc>`.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::postgres::PgRow;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Postgres, Row, Sqlite, TypeInfo, ValueRef};

use accessaudit_sqlite_guard::Cell;

use super::error::{Result, StoreError};

/// A value bound to a statement placeholder. Every variant is typed, NULL
/// included, because PostgreSQL needs to know the type of a NULL parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Bool(Option<bool>),
    Int(Option<i64>),
    Float(Option<f64>),
    Text(Option<String>),
    Time(Option<DateTime<Utc>>),
    /// A list of strings, tested with `Backend::in_list`.
    TextList(Vec<String>),
    /// Binary data (BLOB on SQLite, BYTEA on PostgreSQL): archived reports.
    Bytes(Option<Vec<u8>>),
}

impl SqlValue {
    pub fn text(s: impl Into<String>) -> SqlValue {
        SqlValue::Text(Some(s.into()))
    }

    pub fn time(t: DateTime<Utc>) -> SqlValue {
        SqlValue::Time(Some(t))
    }

    pub fn int(i: i64) -> SqlValue {
        SqlValue::Int(Some(i))
    }

    pub fn list<S: AsRef<str>>(items: &[S]) -> SqlValue {
        SqlValue::TextList(items.iter().map(|s| s.as_ref().to_string()).collect())
    }

    /// The value as part of a row's key: equal values give equal text
    /// (an instant by its microseconds, however its text was spelled).
    pub fn key_text(&self) -> String {
        let mut out = String::new();
        self.push_key_text(&mut out);
        out
    }

    /// [`SqlValue::key_text`] appended to `out`, without a string of its own.
    pub fn push_key_text(&self, out: &mut String) {
        use std::fmt::Write as _;
        // Writing to a String cannot fail.
        match self {
            SqlValue::Text(Some(s)) => out.push_str(s),
            SqlValue::Time(Some(t)) => {
                let _ = write!(out, "{}", t.timestamp_micros());
            }
            SqlValue::Int(Some(i)) => {
                let _ = write!(out, "{i}");
            }
            SqlValue::Bool(Some(b)) => {
                let _ = write!(out, "{b}");
            }
            _ => {}
        }
    }
}

/// Microseconds since the epoch: how SQLite stores an instant.
pub(super) fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// An instant stored as microseconds since the epoch; `column` names it in
/// the error.
pub(crate) fn from_micros(column: &str, us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| StoreError::Decode {
        column: column.to_string(),
        message: format!("{us} is not a valid timestamp"),
    })
}

/// A row of either backend, read by column name.
pub enum DbRow {
    Sqlite(SqliteRow),
    /// A SQLite row stepped on the connection's own handle (`Tx::fetch`).
    Cells(CellRow),
    Postgres(PgRow),
}

/// A SQLite row as owned cells, with the column names of its statement
/// (shared by every row of one query).
pub struct CellRow {
    pub(super) columns: std::sync::Arc<[String]>,
    pub(super) cells: Vec<Cell>,
}

impl CellRow {
    fn cell(&self, column: &str) -> Result<&Cell> {
        self.columns
            .iter()
            .position(|c| c == column)
            .map(|i| &self.cells[i])
            .ok_or_else(|| StoreError::Decode {
                column: column.to_string(),
                message: "no such column in the result".into(),
            })
    }
}

fn mismatched(column: &str, wanted: &str, cell: &Cell) -> StoreError {
    let got = match cell {
        Cell::Null => "NULL",
        Cell::Int(_) => "INTEGER",
        Cell::Float(_) => "REAL",
        Cell::Text(_) => "TEXT",
        Cell::Blob(_) => "BLOB",
    };
    StoreError::Decode {
        column: column.to_string(),
        message: format!("mismatched types: {wanted} expected, the value is {got}"),
    }
}

fn decode_err(column: &str, e: sqlx::Error) -> StoreError {
    StoreError::Decode {
        column: column.to_string(),
        message: e.to_string(),
    }
}

impl DbRow {
    pub fn text(&self, column: &str) -> Result<Option<String>> {
        match self {
            DbRow::Cells(r) => match r.cell(column)? {
                Cell::Null => Ok(None),
                Cell::Text(s) => Ok(Some(s.clone())),
                other => Err(mismatched(column, "TEXT", other)),
            },
            DbRow::Sqlite(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
            DbRow::Postgres(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
        }
    }

    /// A text column that must not be NULL.
    pub fn req_text(&self, column: &str) -> Result<String> {
        self.text(column)?.ok_or_else(|| StoreError::Decode {
            column: column.to_string(),
            message: "unexpected NULL".into(),
        })
    }

    pub fn i64(&self, column: &str) -> Result<Option<i64>> {
        match self {
            DbRow::Cells(r) => match r.cell(column)? {
                Cell::Null => Ok(None),
                Cell::Int(n) => Ok(Some(*n)),
                other => Err(mismatched(column, "INTEGER", other)),
            },
            DbRow::Sqlite(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
            DbRow::Postgres(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
        }
    }

    pub fn f64(&self, column: &str) -> Result<Option<f64>> {
        match self {
            DbRow::Cells(r) => match r.cell(column)? {
                Cell::Null => Ok(None),
                Cell::Float(f) => Ok(Some(*f)),
                Cell::Int(n) => Ok(Some(*n as f64)),
                other => Err(mismatched(column, "REAL", other)),
            },
            DbRow::Sqlite(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
            DbRow::Postgres(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
        }
    }

    pub fn bool(&self, column: &str) -> Result<Option<bool>> {
        match self {
            DbRow::Cells(r) => match r.cell(column)? {
                Cell::Null => Ok(None),
                Cell::Int(n) => Ok(Some(*n != 0)),
                other => Err(mismatched(column, "BOOLEAN", other)),
            },
            DbRow::Sqlite(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
            DbRow::Postgres(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
        }
    }

    pub fn bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        match self {
            DbRow::Cells(r) => match r.cell(column)? {
                Cell::Null => Ok(None),
                Cell::Blob(b) => Ok(Some(b.clone())),
                Cell::Text(s) => Ok(Some(s.as_bytes().to_vec())),
                other => Err(mismatched(column, "BLOB", other)),
            },
            DbRow::Sqlite(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
            DbRow::Postgres(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
        }
    }

    pub fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>> {
        match self {
            DbRow::Cells(_) => self
                .i64(column)?
                .map(|us| from_micros(column, us))
                .transpose(),
            DbRow::Sqlite(r) => {
                let us: Option<i64> = r.try_get(column).map_err(|e| decode_err(column, e))?;
                us.map(|us| from_micros(column, us)).transpose()
            }
            DbRow::Postgres(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
        }
    }

    /// Column names in order.
    pub fn columns(&self) -> Vec<String> {
        match self {
            DbRow::Cells(r) => r.columns.to_vec(),
            DbRow::Sqlite(r) => r.columns().iter().map(|c| c.name().to_string()).collect(),
            DbRow::Postgres(r) => r.columns().iter().map(|c| c.name().to_string()).collect(),
        }
    }

    /// Any column as JSON, by its runtime type: for custom SQL rules, whose
    /// columns we do not know in advance. On SQLite an integer column whose
    /// name ends in `_at` is a stored instant and comes back as RFC 3339.
    pub fn json(&self, index: usize) -> Result<serde_json::Value> {
        use serde_json::Value;
        match self {
            DbRow::Cells(r) => {
                let (Some(name), Some(cell)) = (r.columns.get(index), r.cells.get(index)) else {
                    return Err(StoreError::Decode {
                        column: index.to_string(),
                        message: "no such column in the result".into(),
                    });
                };
                Ok(match cell {
                    Cell::Null => Value::Null,
                    Cell::Int(v) if name.ends_with("_at") => {
                        Value::String(crate::model::format_instant(from_micros(name, *v)?))
                    }
                    Cell::Int(v) => Value::from(*v),
                    Cell::Float(f) => Value::from(*f),
                    Cell::Blob(_) => Value::String("<binary>".into()),
                    Cell::Text(s) => Value::String(s.clone()),
                })
            }
            DbRow::Sqlite(r) => {
                let raw = r
                    .try_get_raw(index)
                    .map_err(|e| decode_err(&index.to_string(), e))?;
                if raw.is_null() {
                    return Ok(Value::Null);
                }
                let name = r.columns()[index].name().to_string();
                let type_name = raw.type_info().name().to_string();
                Ok(match type_name.as_str() {
                    "INTEGER" | "BOOLEAN" | "INT8" => {
                        let v: i64 = r.try_get(index).map_err(|e| decode_err(&name, e))?;
                        if name.ends_with("_at") {
                            Value::String(crate::model::format_instant(from_micros(&name, v)?))
                        } else {
                            Value::from(v)
                        }
                    }
                    "REAL" => Value::from(
                        r.try_get::<f64, _>(index)
                            .map_err(|e| decode_err(&name, e))?,
                    ),
                    "BLOB" => Value::String("<binary>".into()),
                    _ => Value::String(
                        r.try_get::<String, _>(index)
                            .map_err(|e| decode_err(&name, e))?,
                    ),
                })
            }
            DbRow::Postgres(r) => {
                let raw = r
                    .try_get_raw(index)
                    .map_err(|e| decode_err(&index.to_string(), e))?;
                if raw.is_null() {
                    return Ok(Value::Null);
                }
                let name = r.columns()[index].name().to_string();
                let type_name = raw.type_info().name().to_string();
                let e = |err| decode_err(&name, err);
                Ok(match type_name.as_str() {
                    "BOOL" => Value::from(r.try_get::<bool, _>(index).map_err(e)?),
                    "INT2" => Value::from(r.try_get::<i16, _>(index).map_err(e)?),
                    "INT4" => Value::from(r.try_get::<i32, _>(index).map_err(e)?),
                    "INT8" => Value::from(r.try_get::<i64, _>(index).map_err(e)?),
                    "FLOAT4" => Value::from(r.try_get::<f32, _>(index).map_err(e)?),
                    "FLOAT8" => Value::from(r.try_get::<f64, _>(index).map_err(e)?),
                    "TIMESTAMPTZ" => Value::String(crate::model::format_instant(
                        r.try_get::<DateTime<Utc>, _>(index).map_err(e)?,
                    )),
                    "TIMESTAMP" => Value::String(crate::model::format_instant(
                        r.try_get::<chrono::NaiveDateTime, _>(index)
                            .map_err(e)?
                            .and_utc(),
                    )),
                    "JSON" | "JSONB" => r.try_get::<Value, _>(index).map_err(e)?,
                    "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
                        Value::String(r.try_get::<String, _>(index).map_err(e)?)
                    }
                    "TEXT[]" | "VARCHAR[]" => {
                        Value::from(r.try_get::<Vec<String>, _>(index).map_err(e)?)
                    }
                    other => {
                        return Err(StoreError::Decode {
                            column: name,
                            message: format!(
                                "type {other} is not supported in a finding; cast it to text"
                            ),
                        });
                    }
                })
            }
        }
    }
}
/// Binds `params` to a SQLite query in order.
pub(super) fn bind_sqlite<'q>(
    mut q: Query<'q, Sqlite, SqliteArguments>,
    params: &[SqlValue],
) -> Query<'q, Sqlite, SqliteArguments> {
    for p in params {
        q = match p {
            SqlValue::Bool(b) => q.bind(*b),
            SqlValue::Int(i) => q.bind(*i),
            SqlValue::Float(f) => q.bind(*f),
            SqlValue::Text(s) => q.bind(s.clone()),
            SqlValue::Time(t) => q.bind(t.map(to_micros)),
            SqlValue::TextList(items) => q.bind(serde_json::Value::from(items.clone()).to_string()),
            SqlValue::Bytes(b) => q.bind(b.clone()),
        };
    }
    q
}

/// Binds `params` to a PostgreSQL query in order.
pub(super) fn bind_postgres<'q>(
    mut q: Query<'q, Postgres, PgArguments>,
    params: &'q [SqlValue],
) -> Query<'q, Postgres, PgArguments> {
    for p in params {
        q = match p {
            SqlValue::Bool(b) => q.bind(*b),
            SqlValue::Int(i) => q.bind(*i),
            SqlValue::Float(f) => q.bind(*f),
            // Borrowed: PostgreSQL's arguments encode each value into the
            // message buffer at once, so nothing is copied before it (the
            // findings writer's columns of 500 texts, an archived report's
            // message of up to ~15 MB).
            SqlValue::Text(s) => q.bind(s.as_deref()),
            SqlValue::Time(t) => q.bind(*t),
            SqlValue::TextList(items) => q.bind(items.as_slice()),
            SqlValue::Bytes(b) => q.bind(b.as_deref()),
        };
    }
    q
}

/// Calls `f` with `params` as the guard binds them, in the representation
/// `bind_sqlite` gives (a list as its JSON text, for `json_each`).
pub(super) fn with_guard_values<R>(
    params: &[SqlValue],
    f: impl FnOnce(&[accessaudit_sqlite_guard::Value<'_>]) -> R,
) -> Result<R> {
    let lists: Vec<Option<String>> = params
        .iter()
        .map(|p| match p {
            SqlValue::TextList(items) => Some(serde_json::Value::from(items.clone()).to_string()),
            _ => None,
        })
        .collect();
    let mut values = Vec::with_capacity(params.len());
    for (i, (p, list)) in params.iter().zip(&lists).enumerate() {
        values.push(match list {
            Some(json) => accessaudit_sqlite_guard::Value::Text(json),
            None => guard_value(p, i)?,
        });
    }
    Ok(f(&values))
}

/// A value as the guard binds it: the representation `bind_sqlite` gives.
pub(super) fn guard_value(
    value: &SqlValue,
    i: usize,
) -> Result<accessaudit_sqlite_guard::Value<'_>> {
    Ok(match value {
        SqlValue::Bool(None)
        | SqlValue::Int(None)
        | SqlValue::Float(None)
        | SqlValue::Text(None)
        | SqlValue::Time(None)
        | SqlValue::Bytes(None) => accessaudit_sqlite_guard::Value::Null,
        SqlValue::Bool(Some(b)) => accessaudit_sqlite_guard::Value::Int(i64::from(*b)),
        SqlValue::Int(Some(n)) => accessaudit_sqlite_guard::Value::Int(*n),
        SqlValue::Float(Some(f)) => accessaudit_sqlite_guard::Value::Float(*f),
        SqlValue::Text(Some(s)) => accessaudit_sqlite_guard::Value::Text(s),
        SqlValue::Time(Some(t)) => accessaudit_sqlite_guard::Value::Int(to_micros(*t)),
        SqlValue::Bytes(Some(b)) => accessaudit_sqlite_guard::Value::Blob(b),
        SqlValue::TextList(_) => {
            return Err(StoreError::Decode {
                column: format!("#{}", i + 1),
                message: "a list cannot be bulk-loaded into a column".into(),
            });
        }
    })
}
