//! File sources: CSV (an HR roster exported daily) and JSON Lines (an
//! export of Elasticsearch indices, one `_source` or whole hit per line).
//!
//! A feed names a file in the source's directory, or a pattern with `*`
//! (monthly exports); matching files are read in name order. Columns are
//! taken from CSV headers or dotted paths into each JSON document.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{RawRow, RawValue};
use crate::collect::mapping::{ColumnSource, Feed};
use crate::support::csv_lines::LineCounting;
use crate::support::wildcard::{self, Case};

#[derive(Debug, thiserror::Error)]
pub enum FileSourceError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Bad {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("no file in {} matches `{pattern}`", dir.display())]
    NoMatch { dir: PathBuf, pattern: String },
}

/// The files of `dir` a feed's `file` names, in name order.
pub fn matching_files(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, FileSourceError> {
    if !wildcard::has_wildcard(pattern) {
        return Ok(vec![dir.join(pattern)]);
    }
    let entries = std::fs::read_dir(dir).map_err(|source| FileSourceError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| wildcard::matches(pattern, n, Case::Sensitive))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(FileSourceError::NoMatch {
            dir: dir.to_path_buf(),
            pattern: pattern.to_string(),
        });
    }
    Ok(files)
}

/// The field that holds the watermark's time: `time_field`, else the one
/// `occurred_at` comes from (itself, in a file with canonical names).
pub fn time_field(feed: &Feed) -> Option<&str> {
    feed.time_field
        .as_deref()
        .or(match feed.columns.get("occurred_at") {
            Some(ColumnSource::Field(f)) => Some(f.as_str()),
            None if feed.same_named() => Some("occurred_at"),
            _ => None,
        })
}

