//! The formats of `accessaudit run --format`: `json` (the contract, with
//! rule outcomes and each finding's status added), `csv` (neutralised against formula injection) and `table`.
//! All of them stream the findings of a run from the store, in a stable order.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::exceptions::{self, Exception};
use crate::engine::RunSummary;
use crate::model::{Finding, Severity, format_instant};
use crate::store::runs::{OutcomeStatus, RuleOutcome, StoredFinding};
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a person at a terminal.
    Table,
    /// `{run_id, as_of, rules: […], findings: […]}`: the contract, with
    /// the rule outcomes and each finding's status added.
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

/// The stable CSV columns (`status` and `exception_id` were added after
/// the first seven; consumers that read columns by name can ignore them).
/// A contract: the application of a finding is in the JSON output and the
/// report's attachment, and in the namespaced `subject_id` itself.
pub const CSV_COLUMNS: [&str; 9] = [
    "run_id",
    "rule",
    "severity",
    "subject_type",
    "subject_id",
    "title",
    "evidence",
    "status",
    "exception_id",
];

/// Where a finding stands: new in this run, open since an earlier run of
/// the job, or accepted by an exception in force at the run's instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    New,
    Open,
    Accepted,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::New => "new",
            FindingStatus::Open => "open",
            FindingStatus::Accepted => "accepted",
        }
    }
}

/// A rule outcome's status as the outputs name it.
pub fn outcome_label(status: OutcomeStatus) -> &'static str {
    match status {
        OutcomeStatus::Ok => "evaluated",
        OutcomeStatus::Skipped => "skipped",
        OutcomeStatus::NotApplicable => "not_applicable",
        OutcomeStatus::Failed => "failed",
    }
}

/// What the findings of a run amount to once exceptions are taken into
/// account: what `run --fail-on` compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    pub findings: u64,
    pub accepted: u64,
    /// The most severe finding that no exception accepts.
    pub max_unaccepted: Option<Severity>,
}

/// The exceptions in force at a run's instant, and what they make of each
/// finding.
struct Judge {
    live: Vec<Exception>,
    standing: Standing,
}

impl Judge {
    async fn new(store: &Store, as_of: DateTime<Utc>) -> Result<Judge, OutputError> {
        let live = exceptions::list(store)
            .await?
            .into_iter()
            .filter(|e| e.live_at(as_of))
            .collect();
        Ok(Judge {
            live,
            standing: Standing::default(),
        })
    }

    fn judge(&mut self, f: &StoredFinding, seen_before: bool) -> (FindingStatus, Option<i64>) {
        self.standing.findings += 1;
        let exception = self
            .live
            .iter()
            .find(|e| e.matches(&f.rule, &f.subject_id))
            .map(|e| e.id);
        let status = if exception.is_some() {
            self.standing.accepted += 1;
            FindingStatus::Accepted
        } else if seen_before {
            FindingStatus::Open
        } else {
            FindingStatus::New
        };
        if status != FindingStatus::Accepted {
            self.standing.max_unaccepted = self.standing.max_unaccepted.max(Some(f.severity));
        }
        (status, exception)
    }
}

/// The id of a finding's subject as its application knows it.
pub fn native_id(f: &Finding) -> Option<&str> {
    native_id_in(f.application.as_deref(), &f.subject_id)
}

fn native_id_in<'a>(application: Option<&str>, subject_id: &'a str) -> Option<&'a str> {
    application.map(|a| crate::model::application::native_id(a, subject_id))
}

/// A finding of the JSON output: the contract's fields, then where it stands.
#[derive(Serialize)]
struct JsonFinding<'a> {
    #[serde(flatten)]
    finding: &'a StoredFinding,
    /// The subject's id as its application knows it (beside `application`).
    #[serde(skip_serializing_if = "Option::is_none")]
    native_id: Option<&'a str>,
    status: FindingStatus,
    exception_id: Option<i64>,
}

/// A rule outcome of the JSON output.
#[derive(Serialize)]
struct JsonOutcome<'a> {
    rule: &'a str,
    status: &'static str,
    reason: Option<&'a str>,
    findings: u64,
    duration_ms: u64,
}

impl<'a> From<&'a RuleOutcome> for JsonOutcome<'a> {
    fn from(o: &'a RuleOutcome) -> Self {
        JsonOutcome {
            rule: &o.rule_id,
            status: outcome_label(o.status),
            reason: o.reason.as_deref(),
            findings: o.finding_count,
            duration_ms: o.duration_ms,
        }
    }
}

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

/// Where a run's findings are read from.
#[derive(Clone, Copy)]
pub struct RunStores<'a> {
    /// The deployment's store: its exceptions decide what is accepted.
    pub source: &'a Store,
    /// Where the run was recorded: `source`, or a scratch store for a run
    /// that leaves no trace (its id is then not shown).
    pub record: &'a Store,
    pub recorded: bool,
}

impl<'a> RunStores<'a> {
    /// A run recorded in the store it read.
    pub fn recorded(store: &'a Store) -> Self {
        RunStores {
            source: store,
            record: store,
            recorded: true,
        }
    }
}

