//! The report's CSV of every finding, written to a file as the findings
//! stream past (`tally`): the whole run is never in memory, and the file's
//! SHA-256 and size are known when it is closed, before the message that
//! attaches it, or names it, is built.

use std::io::Write;

use super::humanise;
use super::item;
use super::lifecycle::Entry;
use super::output::neutralise_cell;
use super::spool::{Spool, Spooled};
use crate::config::ReportConfig;
use crate::engine::RuleSet;
use crate::model::format_instant;
use crate::store::canonical::SubjectInfo;

/// The stable CSV columns of the report's attachment (the first ten as
/// they always were), then the columns a person reads, as the HTML shows them
/// (a rule's remediation is per rule: the report's rule section has it, a
/// copy in every row would make the attachment of a large run several
/// hundred megabytes larger).
pub const REPORT_CSV_COLUMNS: [&str; 22] = [
    "run_id",
    "status",
    "rule",
    "severity",
    "subject_type",
    "subject_id",
    "title",
    "first_seen",
    "exception_id",
    "evidence",
    "rule_title",
    "login",
    "display_name",
    "department",
    "job_title",
    "manager",
    "days_open",
    "due",
    "overdue",
    "evidence_text",
    "application",
    "native_id",
];

/// The CSV of a report once written: the spooled file (its size, its
/// SHA-256: `Spooled`'s fields read through) and its rows.
#[derive(Debug, Clone)]
pub struct CsvFile {
    pub file: Spooled,
    /// Data rows (the header not counted).
    pub rows: u64,
}

impl std::ops::Deref for CsvFile {
    type Target = Spooled;
    fn deref(&self) -> &Spooled {
        &self.file
    }
}

/// Where the CSV writer's bytes go: the spool, and a copy of what was
/// written since the writer's previous flush, which `CsvWriter` calls
/// after each record: the latest record (for the masking check).
struct Sink {
    spool: Spool,
    record: Vec<u8>,
    flushed: bool,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::mem::take(&mut self.flushed) {
            self.record.clear();
        }
        self.spool.write_all(buf)?;
        self.record.extend_from_slice(buf);
        Ok(buf.len())
    }

    /// The csv writer flushes after each record (so that `record` holds
    /// it whole); the spool is flushed once, by `CsvWriter::finish`.
    fn flush(&mut self) -> std::io::Result<()> {
        self.flushed = true;
        Ok(())
    }
}

/// The CSV being written, one row per entry.
pub struct CsvWriter {
    csv: csv::Writer<Sink>,
    rows: u64,
}

impl CsvWriter {
    /// A new CSV in the system's temporary directory, its header written;
    /// a byte-order mark first when configured (Excel reads UTF-8 only
    /// with one).
    pub fn new(config: &ReportConfig) -> Result<CsvWriter, csv::Error> {
        let mut sink = Sink {
            spool: Spool::new()?,
            record: Vec::new(),
            flushed: false,
        };
        if config.csv_bom {
            sink.write_all(b"\xEF\xBB\xBF")?;
        }
        let mut csv = csv::Writer::from_writer(sink);
        csv.write_record(REPORT_CSV_COLUMNS)?;
        csv.flush()?;
        Ok(CsvWriter { csv, rows: 0 })
    }

    /// Writes the row of one entry, every cell neutralised against formula
    /// injection, and returns it as written (for the masking check).
    pub fn write(&mut self, row: &Row<'_>) -> Result<&[u8], csv::Error> {
        let cells = row.cells();
        let neutralised = cells.each_ref().map(|c| neutralise_cell(c));
        self.csv
            .write_record(neutralised.iter().map(|c| c.as_bytes()))?;
        self.csv.flush()?;
        self.rows += 1;
        Ok(&self.csv.get_ref().record)
    }

    /// Closes the file and gives its size and SHA-256.
    pub fn finish(self) -> Result<CsvFile, csv::Error> {
        let sink = self
            .csv
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(CsvFile {
            file: sink.spool.finish()?,
            rows: self.rows,
        })
    }
}

/// What one row is made of.
pub struct Row<'a> {
    pub run_id: i64,
    pub entry: &'a Entry,
    pub subject: Option<&'a SubjectInfo>,
    pub as_of: chrono::DateTime<chrono::Utc>,
    pub rules: &'a RuleSet,
    pub tz: chrono_tz::Tz,
    pub config: &'a ReportConfig,
}

impl Row<'_> {
    fn cells(&self) -> [String; 22] {
        let e = self.entry;
        let f = &e.finding;
        let field = |get: fn(&SubjectInfo) -> &Option<String>| {
            self.subject
                .and_then(|s| get(s).clone())
                .unwrap_or_default()
        };
        let age = item::age(e, self.as_of, self.config);
        [
            self.run_id.to_string(),
            e.status.as_str().to_string(),
            f.rule.clone(),
            f.severity.as_str().to_string(),
            f.subject_type.as_str().to_string(),
            f.subject_id.clone(),
            f.title.clone(),
            e.first_seen.map(format_instant).unwrap_or_default(),
            e.exception
                .as_ref()
                .map(|x| x.id.to_string())
                .unwrap_or_default(),
            // The map as JSON, as `Value::Object` would print it, without a copy.
            serde_json::to_string(&f.evidence).unwrap_or_default(),
            self.rules
                .get(&f.rule)
                .map(|r| r.title.clone())
                .unwrap_or_default(),
            field(|s| &s.login),
            field(|s| &s.display_name),
            field(|s| &s.department),
            field(|s| &s.title),
            field(|s| &s.manager),
            age.days_open.to_string(),
            age.due
                .map(|d| d.with_timezone(&self.tz).format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            if age.overdue { "yes" } else { "no" }.to_string(),
            humanise::facts_line(&f.evidence, self.tz),
            f.application.clone().unwrap_or_default(),
            super::output::native_id(f).unwrap_or_default().to_string(),
        ]
    }
}
