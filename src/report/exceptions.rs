//! Exceptions: accepted risks. A rule and a subject (or a pattern of
//! subjects), a reason, who approved it and when it expires. A finding covered
//! by a live exception is reported as accepted instead of open; an expired one
//! stops covering and is listed in the report, so that nobody forgets it.
//!
//! Exceptions live in the database (`accessaudit exceptions add|list|remove`)
//! and can be loaded from a YAML file kept under version control
//! (`accessaudit exceptions load FILE`), which replaces every exception loaded
//! from a file before, in one transaction.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::model::{format_instant, parse_instant};
use crate::store::{DbRow, SqlValue, Store, StoreError};
use crate::support::wildcard::{self, Case};
use crate::yaml::{self, LocatedError};

#[derive(Debug, thiserror::Error)]
pub enum ExceptionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    File(Vec<LocatedError>),
}

/// Where an exception came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `accessaudit exceptions add`.
    Cli,
    /// `accessaudit exceptions load FILE` (a versioned YAML file).
    File,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cli => "cli",
            Source::File => "file",
        }
    }
}

/// An exception to be added: every field is required.
#[derive(Debug, Clone)]
pub struct NewException {
    pub rule: String,
    /// A subject id, or a pattern with `*` (any run of characters) and `?`
    /// (one character).
    pub subject: String,
    pub reason: String,
    pub approved_by: String,
    pub expires_at: DateTime<Utc>,
}

impl NewException {
    /// The problems of this exception, as (field, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (field, value) in [
            ("rule", &self.rule),
            ("subject", &self.subject),
            ("reason", &self.reason),
            ("approved_by", &self.approved_by),
        ] {
            if value.trim().is_empty() {
                out.push((field, format!("`{field}` is required and may not be empty")));
            }
        }
        out
    }
}

/// An exception as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exception {
    pub id: i64,
    pub rule: String,
    pub subject: String,
    pub reason: String,
    pub approved_by: String,
    #[serde(serialize_with = "ser_instant")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_instant")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_source")]
    pub source: Source,
}

fn ser_instant<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_instant(*t))
}

fn ser_source<S: serde::Serializer>(v: &Source, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

impl Exception {
    /// Whether this exception is still in force at `at` (it expires at `expires_at`).
    pub fn live_at(&self, at: DateTime<Utc>) -> bool {
        at < self.expires_at
    }

    /// Whether it names this rule and subject (live or not).
    pub fn matches(&self, rule: &str, subject_id: &str) -> bool {
        self.rule == rule && wildcard::matches(&self.subject, subject_id, Case::Sensitive)
    }
}

const COLUMNS: &str = "id, rule, subject, reason, approved_by, expires_at, created_at, source";

fn decode(r: &DbRow) -> Result<Exception, StoreError> {
    let missing = |c: &str| StoreError::Decode {
        column: c.to_string(),
        message: "unexpected NULL".into(),
    };
    Ok(Exception {
        id: r.i64("id")?.ok_or_else(|| missing("id"))?,
        rule: r.req_text("rule")?,
        subject: r.req_text("subject")?,
        reason: r.req_text("reason")?,
        approved_by: r.req_text("approved_by")?,
        expires_at: r.time("expires_at")?.ok_or_else(|| missing("expires_at"))?,
        created_at: r.time("created_at")?.ok_or_else(|| missing("created_at"))?,
        source: if r.req_text("source")? == "file" {
            Source::File
        } else {
            Source::Cli
        },
    })
}

fn insert_params(e: &NewException, source: Source, now: DateTime<Utc>) -> Vec<SqlValue> {
    vec![
        SqlValue::text(e.rule.trim()),
        SqlValue::text(e.subject.trim()),
        SqlValue::text(e.reason.trim()),
        SqlValue::text(e.approved_by.trim()),
        SqlValue::time(e.expires_at),
        SqlValue::time(now),
        SqlValue::text(source.as_str()),
    ]
}

const INSERT: &str =
    "INSERT INTO exceptions (rule, subject, reason, approved_by, expires_at, created_at, source)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";

/// Adds an exception from the command line. Refused without a reason, an
/// approver or a subject, or when it has already expired.
pub async fn add(
    store: &Store,
    e: &NewException,
    now: DateTime<Utc>,
) -> Result<i64, ExceptionError> {
    let mut problems: Vec<String> = e.problems().into_iter().map(|(_, m)| m).collect();
    if e.expires_at <= now {
        problems.push(format!(
            "the expiry {} is not in the future",
            format_instant(e.expires_at)
        ));
    }
    if !problems.is_empty() {
        return Err(ExceptionError::Invalid(problems.join("; ")));
    }
    let mut tx = store.begin().await?;
    let row = tx
        .fetch_optional(INSERT, &insert_params(e, Source::Cli, now))
        .await?;
    let id = row.map(|r| r.i64("id")).transpose()?.flatten();
    tx.commit().await?;
    id.ok_or_else(|| ExceptionError::Invalid("INSERT … RETURNING gave no id".into()))
}

/// Every exception, by id.
pub async fn list(store: &Store) -> Result<Vec<Exception>, StoreError> {
    let rows = store
        .fetch_all(
            &format!("SELECT {COLUMNS} FROM exceptions ORDER BY id"),
            &[],
        )
        .await?;
    rows.iter().map(decode).collect()
}

/// Removes one exception; false when there was none with this id.
pub async fn remove(store: &Store, id: i64) -> Result<bool, StoreError> {
    Ok(store
        .execute("DELETE FROM exceptions WHERE id = $1", &[SqlValue::int(id)])
        .await?
        > 0)
}

/// The YAML file of exceptions kept under version control.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptionFile {
    exceptions: Vec<FileEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    rule: Spanned<String>,
    subject: Spanned<String>,
    reason: Spanned<String>,
    approved_by: Spanned<String>,
    /// RFC 3339 or a date (midnight UTC).
    expires: Spanned<String>,
}

