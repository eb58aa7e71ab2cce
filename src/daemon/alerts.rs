//! Alert de-duplication: an alert job tells IT about a finding once.
//!
//! `alert_state` holds the keys (rule + subject) a job has alerted on. After
//! each run of the job, in the transaction that queues the alert: keys of the
//! run not yet alerted (or alerted longer ago than the re-alert interval) are
//! the ones to send and are recorded; keys no longer found by a rule that ran
//! fine are forgotten, so the same finding coming back later alerts again.
//! A rule that was skipped (stale feed) or failed forgets nothing.

use chrono::{DateTime, Utc};

use crate::model::FindingKey;
use crate::store::{Result, SqlValue, Store, Tx};

/// Findings of the run not alerted yet (or alerted before the re-alert cutoff).
const NOT_YET_ALERTED: &str = "SELECT f.rule, f.subject_type, f.subject_id FROM findings f
     LEFT JOIN alert_state a
       ON a.job = $2 AND a.rule = f.rule AND a.subject_type = f.subject_type
      AND a.subject_id = f.subject_id
     WHERE f.run_id = $1 AND (a.job IS NULL OR a.last_alerted_at <= $3)
     ORDER BY f.rule, f.subject_type, f.subject_id";

fn not_yet_alerted_params(
    job: &str,
    run_id: i64,
    realert_before: Option<DateTime<Utc>>,
) -> [SqlValue; 3] {
    // Far in the past: nothing is re-alerted by age.
    let cutoff = realert_before.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    [
        SqlValue::int(run_id),
        SqlValue::text(job),
        SqlValue::time(cutoff),
    ]
}

fn decode_keys(rows: &[crate::store::DbRow]) -> Result<Vec<FindingKey>> {
    rows.iter()
        .map(|r| {
            Ok(FindingKey {
                rule: r.req_text("rule")?,
                subject_type: r.req_text("subject_type")?,
                subject_id: r.req_text("subject_id")?,
            })
        })
        .collect()
}

/// What `take_new` would return, without recording anything: whether an
/// alert job has something to send (its report is rendered only then).
pub async fn pending(
    store: &Store,
    job: &str,
    run_id: i64,
    realert_before: Option<DateTime<Utc>>,
) -> Result<Vec<FindingKey>> {
    let rows = store
        .fetch_all(
            NOT_YET_ALERTED,
            &not_yet_alerted_params(job, run_id, realert_before),
        )
        .await?;
    decode_keys(&rows)
}

/// The findings of `run_id` to alert on now, recorded as alerted.
pub async fn take_new(
    tx: &mut Tx,
    job: &str,
    run_id: i64,
    rules_ran_ok: &[String],
    realert_before: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<FindingKey>> {
    let backend = tx.backend();
    let rows = tx
        .fetch_all(
            NOT_YET_ALERTED,
            &not_yet_alerted_params(job, run_id, realert_before),
        )
        .await?;
    let keys = decode_keys(&rows)?;
    for k in &keys {
        tx.execute(
            "INSERT INTO alert_state (job, rule, subject_type, subject_id, first_alerted_at,
                                      last_alerted_at, run_id)
             VALUES ($1, $2, $3, $4, $5, $5, $6)
             ON CONFLICT (job, rule, subject_type, subject_id) DO UPDATE
                SET last_alerted_at = excluded.last_alerted_at, run_id = excluded.run_id",
            &[
                SqlValue::text(job),
                SqlValue::text(&k.rule),
                SqlValue::text(&k.subject_type),
                SqlValue::text(&k.subject_id),
                SqlValue::time(now),
                SqlValue::int(run_id),
            ],
        )
        .await?;
    }
    // Resolved: alerted before, not found now by a rule that ran.
    let forget = format!(
        "DELETE FROM alert_state
         WHERE job = $1 AND {}
           AND NOT EXISTS (SELECT 1 FROM findings f
                           WHERE f.run_id = $3 AND f.rule = alert_state.rule
                             AND f.subject_type = alert_state.subject_type
                             AND f.subject_id = alert_state.subject_id)",
        backend.in_list("rule", 2)
    );
    tx.execute(
        &forget,
        &[
            SqlValue::text(job),
            SqlValue::list(rules_ran_ok),
            SqlValue::int(run_id),
        ],
    )
    .await?;
    Ok(keys)
}
