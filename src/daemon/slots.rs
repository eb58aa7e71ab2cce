//! Job slots: each (job, scheduled instant) runs exactly once, whichever of
//! several daemons on one database gets to it first.
//!
//! A daemon claims a slot by inserting its row (or by taking over a row whose
//! lease ran out: its owner crashed, or a retry is due) and renews the lease
//! while it works. Marking the slot done commits in the same transaction as
//! the run's message, so a crash at any point either leaves the slot
//! claimable again or leaves it done with its message queued.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::{Result, SqlValue, Store, Tx};

fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// How a claim ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours to run; `attempt` counts from 1.
    Claimed {
        attempt: i64,
        first_started: DateTime<Utc>,
    },
    /// Done, abandoned, or held by a live lease.
    Taken,
}

/// Tries to claim `slot_at` of `job` for `owner` until `now + lease`.
pub async fn claim(
    store: &Store,
    job: &str,
    slot_at: DateTime<Utc>,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Claim> {
    let mut tx = store.begin().await?;
    let inserted = tx
        .execute(
            "INSERT INTO job_slots (job, slot_at, status, owner, lease_until, attempts, started_at)
             VALUES ($1, $2, 'running', $3, $4, 1, $5)
             ON CONFLICT (job, slot_at) DO UPDATE
                SET status = 'running', owner = excluded.owner,
                    lease_until = excluded.lease_until, attempts = job_slots.attempts + 1
              WHERE job_slots.status IN ('running', 'retrying')
                AND job_slots.lease_until <= excluded.started_at",
            &[
                SqlValue::text(job),
                SqlValue::time(slot_at),
                SqlValue::text(owner),
                SqlValue::time(after(now, lease)),
                SqlValue::time(now),
            ],
        )
        .await?;
    if inserted != 1 {
        tx.rollback().await?;
        return Ok(Claim::Taken);
    }
    let row = tx
        .fetch_optional(
            "SELECT attempts, started_at FROM job_slots WHERE job = $1 AND slot_at = $2",
            &[SqlValue::text(job), SqlValue::time(slot_at)],
        )
        .await?;
    tx.commit().await?;
    let (attempt, first_started) = match row {
        Some(r) => (
            r.i64("attempts")?.unwrap_or(1),
            r.time("started_at")?.unwrap_or(now),
        ),
        None => (1, now),
    };
    Ok(Claim::Claimed {
        attempt,
        first_started,
    })
}

/// Extends our lease while the job runs; false when it is no longer ours.
pub async fn renew(
    store: &Store,
    job: &str,
    slot_at: DateTime<Utc>,
    owner: &str,
    lease: Duration,
) -> Result<bool> {
    let n = store
        .execute(
            "UPDATE job_slots SET lease_until = $4
             WHERE job = $1 AND slot_at = $2 AND owner = $3 AND status = 'running'",
            &[
                SqlValue::text(job),
                SqlValue::time(slot_at),
                SqlValue::text(owner),
                SqlValue::time(after(Utc::now(), lease)),
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Marks the slot done, in the transaction that also queues its message.
pub async fn finish(
    tx: &mut Tx,
    job: &str,
    slot_at: DateTime<Utc>,
    run_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.execute(
        "UPDATE job_slots SET status = 'done', run_id = $3, finished_at = $4, error = NULL
         WHERE job = $1 AND slot_at = $2",
        &[
            SqlValue::text(job),
            SqlValue::time(slot_at),
            SqlValue::Int(run_id),
            SqlValue::time(now),
        ],
    )
    .await?;
    Ok(())
}

/// The job could not run: try again at `retry_at`, or give up (`None`).
pub async fn failed(
    store: &Store,
    job: &str,
    slot_at: DateTime<Utc>,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let (status, until) = match retry_at {
        Some(at) => ("retrying", at),
        None => ("abandoned", Utc::now()),
    };
    store
        .execute(
            "UPDATE job_slots SET status = $3, lease_until = $4, error = $5, finished_at = $6
             WHERE job = $1 AND slot_at = $2",
            &[
                SqlValue::text(job),
                SqlValue::time(slot_at),
                SqlValue::text(status),
                SqlValue::time(until),
                SqlValue::text(error),
                SqlValue::time(Utc::now()),
            ],
        )
        .await?;
    Ok(())
}

/// Slots waiting for a retry whose time has come (this or another daemon's).
pub async fn retries_due(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>> {
    let rows = store
        .fetch_all(
            "SELECT job, slot_at FROM job_slots
             WHERE status IN ('retrying', 'running') AND lease_until <= $1
             ORDER BY slot_at",
            &[SqlValue::time(now)],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.req_text("job")?, r.time("slot_at")?.unwrap_or(now))))
        .collect()
}

/// Has this slot been claimed by anyone, ever?
pub async fn exists(store: &Store, job: &str, slot_at: DateTime<Utc>) -> Result<bool> {
    let rows = store
        .fetch_all(
            "SELECT 1 AS one FROM job_slots WHERE job = $1 AND slot_at = $2",
            &[SqlValue::text(job), SqlValue::time(slot_at)],
        )
        .await?;
    Ok(!rows.is_empty())
}

/// Slots left `running` by a daemon of this host that no longer exists (it
/// was killed): their lease is ended now, so that they run again at once
/// instead of after the lease. Owners are `host:pid:nonce`.
pub async fn release_dead_local(store: &Store, host: &str, now: DateTime<Utc>) -> Result<u64> {
    let rows = store
        .fetch_all(
            "SELECT job, slot_at, owner FROM job_slots WHERE status = 'running' AND lease_until > $1",
            &[SqlValue::time(now)],
        )
        .await?;
    let mut released = 0;
    for r in rows {
        let owner = r.req_text("owner")?;
        let mut parts = owner.rsplitn(3, ':');
        let (_nonce, pid, owner_host) = (parts.next(), parts.next(), parts.next());
        let dead = owner_host == Some(host)
            && pid
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if dead {
            released += store
                .execute(
                    "UPDATE job_slots SET lease_until = $3
                     WHERE job = $1 AND slot_at = $2 AND owner = $4 AND status = 'running'",
                    &[
                        SqlValue::text(r.req_text("job")?),
                        SqlValue::time(r.time("slot_at")?.unwrap_or(now)),
                        SqlValue::time(now),
                        SqlValue::text(owner),
                    ],
                )
                .await?;
        }
    }
    Ok(released)
}