/// Parses an exceptions file; every problem located (file, line, column, field).
/// `known_rule` says whether a rule id exists.
pub fn parse_file(
    file: &Path,
    text: &str,
    known_rule: impl Fn(&str) -> bool,
) -> Result<Vec<NewException>, ExceptionError> {
    let parsed: ExceptionFile =
        yaml::parse(file, text).map_err(|e| ExceptionError::File(vec![e]))?;
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, entry) in parsed.exceptions.iter().enumerate() {
        let at = |field: &str, s: &Spanned<String>, message: String| {
            LocatedError::at_value(file, s, format!("exceptions[{i}].{field}"), message)
        };
        let expires_at = match parse_instant(entry.expires.value.trim()) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(at("expires", &entry.expires, e));
                None
            }
        };
        if !entry.rule.value.trim().is_empty() && !known_rule(entry.rule.value.trim()) {
            errors.push(at(
                "rule",
                &entry.rule,
                format!("no rule `{}` is loaded", entry.rule.value),
            ));
        }
        let e = NewException {
            rule: entry.rule.value.clone(),
            subject: entry.subject.value.clone(),
            reason: entry.reason.value.clone(),
            approved_by: entry.approved_by.value.clone(),
            expires_at: expires_at.unwrap_or(DateTime::<Utc>::MIN_UTC),
        };
        for (field, message) in e.problems() {
            let spanned = match field {
                "rule" => &entry.rule,
                "subject" => &entry.subject,
                "reason" => &entry.reason,
                _ => &entry.approved_by,
            };
            errors.push(at(field, spanned, message));
        }
        if expires_at.is_some() {
            out.push(e);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ExceptionError::File(errors))
    }
}

/// Replaces every exception loaded from a file by `entries`, in one
/// transaction: the database then mirrors the versioned file. Exceptions
/// added on the command line are kept. Returns how many were loaded.
pub async fn replace_from_file(
    store: &Store,
    entries: &[NewException],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut tx = store.begin().await?;
    tx.execute(
        "DELETE FROM exceptions WHERE source = $1",
        &[SqlValue::text(Source::File.as_str())],
    )
    .await?;
    for e in entries {
        tx.execute(INSERT, &insert_params(e, Source::File, now))
            .await?;
    }
    tx.commit().await?;
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_runs_and_single_characters() {
        let wildcard_match = |p: &str, t: &str| wildcard::matches(p, t, Case::Sensitive);
        assert!(wildcard_match("svc-*", "svc-backup"));
        assert!(wildcard_match("svc-*", "svc-"));
        assert!(!wildcard_match("svc-*", "xsvc-backup"));
        assert!(wildcard_match("u10?", "u104"));
        assert!(!wildcard_match("u10?", "u1042"));
        assert!(wildcard_match("*-admin-*", "crm-admin-7"));
        assert!(wildcard_match("p1", "p1"));
        assert!(!wildcard_match("p1", "p10"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYbc"));
        assert!(!wildcard_match("a*b*c", "aXXbYYb"));
    }

    #[test]
    fn file_entries_without_reason_or_expiry_are_refused_with_their_place() {
        let text = "exceptions:\n  - rule: idle-accounts\n    subject: p1\n    reason: ''\n    approved_by: CISO\n    expires: 2027-01-01\n  - rule: idle-accounts\n    subject: p2\n    reason: ok\n    approved_by: CISO\n    expires: soon\n";
        let e = parse_file(Path::new("x.yaml"), text, |_| true).unwrap_err();
        let ExceptionError::File(errors) = e else {
            panic!("expected located errors")
        };
        let fields: Vec<(&str, usize)> =
            errors.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(
            fields,
            [("exceptions[0].reason", 4), ("exceptions[1].expires", 11)],
            "{errors:?}"
        );

        let missing = "exceptions:\n  - rule: idle-accounts\n    subject: p1\n    reason: r\n    approved_by: CISO\n";
        let e = parse_file(Path::new("x.yaml"), missing, |_| true).unwrap_err();
        assert!(e.to_string().contains("expires"), "{e}");
    }

    #[test]
    fn unknown_rules_are_refused() {
        let text = "exceptions:\n  - {rule: nope, subject: p1, reason: r, approved_by: a, expires: 2027-01-01}\n";
        let e = parse_file(Path::new("x.yaml"), text, |r| r == "idle-accounts").unwrap_err();
        assert!(e.to_string().contains("no rule `nope`"), "{e}");
    }
}
