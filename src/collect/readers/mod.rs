//! Readers of foreign sources: SQL databases (MySQL/MariaDB, PostgreSQL,
//! SQLite), CSV files, JSON Lines exports, Elasticsearch/OpenSearch and
//! LDAP directories.
//!
//! Every reader yields rows of [`RawValue`]s named by canonical column;
//! [`convert_row`] applies the mapping's codes and the source's time zone and
//! types them like an imported CSV cell, so a value means the same whatever
//! it came from.

pub mod elasticsearch;
pub mod files;
pub mod ldap;
pub mod sql;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::mapping::{Feed, Mapping};
use super::tables::{ColumnSpec, ColumnType};
use crate::store::SqlValue;

/// A value as a source gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A timestamp without offset (MySQL DATETIME): in the mapping's zone.
    Local(NaiveDateTime),
    Utc(DateTime<Utc>),
}

impl RawValue {
    /// The text a code translation looks up (`0`, `1`, `导出`).
    fn code(&self) -> Option<String> {
        match self {
            RawValue::Null => None,
            RawValue::Text(s) => Some(s.trim().to_string()),
            RawValue::Int(i) => Some(i.to_string()),
            RawValue::Float(f) => Some(f.to_string()),
            RawValue::Bool(b) => Some(b.to_string()),
            RawValue::Local(t) => Some(t.to_string()),
            RawValue::Utc(t) => Some(crate::model::format_instant(*t)),
        }
    }

    pub fn from_json(v: &serde_json::Value) -> RawValue {
        match v {
            serde_json::Value::Null => RawValue::Null,
            serde_json::Value::Bool(b) => RawValue::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => RawValue::Int(i),
                None => RawValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => RawValue::Text(s.clone()),
            other => RawValue::Text(other.to_string()),
        }
    }
}

/// One row read from a feed: canonical column name → value.
pub type RawRow = Vec<(String, RawValue)>;

/// A value that cannot become its canonical column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("feed `{feed}`, column `{column}`: {message}")]
pub struct ConvertError {
    pub feed: String,
    pub column: String,
    pub message: String,
}

