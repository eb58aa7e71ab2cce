//! Mail identity, in one place: parsing mailboxes, the domain of generated
//! Message-IDs, the Message-IDs themselves, and names made safe for a
//! Message-ID or a file name.
//!
//! A Message-ID depends only on what identifies the message — the run (or
//! slot), the job and the deployment's stable id — never on how the
//! database URL happens to be spelled, so that every path that renders the
//! same run produces the same bytes.

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;

/// The domain used when the From address has none we can read.
const FALLBACK_DOMAIN: &str = "localhost";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a mail address: {message}")]
pub struct AddressError {
    pub text: String,
    pub message: String,
}

/// A mailbox as lettre accepts it (`a@b` or `Name <a@b>`).
pub fn mailbox(text: &str) -> Result<Mailbox, AddressError> {
    text.parse::<Mailbox>().map_err(|e| AddressError {
        text: text.to_string(),
        message: e.to_string(),
    })
}

/// The domain of generated Message-IDs: the From address's.
pub fn domain_of(from: &str) -> String {
    mailbox(from)
        .map(|m| m.email.domain().to_string())
        .unwrap_or_else(|_| FALLBACK_DOMAIN.to_string())
}

/// `name` with every character other than ASCII letters, digits, `-` and
/// `_` replaced by `replacement`: safe in a Message-ID's left part and in a
/// file name.
pub fn safe_name(name: &str, replacement: char) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                replacement
            }
        })
        .collect()
}

/// The Message-ID of a run's report (without angle brackets):
/// `run-ID.JOB.H@domain`, H from the deployment's stable id (see
/// `store::Store::deployment_id`), hashed so that any name fits.
pub fn report_message_id(deployment: &str, run_id: i64, job: Option<&str>, from: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(deployment.as_bytes());
    let h = super::pii::hex(&digest[..8]);
    format!(
        "run-{run_id}.{}.{h}@{}",
        safe_name(job.unwrap_or("adhoc"), '-'),
        domain_of(from)
    )
}

/// The Message-ID of a job's scheduled slot (without angle brackets): the
/// same for every attempt at that slot, so that a message is stored (and
/// received) once.
pub fn slot_message_id(job: &str, slot_at: DateTime<Utc>, from: &str) -> String {
    format!(
        "{}.{}@{}",
        safe_name(job, '_'),
        slot_at.format("%Y%m%dT%H%M%SZ"),
        domain_of(from)
    )
}

/// A message id in angle brackets, as the header carries it.
pub fn bracketed(message_id: &str) -> String {
    format!("<{}>", unbracketed(message_id))
}

/// A message id without its angle brackets.
pub fn unbracketed(message_id: &str) -> &str {
    message_id.trim_start_matches('<').trim_end_matches('>')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_ids_are_stable_and_differ_per_run_job_and_deployment() {
        let from = "accessaudit@corp.example";
        let a = report_message_id("d1", 7, Some("monthly"), from);
        assert_eq!(a, report_message_id("d1", 7, Some("monthly"), from));
        assert_ne!(a, report_message_id("d1", 8, Some("monthly"), from));
        assert_ne!(a, report_message_id("d1", 7, Some("export-alert"), from));
        assert_ne!(a, report_message_id("d2", 7, Some("monthly"), from));
        assert!(
            a.starts_with("run-7.monthly.") && a.ends_with("@corp.example"),
            "{a}"
        );
        // 16 hex digits of the deployment, whatever its length.
        let h = a.split('@').next().unwrap().split('.').nth(2).unwrap();
        assert!(
            h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()),
            "{a}"
        );
        let odd = report_message_id("d1", 7, Some("a b<>@"), "not an address");
        assert!(
            odd.starts_with("run-7.a-b---.") && odd.ends_with("@localhost"),
            "{odd}"
        );
        assert!(report_message_id("x", 1, None, from).starts_with("run-1.adhoc."));
    }

    #[test]
    fn slot_ids_name_the_job_and_the_slot() {
        let at = DateTime::parse_from_rfc3339("2026-11-01T07:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            slot_message_id("export alert", at, "a@b.example"),
            "export_alert.20261101T070000Z@b.example"
        );
        assert_eq!(bracketed("<x@y>"), "<x@y>");
        assert_eq!(bracketed("x@y"), "<x@y>");
        assert_eq!(unbracketed("<x@y>"), "x@y");
    }
}
