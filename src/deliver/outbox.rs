//! The outbox: every message is stored, whole, before any attempt to send it.
//!
//! States: `queued` → `sending` (claimed by one sender, with a lease) →
//! `sent` (accepted by the server, recorded at once) or back to `queued` with
//! a later `next_attempt_at` (exponential backoff), or `failed` once it has
//! been failing for longer than the configured give-up time. A sender that
//! crashed mid-send leaves `sending` with an expired lease; the message is
//! sent again with the same Message-ID (see docs/ARCHITECTURE.md: the only
//! window for a duplicate is between the server's acceptance and our record
//! of it, and a receiving mail system collapses a repeated Message-ID).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::{DbRow, Result, SqlValue, Store, Tx};

/// A message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Stable across renders and retries, without angle brackets.
    pub message_id: String,
    pub job: Option<String>,
    pub run_id: Option<i64>,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// The whole RFC 5322 message (lettre's output is 7-bit clean).
    pub body: String,
}

/// A message in the outbox.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub id: i64,
    pub message: OutgoingMessage,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
}

/// How many messages are in each state (for /metrics and reports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
}

/// Stores a message in the caller's transaction (so that a run's outcome and
/// its message commit together). A message whose Message-ID is already in
/// the outbox is not stored again: returns false.
pub async fn enqueue(tx: &mut Tx, m: &OutgoingMessage, now: DateTime<Utc>) -> Result<bool> {
    let recipients = serde_json::to_string(&m.recipients).unwrap_or_else(|_| "[]".into());
    let n = tx
        .execute(
            "INSERT INTO outbox (message_id, job, run_id, envelope_from, recipients, subject, body,
                                 status, attempts, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, $8)
             ON CONFLICT (message_id) DO NOTHING",
            &[
                SqlValue::text(&m.message_id),
                SqlValue::Text(m.job.clone()),
                SqlValue::Int(m.run_id),
                SqlValue::text(&m.envelope_from),
                SqlValue::text(recipients),
                SqlValue::text(&m.subject),
                SqlValue::text(&m.body),
                SqlValue::time(now),
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Ids of messages due now: queued and due, or claimed by a sender whose
/// lease ran out (it crashed or hung).
pub async fn due(store: &Store, now: DateTime<Utc>, limit: i64) -> Result<Vec<i64>> {
    let rows = store
        .fetch_all(
            "SELECT id FROM outbox
             WHERE status IN ('queued', 'sending') AND next_attempt_at <= $1
             ORDER BY next_attempt_at, id LIMIT $2",
            &[SqlValue::time(now), SqlValue::int(limit)],
        )
        .await?;
    rows.iter()
        .map(|r| r.i64("id").map(|v| v.unwrap_or_default()))
        .collect()
}

/// Claims one message for sending for `lease`: only one sender (of possibly
/// several daemons) gets it. The lease is stored in `next_attempt_at`.
pub async fn claim(
    store: &Store,
    id: i64,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Option<QueuedMessage>> {
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    let mut tx = store.begin().await?;
    let n = tx
        .execute(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = $3
             WHERE id = $1 AND status IN ('queued', 'sending') AND next_attempt_at <= $2",
            &[
                SqlValue::int(id),
                SqlValue::time(now),
                SqlValue::time(until),
            ],
        )
        .await?;
    if n != 1 {
        tx.rollback().await?;
        return Ok(None);
    }
    let row = tx
        .fetch_optional(
            "SELECT id, message_id, job, run_id, envelope_from, recipients, subject, body,
                    attempts, created_at
             FROM outbox WHERE id = $1",
            &[SqlValue::int(id)],
        )
        .await?;
    tx.commit().await?;
    row.map(|r| decode(&r)).transpose()
}

fn decode(r: &DbRow) -> Result<QueuedMessage> {
    let recipients: Vec<String> =
        serde_json::from_str(&r.req_text("recipients")?).unwrap_or_default();
    Ok(QueuedMessage {
        id: r.i64("id")?.unwrap_or_default(),
        attempts: r.i64("attempts")?.unwrap_or_default(),
        created_at: r.time("created_at")?.unwrap_or_else(Utc::now),
        message: OutgoingMessage {
            message_id: r.req_text("message_id")?,
            job: r.text("job")?,
            run_id: r.i64("run_id")?,
            envelope_from: r.req_text("envelope_from")?,
            recipients,
            subject: r.req_text("subject")?,
            body: r.req_text("body")?,
        },
    })
}

/// Records the server's acceptance.
pub async fn mark_sent(store: &Store, id: i64, now: DateTime<Utc>) -> Result<()> {
    store
        .execute(
            "UPDATE outbox SET status = 'sent', sent_at = $2, last_error = NULL WHERE id = $1",
            &[SqlValue::int(id), SqlValue::time(now)],
        )
        .await?;
    Ok(())
}

/// Records a failed attempt: queued again for `retry_at`, or failed for good.
pub async fn mark_attempt_failed(
    store: &Store,
    id: i64,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<()> {
    match retry_at {
        Some(at) => {
            store
                .execute(
                    "UPDATE outbox SET status = 'queued', next_attempt_at = $2, last_error = $3
                     WHERE id = $1",
                    &[SqlValue::int(id), SqlValue::time(at), SqlValue::text(error)],
                )
                .await?
        }
        None => {
            store
                .execute(
                    "UPDATE outbox SET status = 'failed', last_error = $2 WHERE id = $1",
                    &[SqlValue::int(id), SqlValue::text(error)],
                )
                .await?
        }
    };
    Ok(())
}

pub async fn depth(store: &Store) -> Result<OutboxDepth> {
    let rows = store
        .fetch_all(
            "SELECT status, COUNT(*) AS n FROM outbox GROUP BY status",
            &[],
        )
        .await?;
    let mut d = OutboxDepth::default();
    for r in rows {
        let n = r.i64("n")?.unwrap_or_default();
        match r.req_text("status")?.as_str() {
            "queued" => d.queued = n,
            "sending" => d.sending = n,
            "sent" => d.sent = n,
            _ => d.failed = n,
        }
    }
    Ok(d)
}

/// A message given up on, as the next report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedMessage {
    pub message_id: String,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    pub error: String,
}

/// Messages queued in `[since, until)` that failed for good (for the next
/// report: a recipient who never got a report learns of it there).
pub async fn failed_between(
    store: &Store,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<FailedMessage>> {
    let rows = store
        .fetch_all(
            "SELECT message_id, subject, created_at, last_error FROM outbox
             WHERE status = 'failed' AND created_at >= $1 AND created_at < $2 ORDER BY id",
            &[SqlValue::time(since), SqlValue::time(until)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(FailedMessage {
                message_id: r.req_text("message_id")?,
                subject: r.req_text("subject")?,
                created_at: r.time("created_at")?.unwrap_or(since),
                error: r.text("last_error")?.unwrap_or_default(),
            })
        })
        .collect()
}

/// The wait before attempt `attempts + 1`: `initial` doubled per failed
/// attempt, at most `max`, with up to 10% jitter so that several daemons
/// retrying the same server spread out.
pub fn backoff(attempts: i64, initial: Duration, max: Duration) -> Duration {
    let exp = attempts.clamp(1, 30) as u32 - 1;
    let base = initial.saturating_mul(2u32.saturating_pow(exp)).min(max);
    let jitter = base.mul_f64(fastrand::f64() * 0.1);
    (base + jitter).min(max.max(initial))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let (i, m) = (Duration::from_secs(30), Duration::from_secs(3600));
        let b1 = backoff(1, i, m);
        let b2 = backoff(2, i, m);
        let b5 = backoff(5, i, m);
        assert!(b1 >= i && b1 <= i.mul_f64(1.1), "{b1:?}");
        assert!(b2 >= 2 * i && b2 <= (2 * i).mul_f64(1.1), "{b2:?}");
        assert!(b5 >= 16 * i, "{b5:?}");
        assert_eq!(backoff(40, i, m), m);
    }
}
