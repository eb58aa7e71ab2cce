//! The daemon's queue and retry policy: which slots are due (the schedule,
//! and catch-up after downtime), and what happens to a slot that could not
//! run (retried with backoff; after `daemon.job_retry_for`, IT is told).
//! The loop in `mod.rs` only asks and acts.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::running::Running;
use super::{jobs, slots};
use crate::deliver::outbox;
use crate::model::format_instant;
use crate::store::Store;

/// A job slot waiting to be (re)tried after it could not run.
pub(super) struct Pending {
    pub job: String,
    pub slot_at: DateTime<Utc>,
    pub next_try: DateTime<Utc>,
    first_failed: DateTime<Utc>,
    attempts: u32,
    last_error: String,
}

/// The next slot of each scheduled job after `t`.
pub(super) fn next_slots(loaded: &Running, t: DateTime<Utc>) -> BTreeMap<String, DateTime<Utc>> {
    loaded
        .app
        .schedules
        .iter()
        .filter_map(|(name, s)| s.next_after(t).map(|at| (name.clone(), at)))
        .collect()
}

/// Moves every slot that is due into the run queue.
pub(super) fn move_due(
    next: &mut BTreeMap<String, DateTime<Utc>>,
    loaded: &Running,
    now: DateTime<Utc>,
    queue: &mut Vec<(String, DateTime<Utc>)>,
) {
    for (name, at) in next.iter_mut() {
        while *at <= now {
            // Only the latest of several slots that passed while busy runs.
            let latest = loaded.app.schedules[name]
                .latest_at_or_before(now)
                .unwrap_or(*at);
            queue.push((name.clone(), latest));
            match loaded.app.schedules[name].next_after(latest) {
                Some(n) => *at = n,
                None => break,
            }
        }
    }
}

/// Slots that passed while the daemon was stopped, within each job's
/// catch-up window, and that no daemon has run.
pub(super) async fn catch_up(
    store: &Store,
    loaded: &Running,
    now: DateTime<Utc>,
) -> Vec<(String, DateTime<Utc>)> {
    let config = &loaded.app.settings.config;
    let mut due = Vec::new();
    for (name, schedule) in &loaded.app.schedules {
        let window = config
            .jobs
            .get(name)
            .and_then(|j| j.catch_up)
            .unwrap_or(config.daemon.catch_up)
            .chrono();
        let Some(slot) = schedule.latest_at_or_before(now) else {
            continue;
        };
        if now - slot > window {
            continue;
        }
        match slots::exists(store, name, slot).await {
            Ok(false) => {
                tracing::info!(job = %name, slot = %format_instant(slot), "catching up a missed schedule");
                due.push((name.clone(), slot));
            }
            Ok(true) => {}
            Err(e) => tracing::warn!(job = %name, "cannot check for a missed schedule: {e}"),
        }
    }
    due
}

/// A job could not run: retry with backoff; past the configured time, tell IT.
pub(super) async fn job_failed(
    store: &Store,
    loaded: &Running,
    pending: &mut Vec<Pending>,
    job: String,
    slot_at: DateTime<Utc>,
    error: anyhow::Error,
) {
    let now = Utc::now();
    let error = format!("{error:#}");
    let index = match pending
        .iter()
        .position(|p| p.job == job && p.slot_at == slot_at)
    {
        Some(i) => i,
        None => {
            pending.push(Pending {
                job: job.clone(),
                slot_at,
                next_try: now,
                first_failed: now,
                attempts: 0,
                last_error: String::new(),
            });
            pending.len() - 1
        }
    };
    let p = &mut pending[index];
    p.attempts += 1;
    p.last_error = error.clone();
    let retry_for = loaded.app.settings.config.daemon.job_retry_for.chrono();
    if now - p.first_failed < retry_for {
        let wait = outbox::backoff(
            p.attempts as i64,
            Duration::from_secs(5),
            Duration::from_secs(300),
        );
        p.next_try = now + chrono::Duration::from_std(wait).unwrap_or_default();
        tracing::warn!(job = %job, slot = %format_instant(slot_at), attempts = p.attempts,
            retry_at = %format_instant(p.next_try), "job could not run: {error}");
        let _ = slots::failed(store, &job, slot_at, &error, Some(p.next_try)).await;
        return;
    }
    tracing::error!(job = %job, slot = %format_instant(slot_at), attempts = p.attempts,
        "job could not run and is abandoned: {error}");
    let attempts = p.attempts;
    pending.remove(index);
    let _ = slots::failed(store, &job, slot_at, &error, None).await;
    let Some(notice) = jobs::failure_message(loaded, &job, slot_at, &error, attempts, now) else {
        return;
    };
    // Through the outbox when the database takes it; straight to the
    // transport when the database is what failed.
    let queued = async {
        let mut tx = store.begin().await?;
        outbox::enqueue(&mut tx, &notice, now).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = queued {
        tracing::warn!("cannot queue the failure notice ({e}); sending it directly");
        if let Err(e) = loaded.transport.deliver(&notice).await {
            tracing::error!("the failure notice could not be sent: {e}");
        }
    }
}
