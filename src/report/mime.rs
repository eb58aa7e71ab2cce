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
//! ├── text/csv             (attachment: every finding, neutralised cells;
//! │                         left out above `report.max_attachment_bytes`)
//! ├── application/json     (signed reports: the manifest, `report::manifest`)
//! └── application/octet-stream (signed reports: the manifest's signature)
//! ```

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, MultiPart, SinglePart};
use sha2::{Digest, Sha256};

use super::chart::{CHART_CID, DEPARTMENTS_CID};
use super::error::ReportError;
use crate::support::mail;

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    /// The CSV of every finding, when attached (else the message names the
    /// archived file: `report.max_attachment_bytes`).
    pub csv: Option<&'a [u8]>,
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
    let mut body = MultiPart::mixed().boundary(boundary("mixed")).multipart(
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
    );
    if let Some(csv) = p.csv {
        body = body.singlepart(Attachment::new(p.csv_name.to_string()).body(
            csv.to_vec(),
            ContentType::parse("text/csv; charset=utf-8").map_err(mime_err)?,
        ));
    }
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
