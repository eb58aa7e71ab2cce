//! The formats of `accessaudit run --format`: `json` (the contract of
//! DESIGN.md), `csv` (neutralised against formula injection) and `table`.
//! All of them stream the findings of a run from the store, in a stable order.

use std::io::Write;

use crate::engine::RunSummary;
use crate::model::{Finding, format_instant};
use crate::store::runs::OutcomeStatus;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a person at a terminal.
    Table,
    /// `{run_id, as_of, findings: […]}`, as DESIGN.md specifies.
    Json,
    /// One finding per row, with the evidence as JSON.
    Csv,
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// The stable CSV columns.
pub const CSV_COLUMNS: [&str; 7] = [
    "run_id",
    "rule",
    "severity",
    "subject_type",
    "subject_id",
    "title",
    "evidence",
];

/// A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab,
/// carriage return first) gets a leading `'`, so it shows as text.
///
/// ```
/// use accessaudit::report::output::neutralise_cell;
/// assert_eq!(neutralise_cell("=HYPERLINK(\"http://evil\")"), "'=HYPERLINK(\"http://evil\")");
/// assert_eq!(neutralise_cell("alice"), "alice");
/// ```
pub fn neutralise_cell(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}").into(),
        _ => value.into(),
    }
}

/// Writes the findings of `run` to `out` in `format`.
pub async fn write_run<W: Write>(
    store: &Store,
    run: &RunSummary,
    format: Format,
    out: &mut W,
) -> Result<(), OutputError> {
    match format {
        Format::Json => {
            write!(
                out,
                "{{\"run_id\":{},\"as_of\":{},\"findings\":[",
                run.run_id,
                serde_json::Value::String(format_instant(run.as_of))
            )?;
            let mut first = true;
            store
                .for_each_finding(run.run_id, |f| {
                    out.write_all(if first { b"\n  " } else { b",\n  " })?;
                    first = false;
                    serde_json::to_writer(&mut *out, &f).map_err(std::io::Error::other)
                })
                .await?;
            writeln!(out, "{}]}}", if first { "" } else { "\n" })?;
        }
        Format::Csv => {
            let mut csv = csv::Writer::from_writer(&mut *out);
            csv.write_record(CSV_COLUMNS)
                .map_err(std::io::Error::other)?;
            let run_id = run.run_id.to_string();
            store
                .for_each_finding(run.run_id, |f| {
                    let evidence = serde_json::Value::Object(f.evidence.clone()).to_string();
                    let cells = [
                        run_id.as_str(),
                        &f.rule,
                        f.severity.as_str(),
                        f.subject_type.as_str(),
                        &f.subject_id,
                        &f.title,
                        &evidence,
                    ];
                    csv.write_record(cells.iter().map(|c| neutralise_cell(c).into_owned()))
                        .map_err(std::io::Error::other)
                })
                .await?;
            csv.flush()?;
        }
        Format::Table => {
            writeln!(
                out,
                "run {} as of {}",
                run.run_id,
                format_instant(run.as_of)
            )?;
            writeln!(out)?;
            writeln!(
                out,
                "{:<9} {:<22} {:<26} TITLE",
                "SEVERITY", "RULE", "SUBJECT"
            )?;
            let count = store
                .for_each_finding(run.run_id, |f| {
                    writeln!(
                        out,
                        "{:<9} {:<22} {:<26} {}",
                        f.severity.as_str(),
                        fit(&f.rule, 22),
                        fit(&subject(&f), 26),
                        printable(&f.title)
                    )
                })
                .await?;
            writeln!(out)?;
            writeln!(out, "{count} finding(s)")?;
            for o in &run.outcomes {
                let status = match o.status {
                    OutcomeStatus::Ok => format!("{} finding(s)", o.finding_count),
                    OutcomeStatus::Skipped => "SKIPPED".into(),
                    OutcomeStatus::Failed => "FAILED".into(),
                };
                write!(out, "  {:<24} {status} in {} ms", o.rule_id, o.duration_ms)?;
                match &o.reason {
                    Some(reason) => writeln!(out, ": {}", printable(reason))?,
                    None => writeln!(out)?,
                }
            }
        }
    }
    Ok(())
}

fn subject(f: &Finding) -> String {
    format!("{} {}", f.subject_type, printable(&f.subject_id))
}

/// `s` for a terminal: control and format characters from data must not
/// drive it or reorder what it shows (`support::text`).
pub fn printable(s: &str) -> String {
    crate::support::text::for_terminal(s)
}

fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut cut: String = s.chars().take(width - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for hostile in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert!(neutralise_cell(hostile).starts_with('\''), "{hostile}");
        }
        assert_eq!(neutralise_cell("alice"), "alice");
        assert_eq!(neutralise_cell(""), "");
    }

    #[test]
    fn terminal_output_drops_control_characters() {
        assert_eq!(printable("a\u{1b}[31mb\n"), "a?[31mb?");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
