//! Plain messages of the daemon's own (a job that could not run); reports
//! are rendered by `report::render`.

use anyhow::{Context, Result};
use lettre::Message;
use lettre::message::SinglePart;
use lettre::message::header::MessageId;

use crate::config::Config;
use crate::deliver::OutgoingMessage;
use crate::support::mail::{self, mailbox};

/// Headers common to every message: From, To, Subject, a stable Message-ID.
fn builder(
    config: &Config,
    recipients: &[String],
    subject: &str,
    message_id: &str,
) -> Result<lettre::message::MessageBuilder> {
    let mut b = Message::builder()
        .from(mailbox(&config.mail.from)?)
        .subject(subject)
        .header(MessageId::from(mail::bracketed(message_id)));
    for r in recipients {
        b = b.to(mailbox(r)?);
    }
    Ok(b)
}

fn outgoing(
    config: &Config,
    recipients: &[String],
    subject: &str,
    message_id: &str,
    message: Message,
) -> Result<OutgoingMessage> {
    let body =
        String::from_utf8(message.formatted()).context("a formatted message is not 7-bit text")?;
    Ok(OutgoingMessage {
        message_id: message_id.to_string(),
        job: None,
        run_id: None,
        envelope_from: config.mail.from.clone(),
        recipients: recipients.to_vec(),
        subject: subject.to_string(),
        body,
    })
}

/// A plain-text message (job failure notices).
pub fn plain_message(
    config: &Config,
    recipients: &[String],
    subject: &str,
    text: &str,
    message_id: &str,
) -> Result<OutgoingMessage> {
    let message = builder(config, recipients, subject, message_id)?
        .singlepart(SinglePart::plain(text.to_string()))
        .context("building the message")?;
    outgoing(config, recipients, subject, message_id, message)
}