/// Converts a row into the values of `columns` (in that order); `None` when
/// a code translation drops it.
pub fn convert_row(
    mapping: &Mapping,
    feed_name: &str,
    feed: &Feed,
    columns: &[&'static ColumnSpec],
    row: &RawRow,
) -> Result<Option<Vec<SqlValue>>, ConvertError> {
    let tz = mapping.tz();
    let mut out = Vec::with_capacity(columns.len());
    for spec in columns {
        let err = |message: String| ConvertError {
            feed: feed_name.to_string(),
            column: spec.name.to_string(),
            message,
        };
        let raw = row
            .iter()
            .find(|(name, _)| name == spec.name)
            .map(|(_, v)| v)
            .unwrap_or(&RawValue::Null);
        let raw = match feed.codes.get(spec.name) {
            Some(codes) => match raw.code() {
                None => RawValue::Null,
                Some(code) => match codes.get(&code).or_else(|| codes.get("*")) {
                    Some(Some(value)) => RawValue::Text(value.clone()),
                    Some(None) => return Ok(None),
                    None => {
                        return Err(err(format!(
                            "code `{code}` has no translation in the mapping's codes.{}",
                            spec.name
                        )));
                    }
                },
            },
            None => raw.clone(),
        };
        out.push(typed(spec, raw, tz).map_err(|message| {
            if feed.dated.contains(spec.name) {
                // Its source column's name looks like a credential: the
                // value never goes into a message or a log.
                err("is not a date or time (the value is not shown: the source column's name looks like a credential)".into())
            } else {
                err(message)
            }
        })?);
    }
    Ok(Some(out))
}

fn typed(spec: &ColumnSpec, raw: RawValue, tz: chrono_tz::Tz) -> Result<SqlValue, String> {
    let parse = |s: &str| spec.parse(s).map_err(|e| e.message);
    match (spec.ty, raw) {
        (_, RawValue::Null) => parse(""),
        // An empty string in a typed column means no value, as in a CSV cell.
        (ColumnType::Timestamp | ColumnType::Int | ColumnType::Bool, RawValue::Text(s))
            if s.trim().is_empty() =>
        {
            parse("")
        }
        (ColumnType::Timestamp, RawValue::Local(t)) => Ok(SqlValue::time(local_to_utc(t, tz))),
        (ColumnType::Timestamp, RawValue::Utc(t)) => Ok(SqlValue::time(t)),
        // Epoch milliseconds: how Elasticsearch gives dates as numbers.
        (ColumnType::Timestamp, RawValue::Int(ms)) => DateTime::from_timestamp_millis(ms)
            .map(SqlValue::time)
            .ok_or_else(|| format!("{ms} is not a timestamp in epoch milliseconds")),
        (ColumnType::Timestamp, RawValue::Text(s)) => parse_time(&s, tz).map(SqlValue::time),
        (ColumnType::Bool, RawValue::Int(i)) => Ok(SqlValue::Bool(Some(i != 0))),
        (ColumnType::Bool, RawValue::Bool(b)) => Ok(SqlValue::Bool(Some(b))),
        (ColumnType::Int, RawValue::Int(i)) => Ok(SqlValue::int(i)),
        (ColumnType::Int, RawValue::Float(f)) if f.fract() == 0.0 => Ok(SqlValue::int(f as i64)),
        (_, RawValue::Bool(b)) => parse(if b { "true" } else { "false" }),
        (_, RawValue::Int(i)) => parse(&i.to_string()),
        (_, RawValue::Float(f)) => parse(&f.to_string()),
        (_, RawValue::Text(s)) => parse(&s),
        (_, RawValue::Local(t)) => parse(&t.to_string()),
        (_, RawValue::Utc(t)) => parse(&crate::model::format_instant(t)),
    }
}

pub use crate::model::local_to_utc;

/// The source's wall-clock time of an instant.
pub fn utc_to_local(t: DateTime<Utc>, tz: chrono_tz::Tz) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// RFC 3339 with an offset; else `YYYY-MM-DD[ T]HH:MM:SS[.f]` or a date in
/// the source's zone (the same reading as a CSV import's).
pub fn parse_time(s: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    crate::model::parse_instant_in(s, tz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::mapping::FeedStyle;
    use crate::collect::tables;
    use std::path::Path;

    fn mapping() -> Mapping {
        Mapping::parse(
            Path::new("m.yaml"),
            "timezone: Asia/Shanghai\nfeeds:\n  users:\n    table: principals\n    query: SELECT 1 AS id\n    codes:\n      status: {\"0\": disabled, \"1\": active, \"2\": pending, \"9\": ~}\n",
            FeedStyle::Sql,
        )
        .unwrap()
    }

    #[test]
    fn codes_translate_drop_or_fail_and_local_times_become_utc() {
        let m = mapping();
        let feed = &m.feeds["users"];
        let cols: Vec<&'static ColumnSpec> = ["id", "login", "status", "created_at"]
            .iter()
            .map(|c| tables::PRINCIPALS.column(c).unwrap())
            .collect();
        let row = |status: i64| -> RawRow {
            vec![
                ("id".into(), RawValue::Int(14773)),
                ("login".into(), RawValue::Text("13800000000".into())),
                ("status".into(), RawValue::Int(status)),
                (
                    "created_at".into(),
                    RawValue::Local(
                        NaiveDateTime::parse_from_str("2026-11-01 08:00:00", "%Y-%m-%d %H:%M:%S")
                            .unwrap(),
                    ),
                ),
            ]
        };
        let got = convert_row(&m, "users", feed, &cols, &row(2))
            .unwrap()
            .unwrap();
        assert_eq!(got[0], SqlValue::text("14773"));
        assert_eq!(got[2], SqlValue::text("pending"));
        assert_eq!(
            got[3],
            SqlValue::time(crate::model::parse_instant("2026-11-01T00:00:00Z").unwrap()),
            "08:00 in Shanghai is midnight UTC"
        );
        assert_eq!(
            convert_row(&m, "users", feed, &cols, &row(9)).unwrap(),
            None
        );
        let e = convert_row(&m, "users", feed, &cols, &row(5)).unwrap_err();
        assert!(e.to_string().contains("code `5` has no translation"), "{e}");
    }

    #[test]
    fn timestamps_parse_in_the_source_zone_unless_they_carry_an_offset() {
        let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        let utc = |s: &str| crate::model::parse_instant(s).unwrap();
        assert_eq!(
            parse_time("2026-11-01 08:00:00", tz),
            Ok(utc("2026-11-01T00:00:00Z"))
        );
        assert_eq!(
            parse_time("2026-11-01T08:00:00+08:00", chrono_tz::UTC),
            Ok(utc("2026-11-01T00:00:00Z"))
        );
        assert_eq!(
            parse_time("2026-11-02", tz),
            Ok(utc("2026-11-01T16:00:00Z"))
        );
        assert!(parse_time("01/11/2026", tz).is_err());
    }
}
