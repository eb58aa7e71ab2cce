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
    crate::support::pii::hex(&Sha256::digest(bytes))
}

/// What goes into the message. The bodies are moved in: a large run's
/// HTML and attached CSV are megabytes, and the message holds them once,
/// encoded.
pub struct Parts<'a> {
    pub from: &'a str,
    /// Addresses; none: the From address.
    pub to: &'a [String],
    pub subject: &'a str,
    /// `<…@…>`.
    pub message_id: &'a str,
    pub date: DateTime<Utc>,
    pub text: String,
    pub html: String,
    pub chart_png: Vec<u8>,
    pub departments_png: Vec<u8>,
    /// The job: the List-Id names it, so that mail rules can file reports.
    pub list: &'a str,
    pub csv_name: &'a str,
    /// The CSV of every finding, when attached (else the message names the
    /// archived file: `report.max_attachment_bytes`).
    pub csv: Option<Vec<u8>>,
}

/// A built message: its bytes as sent, and the boundary of its outermost
/// (multipart/mixed) part, after whose last part `append` adds attachments.
pub struct Built {
    pub eml: Vec<u8>,
    mixed_boundary: String,
}

/// The message's boundaries derive from its Message-ID: the same run
/// renders to the same bytes.
fn boundary(message_id: &str, part: &str) -> String {
    format!("=_{}_{part}", &sha256_hex(message_id.as_bytes())[..24])
}

/// Builds the message (`lettre::Message::formatted`).
pub fn build(p: Parts) -> Result<Built, ReportError> {
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
    let png = || ContentType::parse("image/png").map_err(mime_err);
    let mixed_boundary = boundary(p.message_id, "mixed");
    let mut body = MultiPart::mixed()
        .boundary(mixed_boundary.clone())
        .multipart(
            MultiPart::related()
                .boundary(boundary(p.message_id, "related"))
                .multipart(
                    MultiPart::alternative()
                        .boundary(boundary(p.message_id, "alternative"))
                        .singlepart(SinglePart::plain(p.text))
                        .singlepart(SinglePart::html(p.html)),
                )
                .singlepart(Attachment::new_inline(CHART_CID.to_string()).body(p.chart_png, png()?))
                .singlepart(
                    Attachment::new_inline(DEPARTMENTS_CID.to_string())
                        .body(p.departments_png, png()?),
                ),
        );
    if let Some(csv) = p.csv {
        body = body.singlepart(Attachment::new(p.csv_name.to_string()).body(
            csv,
            ContentType::parse("text/csv; charset=utf-8").map_err(mime_err)?,
        ));
    }
    let message = builder.multipart(body).map_err(mime_err)?;
    let mut eml = message.formatted();
    drop(message);
    eml.shrink_to_fit();
    Ok(Built {
        eml,
        mixed_boundary,
    })
}

impl Built {
    /// Adds an attachment after the message's last part: the bytes before
    /// stay as they were (a signed report's manifest describes them).
    pub fn append(
        &mut self,
        name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), ReportError> {
        let close = format!("--{}--\r\n", self.mixed_boundary);
        if !self.eml.ends_with(close.as_bytes()) {
            return Err(ReportError::Mime(
                "the built message does not end with its outermost boundary".into(),
            ));
        }
        self.eml.truncate(self.eml.len() - close.len());
        let part = Attachment::new(name.to_string())
            .body(bytes, ContentType::parse(content_type).map_err(mime_err)?);
        // As `lettre` lays out a multipart's parts: the boundary, the part.
        self.eml
            .extend_from_slice(format!("--{}\r\n", self.mixed_boundary).as_bytes());
        self.eml.extend_from_slice(&part.formatted());
        self.eml.extend_from_slice(close.as_bytes());
        Ok(())
    }
}

fn mime_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Mime(e.to_string())
}
