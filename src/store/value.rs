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
        match self {
            SqlValue::Text(Some(s)) => s.clone(),
            SqlValue::Time(Some(t)) => t.timestamp_micros().to_string(),
            SqlValue::Int(Some(i)) => i.to_string(),
            SqlValue::Bool(Some(b)) => b.to_string(),
            _ => String::new(),
        }
    }
}

/// Microseconds since the epoch: how SQLite stores an instant.
pub(super) fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn from_micros(column: &str, us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| StoreError::Decode {
        column: column.to_string(),
        message: format!("{us} is not a valid timestamp"),
    })
}

/// A row of either backend, read by column name.
pub enum DbRow {
    Sqlite(SqliteRow),
    Postgres(PgRow),
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
            DbRow::Sqlite(r) => r.try_get(column),
            DbRow::Postgres(r) => r.try_get(column),
        }
        .map_err(|e| decode_err(column, e))
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
            DbRow::Sqlite(r) => r.try_get(column),
            DbRow::Postgres(r) => r.try_get(column),
        }
        .map_err(|e| decode_err(column, e))
    }

    pub fn f64(&self, column: &str) -> Result<Option<f64>> {
        match self {
            DbRow::Sqlite(r) => r.try_get(column),
            DbRow::Postgres(r) => r.try_get(column),
        }
        .map_err(|e| decode_err(column, e))
    }

    pub fn bool(&self, column: &str) -> Result<Option<bool>> {
        match self {
            DbRow::Sqlite(r) => r.try_get(column),
            DbRow::Postgres(r) => r.try_get(column),
        }
        .map_err(|e| decode_err(column, e))
    }

    pub fn bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        match self {
            DbRow::Sqlite(r) => r.try_get(column),
            DbRow::Postgres(r) => r.try_get(column),
        }
        .map_err(|e| decode_err(column, e))
    }

    pub fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>> {
        match self {
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
    params: &[SqlValue],
) -> Query<'q, Postgres, PgArguments> {
    for p in params {
        q = match p {
            SqlValue::Bool(b) => q.bind(*b),
            SqlValue::Int(i) => q.bind(*i),
            SqlValue::Float(f) => q.bind(*f),
            SqlValue::Text(s) => q.bind(s.clone()),
            SqlValue::Time(t) => q.bind(*t),
            SqlValue::TextList(items) => q.bind(items.clone()),
            SqlValue::Bytes(b) => q.bind(b.clone()),
        };
    }
    q
}
