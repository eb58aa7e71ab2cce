//! Decisions from a spreadsheet: `reviews export ID --format csv` gives the
//! items, a reviewer fills `decision` (keep / revoke) and `justification`,
//! and `reviews import-decisions ID FILE.csv` records them, all or nothing,
//! each problem named by file, line and column.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::decide::{self, Ask};
use super::open::People;
use super::record;
use super::{Decision, DecisionSource, Result, ReviewError};
use crate::config::Config;
use crate::store::Store;
use crate::support::csv_lines::LineCounting;
use crate::yaml::LocatedError;

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Imported {
    pub recorded: usize,
    pub unchanged: usize,
    /// Rows left without a decision.
    pub blank: usize,
}

/// The address in a reviewer label (`Name <a@x>` → `a@x`; a group label
/// `it (a@x, b@x)` → `it`; anything else as it is).
fn who_of(label: &str) -> String {
    let label = label.trim();
    if let (Some(open), Some(close)) = (label.rfind('<'), label.rfind('>'))
        && open < close
    {
        return label[open + 1..close].trim().to_string();
    }
    match label.split_once(" (") {
        Some((group, _)) => group.to_string(),
        None => label.to_string(),
    }
}

/// A decision read from a sheet, with its line.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetRow {
    pub line: usize,
    pub item_id: i64,
    pub decision: Decision,
    pub justification: Option<String>,
    pub by: String,
}

/// A sheet read and checked, before anything is recorded.
#[derive(Debug, Clone, Default)]
pub struct Sheet {
    pub rows: Vec<SheetRow>,
    /// Rows left without a decision.
    pub blank: usize,
    /// The column of `decision` (1-based), where refusals are pointed.
    pub decision_column: usize,
}

/// Reads a decisions CSV (a UTF-8 byte-order mark allowed). `by`: who
/// decides every row (else each row's `reviewer`). Every problem is named
/// by file, line and column.
pub fn parse(file: &Path, data: &[u8], by: Option<&str>) -> Result<Sheet> {
    let located = |line: usize, column: usize, field: &str, message: String| LocatedError {
        file: file.to_path_buf(),
        line,
        column,
        field: field.to_string(),
        message,
    };
    let data = data.strip_prefix("\u{feff}".as_bytes()).unwrap_or(data);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(LineCounting::new(data));
    let header = reader
        .headers()
        .map_err(|e| ReviewError::File(vec![located(1, 1, "", format!("not a CSV header: {e}"))]))?
        .clone();
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(c_item), Some(c_decision)) = (col("item_id"), col("decision")) else {
        return Err(ReviewError::File(vec![located(
            1,
            1,
            "",
            "the header needs the columns item_id and decision (and justification, reviewer)"
                .into(),
        )]));
    };
    let c_just = col("justification");
    let c_reviewer = col("reviewer");
    if by.is_none() && c_reviewer.is_none() {
        return Err(ReviewError::File(vec![located(
            1,
            1,
            "",
            "no `reviewer` column: say who decides with --by".into(),
        )]));
    }
    let mut sheet = Sheet {
        decision_column: c_decision + 1,
        ..Sheet::default()
    };
    let mut errors = Vec::new();
    let mut record = csv::StringRecord::new();
    for i in 0.. {
        let line = i + 2;
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(line, |p| reader.get_ref().line_of(p));
                errors.push(located(line, 1, "", format!("not a CSV row: {e}")));
                if matches!(
                    e.kind(),
                    csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                ) {
                    continue;
                }
                break;
            }
        }
        let line = record
            .position()
            .map_or(line, |p| reader.get_ref().line_of(p));
        let cell = |c: usize| record.get(c).unwrap_or("").trim();
        let decision_text = cell(c_decision);
        if decision_text.is_empty() {
            sheet.blank += 1;
            continue;
        }
        let item_id = match cell(c_item).parse::<i64>() {
            Ok(id) => id,
            Err(_) => {
                errors.push(located(
                    line,
                    c_item + 1,
                    "item_id",
                    format!("`{}` is not an item id", cell(c_item)),
                ));
                continue;
            }
        };
        let Some(decision) = Decision::parse(decision_text) else {
            errors.push(located(
                line,
                c_decision + 1,
                "decision",
                format!("`{decision_text}` is not keep or revoke"),
            ));
            continue;
        };
        let who = match (by, c_reviewer) {
            (Some(b), _) => b.to_string(),
            (None, Some(c)) => who_of(cell(c)),
            (None, None) => String::new(),
        };
        if who.is_empty() {
            errors.push(located(
                line,
                c_reviewer.map_or(1, |c| c + 1),
                "reviewer",
                "no reviewer: fill it or give --by".into(),
            ));
            continue;
        }
        sheet.rows.push(SheetRow {
            line,
            item_id,
            decision,
            justification: c_just
                .map(|c| cell(c).to_string())
                .filter(|j| !j.is_empty()),
            by: who,
        });
    }
    if errors.is_empty() {
        Ok(sheet)
    } else {
        Err(ReviewError::File(errors))
    }
}

/// Imports decisions for a campaign. `by`: who decides every row (else
/// each row's `reviewer`).
pub async fn import(
    store: &Store,
    config: &Config,
    campaign_id: i64,
    file: &Path,
    by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Imported> {
    let located = |line: usize, column: usize, field: &str, message: String| LocatedError {
        file: file.to_path_buf(),
        line,
        column,
        field: field.to_string(),
        message,
    };
    let data = std::fs::read(file).map_err(|e| {
        ReviewError::File(vec![located(
            0,
            0,
            "",
            format!("cannot read the file: {e}"),
        )])
    })?;
    let sheet = parse(file, &data, by)?;
    let mut errors = Vec::new();
    let mut tx = record::begin(store).await?;
    let campaign = record::campaign(&mut tx, campaign_id).await?;
    let people = People::load(&mut tx).await?;
    let mut out = Imported {
        blank: sheet.blank,
        ..Imported::default()
    };
    for r in &sheet.rows {
        let ask = Ask {
            item_id: r.item_id,
            decision: r.decision,
            justification: r.justification.as_deref(),
            by: &r.by,
            source: DecisionSource::Import,
        };
        match decide::decide_in(&mut tx, config, &people, &campaign, &ask, now).await {
            Ok(decide::Outcome::Recorded) => out.recorded += 1,
            Ok(decide::Outcome::Unchanged) => out.unchanged += 1,
            Err(ReviewError::Refused(m)) => {
                errors.push(located(r.line, sheet.decision_column, "decision", m))
            }
            Err(e) => return Err(e),
        }
    }
    if !errors.is_empty() {
        tx.rollback().await?;
        return Err(ReviewError::File(errors));
    }
    tx.commit().await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reviewer_labels_give_who_decides() {
        assert_eq!(super::who_of("Ann Lee <ann@x.org>"), "ann@x.org");
        assert_eq!(super::who_of("it (a@x.org, b@x.org)"), "it");
        assert_eq!(super::who_of(" boss@x.org "), "boss@x.org");
    }

    #[test]
    fn rows_are_named_by_their_physical_line() {
        let data = b"item_id,decision,note\x01\r\n0,keep,a\n\n2,revoke,b\r\n";
        let sheet =
            super::parse(std::path::Path::new("d.csv"), data, Some("b@x.org")).expect("a sheet");
        let lines: Vec<usize> = sheet.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4]);
    }
}
