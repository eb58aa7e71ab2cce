//! Building the MIME message of a report, deterministically: the Date
//! header is the run's finish time, the boundaries derive from the
//! Message-ID, so the same run renders to the same bytes.
//!
//! ```text
//! multipart/mixed
//! ├── multipart/related
//! │   ├── multipart/alternative
//! │   │   ├── text/plain   (the txt template)
//! │   │   └── text/html    (the html template; the chart as <img src="cid:…">)
//! │   └── image/png        (inline, Content-ID: the chart)
//! └── text/csv             (attachment: every finding, neutralised cells)
//! ```

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::chart::CHART_CID;
use super::error::ReportError;
use super::lifecycle::Lifecycle;
use super::output::neutralise_cell;
use crate::model::format_instant;
use crate::support::mail;

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The stable CSV columns of the report's attachment.
pub const REPORT_CSV_COLUMNS: [&str; 10] = [
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
];

/// Every finding of the run (and the resolved ones), one row each; every
/// cell neutralised against formula injection.
pub fn findings_csv(lc: &Lifecycle) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(REPORT_CSV_COLUMNS)?;
    for e in &lc.entries {
        let f = &e.finding;
        let cells = [
            lc.run.id.to_string(),
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
            Value::Object(f.evidence.clone()).to_string(),
        ];
        w.write_record(cells.iter().map(|c| neutralise_cell(c).into_owned()))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// What goes into the message.
pub struct Parts<'a> {
    pub from: &'a str,
    /// Addresses; none: the From address.
    pub to: &'a [String],
    pub subject: &'a str,
    /// `<…@…>`.
    pub message_id: &'a str,
    pub date: DateTime<Utc>,
    pub text: &'a str,
    pub html: &'a str,
    pub chart_png: &'a [u8],
    pub csv_name: &'a str,
    pub csv: &'a [u8],
}

/// The whole message as sent (`lettre::Message::formatted`).
pub fn build(p: &Parts) -> Result<Vec<u8>, ReportError> {
    let mailbox = |a: &str| mail::mailbox(a).map_err(|e| ReportError::Address(e.text, e.message));
    let mut builder = Message::builder()
        .from(mailbox(p.from)?)
        .subject(p.subject)
        .message_id(Some(p.message_id.to_string()))
        .date(SystemTime::from(p.date));
    if p.to.is_empty() {
        builder = builder.to(mailbox(p.from)?);
    }
    for r in p.to {
        builder = builder.to(mailbox(r)?);
    }
    // Boundaries derived from the Message-ID: the same run renders to the same bytes.
    let boundary = |part: &str| format!("=_{}_{part}", &sha256_hex(p.message_id.as_bytes())[..24]);
    let body = MultiPart::mixed()
        .boundary(boundary("mixed"))
        .multipart(
            MultiPart::related()
                .boundary(boundary("related"))
                .multipart(
                    MultiPart::alternative()
                        .boundary(boundary("alternative"))
                        .singlepart(SinglePart::plain(p.text.to_string()))
                        .singlepart(SinglePart::html(p.html.to_string())),
                )
                .singlepart(Attachment::new_inline(CHART_CID.to_string()).body(
                    p.chart_png.to_vec(),
                    ContentType::parse("image/png").map_err(mime_err)?,
                )),
        )
        .singlepart(Attachment::new(p.csv_name.to_string()).body(
            p.csv.to_vec(),
            ContentType::parse("text/csv; charset=utf-8").map_err(mime_err)?,
        ));
    let message = builder.multipart(body).map_err(mime_err)?;
    Ok(message.formatted())
}

fn mime_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Mime(e.to_string())
}
