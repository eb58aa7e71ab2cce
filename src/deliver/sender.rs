//! One pass of the sender: every due message is claimed, delivered, and its
//! outcome recorded at once.

use std::time::Duration;

use chrono::Utc;

use futures_util::future::BoxFuture;

use super::outbox::{self, OutgoingMessage};
use super::transport::{Transport, TransportError};
use super::webhook::{self, Webhooks};
use crate::config::MailConfig;
use crate::store::{Result, Store};

/// How long a claimed message stays ours before another sender may take it
/// over (we crashed, or hung past the SMTP timeout).
pub fn claim_lease(transport: &Transport, webhooks: &Webhooks) -> Duration {
    let mail = match transport {
        Transport::Smtp { timeout, .. } => *timeout + Duration::from_secs(15),
        Transport::Files { .. } => Duration::from_secs(60),
    };
    mail.max(webhooks.longest_timeout() + Duration::from_secs(15))
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    pub sent: u64,
    /// Failed attempts that will be retried.
    pub retried: u64,
    /// Messages given up on in this pass.
    pub failed: u64,
    /// Attempts the server refused for the mail set-up (authentication,
    /// TLS), retried.
    pub setup_failures: u64,
    /// Whether the last attempt of the pass was refused for the set-up
    /// (`None`: no attempt).
    pub setup_failing: Option<bool>,
}

/// Last-moment work on a message as it is sent. The review stage mints a
/// reviewer's link here, so that the link exists only in the mail that went
/// out (its hash in the database), never in the outbox.
pub trait Finisher: Sync {
    /// The message to send instead of `m` (`None`: `m` as stored). An
    /// error is a failed attempt, retried like a refused send.
    fn finish<'a>(
        &'a self,
        store: &'a Store,
        m: &'a OutgoingMessage,
    ) -> BoxFuture<'a, std::result::Result<Option<OutgoingMessage>, String>>;
}

/// Sends every message as stored.
pub struct AsStored;

impl Finisher for AsStored {
    fn finish<'a>(
        &'a self,
        _store: &'a Store,
        _m: &'a OutgoingMessage,
    ) -> BoxFuture<'a, std::result::Result<Option<OutgoingMessage>, String>> {
        Box::pin(async { Ok(None) })
    }
}

/// Delivers every message due now.
pub async fn deliver_due(
    store: &Store,
    transport: &Transport,
    webhooks: &Webhooks,
    mail: &MailConfig,
    finisher: &dyn Finisher,
) -> Result<PassReport> {
    let mut report = PassReport::default();
    let lease = claim_lease(transport, webhooks);
    for id in outbox::due(store, Utc::now(), 100).await? {
        let Some(queued) = outbox::claim(store, id, Utc::now(), lease).await? else {
            continue; // another daemon took it
        };
        let (finished, prepared) = match finisher.finish(store, &queued.message).await {
            Ok(m) => (m, None),
            Err(e) => (None, Some(e)),
        };
        let m = finished.as_ref().unwrap_or(&queued.message);
        // Webhooks ride the same outbox: same claim, backoff and give-up.
        let outcome = match prepared {
            Some(e) => Err(TransportError::Transient(format!(
                "preparing the message: {e}"
            ))),
            None => match webhook::target(m) {
                Some(name) => webhooks.deliver(name, m).await,
                None => transport.deliver(m).await,
            },
        };
        match outcome {
            Ok(()) => {
                outbox::mark_sent(store, id, Utc::now()).await?;
                report.sent += 1;
                report.setup_failing = Some(false);
                tracing::info!(
                    message_id = %m.message_id,
                    recipients = m.recipients.len(),
                    attempts = queued.attempts,
                    "message delivered ({})",
                    match webhook::target(m) {
                        Some(name) => format!("webhook {name}"),
                        None => transport.describe(),
                    }
                );
            }
            Err(e) => {
                let now = Utc::now();
                let give_up_at = queued.created_at + mail.give_up_after.chrono();
                // The set-up (credentials, TLS, our own configuration) is
                // refused, not the message: retried, and loud.
                let setup = matches!(e, TransportError::Setup(_) | TransportError::Config(_));
                if setup {
                    report.setup_failures += 1;
                }
                report.setup_failing = Some(setup);
                let retry_at = match &e {
                    TransportError::Permanent(_) => None,
                    TransportError::Transient(_)
                    | TransportError::Setup(_)
                    | TransportError::Config(_) => {
                        let wait = outbox::backoff(
                            queued.attempts,
                            mail.retry_initial.0,
                            mail.retry_max.0,
                        );
                        let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                        (at <= give_up_at).then_some(at)
                    }
                };
                outbox::mark_attempt_failed(store, id, &e.to_string(), retry_at).await?;
                match retry_at {
                    Some(at) if setup => {
                        report.retried += 1;
                        tracing::error!(
                            message_id = %m.message_id,
                            attempts = queued.attempts,
                            retry_at = %crate::model::format_instant(at),
                            "delivery refused for the mail set-up, will retry: {e}"
                        );
                    }
                    Some(at) => {
                        report.retried += 1;
                        tracing::warn!(
                            message_id = %m.message_id,
                            attempts = queued.attempts,
                            retry_at = %crate::model::format_instant(at),
                            "delivery failed, will retry: {e}"
                        );
                    }
                    None => {
                        report.failed += 1;
                        tracing::error!(
                            message_id = %m.message_id,
                            attempts = queued.attempts,
                            subject = %m.subject,
                            "delivery failed for good: {e}"
                        );
                    }
                }
            }
        }
    }
    Ok(report)
}