/// What each row of a CSV file gives: canonical column → where it comes
/// from. Without `columns:`, the canonical columns the header names (an
/// unknown or missing required column is refused as `import` refuses it).
fn csv_sources(feed: &Feed, header: &[String]) -> Result<Vec<(String, ColumnSource)>, String> {
    if !feed.same_named() {
        return Ok(feed
            .columns
            .iter()
            .map(|(c, s)| (c.clone(), s.clone()))
            .collect());
    }
    let mapped = feed.spec().map_header(header).map_err(|errors| {
        errors
            .iter()
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    Ok(mapped
        .columns
        .iter()
        .map(|c| (c.name.to_string(), ColumnSource::Field(c.name.to_string())))
        .collect())
}

/// Reads a CSV feed in batches of `size` rows (the sink's error, if any,
/// inside `Ok`).
pub async fn read_csv<E, F>(
    dir: &Path,
    feed: &Feed,
    since: Option<DateTime<Utc>>,
    tz: chrono_tz::Tz,
    size: usize,
    mut sink: F,
) -> Result<Result<(), E>, FileSourceError>
where
    F: AsyncFnMut(Vec<RawRow>) -> Result<(), E>,
{
    let mut out = Vec::new();
    for path in matching_files(dir, feed.file.as_deref().unwrap_or(""))? {
        let io = |source| FileSourceError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(io)?;
        let mut csv = csv::Reader::from_reader(LineCounting::new(std::io::BufReader::new(file)));
        let header: Vec<String> = csv
            .headers()
            .map_err(|e| bad(&path, 1, e.to_string()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let position = |field: &str| header.iter().position(|h| h == field);
        let columns = csv_sources(feed, &header).map_err(|m| bad(&path, 1, m))?;
        for (column, source) in &columns {
            if let ColumnSource::Field(f) = source
                && position(f).is_none()
            {
                return Err(bad(
                    &path,
                    1,
                    format!("no column `{f}` (for `{column}`) in the header"),
                ));
            }
        }
        let time_at = time_field(feed).and_then(position);
        let mut record = csv::StringRecord::new();
        loop {
            match csv.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let line = e.position().map_or(0, |p| csv.get_ref().line_of(p) as u64);
                    return Err(bad(&path, line, e.to_string()));
                }
            }
            let line = record
                .position()
                .map_or(0, |p| csv.get_ref().line_of(p) as u64);
            if let (Some(since), Some(at)) = (since, time_at) {
                let cell = record.get(at).unwrap_or("");
                let t = super::parse_time(cell, tz).map_err(|m| bad(&path, line, m))?;
                if t < since {
                    continue;
                }
            }
            let row = columns
                .iter()
                .map(|(column, source)| {
                    let value = match source {
                        ColumnSource::Constant { value } => RawValue::Text(value.clone()),
                        // `Attribute` is an LDAP column: refused for files at load.
                        ColumnSource::Field(f) | ColumnSource::Attribute { attribute: f, .. } => {
                            match position(f).and_then(|i| record.get(i)) {
                                Some(cell) if !cell.trim().is_empty() => {
                                    RawValue::Text(cell.to_string())
                                }
                                _ => RawValue::Null,
                            }
                        }
                    };
                    (column.clone(), value)
                })
                .collect();
            out.push(row);
            if out.len() >= size
                && let Err(e) = sink(std::mem::take(&mut out)).await
            {
                return Ok(Err(e));
            }
        }
    }
    Ok(sink(out).await)
}

/// The records of a feed's files counted on their own (CSV records past the
/// header; non-blank JSON Lines), without the mapping: what the rows read
/// are reconciled against when nothing filters them.
pub fn count_records(dir: &Path, feed: &Feed, csv: bool) -> Result<u64, FileSourceError> {
    use std::io::BufRead;
    let mut n = 0u64;
    for path in matching_files(dir, feed.file.as_deref().unwrap_or(""))? {
        let io = |source| FileSourceError::Io {
            path: path.clone(),
            source,
        };
        let file = std::io::BufReader::new(std::fs::File::open(&path).map_err(io)?);
        if csv {
            let mut reader = csv::Reader::from_reader(file);
            let mut record = csv::ByteRecord::new();
            while reader
                .read_byte_record(&mut record)
                .map_err(|e| bad(&path, 0, e.to_string()))?
            {
                n += 1;
            }
        } else {
            for line in file.lines() {
                if !line.map_err(io)?.trim().is_empty() {
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

/// Reads a JSON Lines feed: one JSON object per line, either a document or
/// a search hit (`{"_id": …, "_source": {…}}`).
pub async fn read_jsonl<E, F>(
    dir: &Path,
    feed: &Feed,
    since: Option<DateTime<Utc>>,
    tz: chrono_tz::Tz,
    size: usize,
    mut sink: F,
) -> Result<Result<(), E>, FileSourceError>
where
    F: AsyncFnMut(Vec<RawRow>) -> Result<(), E>,
{
    use std::io::BufRead;
    let mut out = Vec::new();
    for path in matching_files(dir, feed.file.as_deref().unwrap_or(""))? {
        let io = |source| FileSourceError::Io {
            path: path.clone(),
            source,
        };
        let file = std::io::BufReader::new(std::fs::File::open(&path).map_err(io)?);
        for (i, line) in file.lines().enumerate() {
            let line = line.map_err(io)?;
            let line_no = i as u64 + 1;
            if line.trim().is_empty() {
                continue;
            }
            let doc: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| bad(&path, line_no, e.to_string()))?;
            if let Some(row) =
                document_row(feed, &doc, since, tz).map_err(|m| bad(&path, line_no, m))?
            {
                out.push(row);
            }
            if out.len() >= size
                && let Err(e) = sink(std::mem::take(&mut out)).await
            {
                return Ok(Err(e));
            }
        }
    }
    Ok(sink(out).await)
}

/// The row of one document (`None`: older than the watermark). A search
/// hit's `_id` and `_index` are fields too; other fields are read from its
/// `_source`.
pub fn document_row(
    feed: &Feed,
    doc: &serde_json::Value,
    since: Option<DateTime<Utc>>,
    tz: chrono_tz::Tz,
) -> Result<Option<RawRow>, String> {
    let source = doc.get("_source").unwrap_or(doc);
    let field = |name: &str| -> RawValue {
        if name.starts_with('_')
            && let Some(v) = doc.get(name)
        {
            return RawValue::from_json(v);
        }
        let mut at = source;
        for part in name.split('.') {
            match at.get(part) {
                Some(v) => at = v,
                None => return RawValue::Null,
            }
        }
        RawValue::from_json(at)
    };
    if let (Some(since), Some(tf)) = (since, time_field(feed)) {
        let t = match field(tf) {
            RawValue::Text(s) => super::parse_time(&s, tz)?,
            RawValue::Int(ms) => DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| format!("`{tf}`: {ms} is not epoch milliseconds"))?,
            RawValue::Null => return Err(format!("field `{tf}` (time_field) is missing")),
            other => return Err(format!("field `{tf}` is not a time: {other:?}")),
        };
        if t < since {
            return Ok(None);
        }
    }
    if feed.same_named() {
        // Every column of the table under its own name: a missing field is
        // NULL (a required one is refused when the row is converted).
        return Ok(Some(
            feed.spec()
                .columns
                .iter()
                .map(|c| (c.name.to_string(), field(c.name)))
                .collect(),
        ));
    }
    Ok(Some(
        feed.columns
            .iter()
            .map(|(column, src)| {
                let value = match src {
                    ColumnSource::Constant { value } => RawValue::Text(value.clone()),
                    ColumnSource::Field(f) | ColumnSource::Attribute { attribute: f, .. } => {
                        field(f)
                    }
                };
                (column.clone(), value)
            })
            .collect(),
    ))
}

fn bad(path: &Path, line: u64, message: String) -> FileSourceError {
    FileSourceError::Bad {
        path: path.to_path_buf(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wildcard_match(pattern: &str, name: &str) -> bool {
        wildcard::matches(pattern, name, Case::Sensitive)
    }

    #[test]
    fn wildcards_match_monthly_index_exports() {
        assert!(wildcard_match(
            "wk-login-log-*.jsonl",
            "wk-login-log-2026-11.jsonl"
        ));
        assert!(!wildcard_match(
            "wk-login-log-*.jsonl",
            "wk-sys-log-2026-11.jsonl"
        ));
        assert!(wildcard_match("roster.csv", "roster.csv"));
        assert!(wildcard_match("a*b*c", "a-x-b-y-c"));
        assert!(!wildcard_match("a*b*c", "a-x-c"));
    }
}