/// Writes the findings of `run` to `out` in `format`, and says where they
/// stand.
pub async fn write_run<W: Write>(
    stores: RunStores<'_>,
    run: &RunSummary,
    format: Format,
    out: &mut W,
) -> Result<Standing, OutputError> {
    let store = stores.record;
    // A scratch store holds the findings but not the accounts they name.
    let subjects = (!stores.recorded).then_some(stores.source);
    let mut judge = Judge::new(stores.source, run.as_of).await?;
    let run_id = if stores.recorded {
        run.run_id.to_string()
    } else {
        String::new()
    };
    match format {
        Format::Json => {
            let rules: Vec<JsonOutcome<'_>> = run.outcomes.iter().map(JsonOutcome::from).collect();
            write!(
                out,
                "{{\"run_id\":{},\"as_of\":{},\"rules\":{},\"findings\":[",
                if stores.recorded {
                    run_id.as_str()
                } else {
                    "null"
                },
                serde_json::Value::String(format_instant(run.as_of)),
                serde_json::to_string(&rules).map_err(std::io::Error::other)?
            )?;
            let mut first = true;
            store
                .for_each_finding_seen(run.run_id, subjects, |f, seen| {
                    out.write_all(if first { b"\n  " } else { b",\n  " })?;
                    first = false;
                    let (status, exception_id) = judge.judge(&f, seen);
                    let row = JsonFinding {
                        finding: &f,
                        native_id: native_id_in(f.application.as_deref(), &f.subject_id),
                        status,
                        exception_id,
                    };
                    serde_json::to_writer(&mut *out, &row).map_err(std::io::Error::other)
                })
                .await?;
            writeln!(out, "{}]}}", if first { "" } else { "\n" })?;
        }
        Format::Csv => {
            let mut csv = csv::Writer::from_writer(&mut *out);
            csv.write_record(CSV_COLUMNS)
                .map_err(std::io::Error::other)?;
            store
                .for_each_finding_seen(run.run_id, subjects, |f, seen| {
                    let (status, exception_id) = judge.judge(&f, seen);
                    let exception_id = exception_id.map(|id| id.to_string()).unwrap_or_default();
                    let cells = [
                        run_id.as_str(),
                        &f.rule,
                        f.severity.as_str(),
                        f.subject_type.as_str(),
                        &f.subject_id,
                        &f.title,
                        f.evidence.get(),
                        status.as_str(),
                        &exception_id,
                    ];
                    write_cells(&mut csv, &cells)
                })
                .await?;
            // A rule that was not evaluated is a row of its own, so that a
            // sheet of findings never looks complete when it is not.
            for o in run
                .outcomes
                .iter()
                .filter(|o| o.status != OutcomeStatus::Ok)
            {
                let cells = [
                    run_id.as_str(),
                    &o.rule_id,
                    "",
                    "rule",
                    &o.rule_id,
                    o.reason.as_deref().unwrap_or(""),
                    "{}",
                    outcome_label(o.status),
                    "",
                ];
                write_cells(&mut csv, &cells)?;
            }
            csv.flush()?;
        }
        Format::Table => {
            match stores.recorded {
                true => writeln!(out, "run {run_id} as of {}", format_instant(run.as_of))?,
                false => writeln!(
                    out,
                    "run (not recorded) as of {}",
                    format_instant(run.as_of)
                )?,
            }
            writeln!(out)?;
            writeln!(
                out,
                "{:<9} {:<22} {:<26} {:<8} TITLE",
                "SEVERITY", "RULE", "SUBJECT", "STATUS"
            )?;
            let term = Terminal::of_stdout();
            // SEVERITY, RULE, SUBJECT and STATUS take 69 columns.
            let title_width = term
                .width
                .map_or(usize::MAX, |w| w.saturating_sub(69).max(20));
            let count = store
                .for_each_finding_seen(run.run_id, subjects, |f, seen| {
                    let (status, _) = judge.judge(&f, seen);
                    let severity = format!("{:<9}", f.severity.as_str());
                    writeln!(
                        out,
                        "{} {:<22} {:<26} {:<8} {}",
                        term.paint(f.severity, &severity),
                        fit(&f.rule, 22),
                        fit(&subject(&f), 26),
                        status.as_str(),
                        fit(&printable(&f.title), title_width)
                    )
                })
                .await?;
            writeln!(out)?;
            writeln!(out, "{count} finding(s)")?;
            for o in &run.outcomes {
                let status = match o.status {
                    OutcomeStatus::Ok => format!("{} finding(s)", o.finding_count),
                    OutcomeStatus::Skipped => "SKIPPED".into(),
                    OutcomeStatus::NotApplicable => "NOT APPLICABLE".into(),
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
    Ok(judge.standing)
}

/// What the table may do on the standard output: fit its width, and colour
/// severities — only on a terminal, and no colour where `NO_COLOR` is set
/// (no-color.org); a file or a pipe gets plain, whole lines.
struct Terminal {
    width: Option<usize>,
    color: bool,
}

impl Terminal {
    fn of_stdout() -> Terminal {
        use std::io::IsTerminal;
        if !std::io::stdout().is_terminal() {
            return Terminal {
                width: None,
                color: false,
            };
        }
        Terminal {
            width: terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)),
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn paint(&self, severity: Severity, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match severity {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// One CSV row, each cell neutralised against formula injection.
fn write_cells<W: Write>(csv: &mut csv::Writer<W>, cells: &[&str]) -> std::io::Result<()> {
    csv.write_record(cells.iter().map(|c| neutralise_cell(c).into_owned()))
        .map_err(std::io::Error::other)
}

fn subject(f: &StoredFinding) -> String {
    format!("{} {}", f.subject_type, printable(&f.subject_id))
}

/// `s` for a terminal: control and format characters from data must not
/// drive it or reorder what it shows (`support::text`).
pub fn printable(s: &str) -> String {
    crate::support::text::for_terminal(s)
}

fn fit(s: &str, width: usize) -> String {
    if width == 0 || s.chars().count() <= width {
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
