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
//! │   ├── image/png        (inline, Content-ID: the chart)
//! │   └── image/png        (inline, Content-ID: findings by department)
//! ├── text/csv             (attachment: every finding, neutralised cells)
//! ├── application/json     (signed reports: the manifest, `report::manifest`)
//! └── application/octet-stream (signed reports: the manifest's signature)
//! ```

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, MultiPart, SinglePart};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::chart::{CHART_CID, DEPARTMENTS_CID};
use super::error::ReportError;
use super::facts::Facts;
use super::humanise;
use super::output::neutralise_cell;
use super::view;
use crate::config::ReportConfig;
use crate::engine::RuleSet;
use crate::model::format_instant;
use crate::store::canonical::SubjectInfo;
use crate::support::mail;

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

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

/// Every finding of the run (and the resolved ones), one row each; every
/// cell neutralised against formula injection; a byte-order mark first when
/// configured (Excel reads UTF-8 only with one).
pub fn findings_csv(
    facts: &Facts,
    rules: &RuleSet,
    tz: chrono_tz::Tz,
    config: &ReportConfig,
) -> Result<Vec<u8>, csv::Error> {
    let lc = &facts.lifecycle;
    let start = if config.csv_bom {
        b"\xEF\xBB\xBF".to_vec()
    } else {
        Vec::new()
    };
    let mut w = csv::Writer::from_writer(start);
    w.write_record(REPORT_CSV_COLUMNS)?;
    for e in &lc.entries {
        let f = &e.finding;
        let s = facts
            .subjects
            .get(&(f.subject_type.as_str().to_string(), f.subject_id.clone()));
        let field = |get: fn(&SubjectInfo) -> &Option<String>| {
            s.and_then(|s| get(s).clone()).unwrap_or_default()
        };
        let age = view::age(e, lc.run.as_of, config);
        let rule = rules.get(&f.rule);
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
            rule.map(|r| r.title.clone()).unwrap_or_default(),
            field(|s| &s.login),
            field(|s| &s.display_name),
            field(|s| &s.department),
            field(|s| &s.title),
            field(|s| &s.manager),
            age.days_open.to_string(),
            age.due
                .map(|d| d.with_timezone(&tz).format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            if age.overdue { "yes" } else { "no" }.to_string(),
            humanise::facts(&f.evidence, tz)
                .iter()
                .map(|x| format!("{}: {}", x.label, x.value))
                .collect::<Vec<_>>()
                .join("; "),
            f.application.clone().unwrap_or_default(),
            crate::report::output::native_id(f)
                .unwrap_or_default()
                .to_string(),
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
    pub departments_png: &'a [u8],
    /// The job: the List-Id names it, so that mail rules can file reports.
    pub list: &'a str,
    pub csv_name: &'a str,
    pub csv: &'a [u8],
    /// Attachments after the CSV: (file name, content type, bytes).
    pub extra: &'a [(String, &'static str, Vec<u8>)],
}

/// The whole message as sent (`lettre::Message::formatted`).
pub fn build(p: &Parts) -> Result<Vec<u8>, ReportError> {
    let mailbox = |a: &str| mail::mailbox(a).map_err(|e| ReportError::Address(e.text, e.message));
    let mut builder = Message::builder()
        .from(mailbox(p.from)?)
        .subject(p.subject)
        .message_id(Some(p.message_id.to_string()))
        .date(SystemTime::from(p.date));
    // A report is machine-made: auto-responders must not answer it (RFC
    // 3834), and a List-Id lets mail rules file it.
    let from = mailbox(p.from)?;
    let list_id = format!(
        "accessaudit {} <{}.accessaudit.{}>",
        mail::safe_name(p.list, '-'),
        mail::safe_name(p.list, '-').to_ascii_lowercase(),
        from.email.domain()
    );
    builder = builder
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Id"),
            list_id,
        ));
    if p.to.is_empty() {
        builder = builder.to(mailbox(p.from)?);
    }
    for r in p.to {
        builder = builder.to(mailbox(r)?);
    }
    // Boundaries derived from the Message-ID: the same run renders to the same bytes.
    let boundary = |part: &str| format!("=_{}_{part}", &sha256_hex(p.message_id.as_bytes())[..24]);
    let mut body = MultiPart::mixed()
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
                ))
                .singlepart(Attachment::new_inline(DEPARTMENTS_CID.to_string()).body(
                    p.departments_png.to_vec(),
                    ContentType::parse("image/png").map_err(mime_err)?,
                )),
        )
        .singlepart(Attachment::new(p.csv_name.to_string()).body(
            p.csv.to_vec(),
            ContentType::parse("text/csv; charset=utf-8").map_err(mime_err)?,
        ));
    for (name, content_type, bytes) in p.extra {
        body = body.singlepart(Attachment::new(name.clone()).body(
            bytes.clone(),
            ContentType::parse(content_type).map_err(mime_err)?,
        ));
    }
    let message = builder.multipart(body).map_err(mime_err)?;
    Ok(message.formatted())
}

fn mime_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Mime(e.to_string())
}
