//! Messages other than reports (reports are built by `report::mime`): a
//! text part, optionally an HTML alternative, and attachments, with the
//! headers every machine-made message carries.

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, MultiPart, SinglePart};

use super::outbox::OutgoingMessage;
use crate::support::mail::{self, AddressError, mailbox};

/// A file attached to a message.
pub struct Attached<'a> {
    pub name: &'a str,
    /// e.g. `text/csv; charset=utf-8`.
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

/// What a message says.
pub struct Content<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    /// Without angle brackets.
    pub message_id: &'a str,
    pub date: DateTime<Utc>,
    pub text: &'a str,
    pub html: Option<&'a str>,
    pub attachments: &'a [Attached<'a>],
    /// Recorded with the outbox row (the job or use it belongs to).
    pub job: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error("the message cannot be built: {0}")]
    Build(String),
}

/// The message, formatted, ready for the outbox.
pub fn compose(c: &Content<'_>) -> Result<OutgoingMessage, ComposeError> {
    let build = |e: &dyn std::fmt::Display| ComposeError::Build(e.to_string());
    let mut b = Message::builder()
        .from(mailbox(c.from)?)
        .subject(c.subject)
        .message_id(Some(mail::bracketed(c.message_id)))
        .date(std::time::SystemTime::from(c.date))
        // Machine-made: auto-responders must not answer it (RFC 3834).
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ));
    for r in c.to {
        b = b.to(mailbox(r)?);
    }
    let text = SinglePart::plain(c.text.to_string());
    let body = match c.html {
        Some(html) => MultiPart::alternative()
            .singlepart(text)
            .singlepart(SinglePart::html(html.to_string())),
        None => MultiPart::mixed().singlepart(text),
    };
    let message = if c.attachments.is_empty() && c.html.is_none() {
        b.singlepart(SinglePart::plain(c.text.to_string()))
            .map_err(|e| build(&e))?
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for a in c.attachments {
            let ct = ContentType::parse(a.content_type).map_err(|e| build(&e))?;
            mixed =
                mixed.singlepart(Attachment::new(a.name.to_string()).body(a.bytes.to_vec(), ct));
        }
        b.multipart(mixed).map_err(|e| build(&e))?
    };
    let body = String::from_utf8(message.formatted())
        .map_err(|_| ComposeError::Build("a formatted message is not 7-bit text".into()))?;
    Ok(OutgoingMessage {
        message_id: mail::unbracketed(c.message_id).to_string(),
        job: c.job.map(str::to_string),
        run_id: None,
        envelope_from: c.from.to_string(),
        recipients: c.to.to_vec(),
        subject: c.subject.to_string(),
        body,
    })
}
