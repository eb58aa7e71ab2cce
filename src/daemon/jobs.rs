//! Running one scheduled slot of a job: claim it, evaluate its rules as of
//! the scheduled instant, render its message, and queue the message in the
//! transaction that marks the slot done.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::alerts;
use super::metrics::Metrics;
use super::running::Running;
use super::slots::{self, Claim};
use crate::app::{self, loaded::SYNC_PREFIX};
use crate::collect::{source::SourceConfig, sync};
use crate::config::{JobConfig, SendPolicy};
use crate::deliver::compose::{self, Content};
use crate::deliver::{OutgoingMessage, outbox};
use crate::model::format_instant;
use crate::store::Store;
use crate::store::runs::OutcomeStatus;
use crate::support::mail;

/// How long a claimed slot stays ours without renewal.
pub const SLOT_LEASE: Duration = Duration::from_secs(60);

/// What became of one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotOutcome {
    /// Ran; `queued` tells whether a message was queued.
    Ran { run_id: Option<i64>, queued: bool },
    /// Another daemon has it, or it already ran.
    Taken,
}

/// What a slot does: run a job, or sync a source.
enum Work<'a> {
    Job(&'a JobConfig),
    Sync(&'a str, &'a SourceConfig),
}

/// Everything a job run needs, shared with the daemon loop.
pub struct JobRunner {
    pub store: Store,
    pub owner: String,
    pub metrics: Arc<Metrics>,
}

impl JobRunner {
    /// Claims and runs the slot `slot_at` of `name`.
    pub async fn run_slot(
        &self,
        loaded: &Running,
        name: &str,
        slot_at: DateTime<Utc>,
    ) -> Result<SlotOutcome> {
        let config = &loaded.app.settings.config;
        let work = match name.strip_prefix(SYNC_PREFIX) {
            Some(source) => Work::Sync(
                source,
                config
                    .sources
                    .get(source)
                    .with_context(|| format!("source `{source}` is no longer configured"))?,
            ),
            None => Work::Job(
                config
                    .jobs
                    .get(name)
                    .with_context(|| format!("job `{name}` is no longer configured"))?,
            ),
        };
        let claim = slots::claim(
            &self.store,
            name,
            slot_at,
            &self.owner,
            Utc::now(),
            SLOT_LEASE,
        )
        .await?;
        let Claim::Claimed { attempt, .. } = claim else {
            tracing::debug!(job = name, slot = %format_instant(slot_at), "slot taken by another daemon or already run");
            return Ok(SlotOutcome::Taken);
        };
        tracing::info!(job = name, slot = %format_instant(slot_at), attempt, "job started");
        // Renew the lease while we work, so that no other daemon takes over.
        let renewer = {
            let (store, owner, name) = (self.store.clone(), self.owner.clone(), name.to_string());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SLOT_LEASE / 3);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = slots::renew(&store, &name, slot_at, &owner, SLOT_LEASE).await {
                        tracing::warn!(job = %name, "cannot renew the job lease: {e}");
                    }
                }
            })
        };
        let started = std::time::Instant::now();
        let result = match work {
            Work::Job(job) => self.execute(loaded, name, job, slot_at).await,
            Work::Sync(source, config) => self.sync(name, source, config, slot_at).await,
        };
        renewer.abort();
        let seconds = started.elapsed().as_secs_f64();
        match &result {
            Ok((run_id, queued, findings, alerted)) => {
                self.metrics
                    .run_finished(name, true, seconds, *findings, *alerted);
                tracing::info!(
                    job = name,
                    run_id = run_id.unwrap_or_default(),
                    findings,
                    message_queued = queued,
                    seconds,
                    "job finished"
                );
            }
            Err(_) => self.metrics.run_finished(name, false, seconds, 0, 0),
        }
        result.map(|(run_id, queued, ..)| SlotOutcome::Ran { run_id, queued })
    }

    /// A scheduled sync of a source: all of it or nothing (sync_source's
    /// transaction), then the slot is done.
    async fn sync(
        &self,
        name: &str,
        source: &str,
        config: &SourceConfig,
        slot_at: DateTime<Utc>,
    ) -> Result<(Option<i64>, bool, u64, u64)> {
        // The readers hand batches to `async` closures, whose futures rustc
        // cannot prove Send for every lifetime ("Send is not general
        // enough"), so the sync cannot live inside the spawned job task: it
        // runs on a blocking thread of its own, driving the same runtime.
        let (store, source_name, config) = (self.store.clone(), source.to_string(), config.clone());
        let runtime = tokio::runtime::Handle::current();
        let report = tokio::task::spawn_blocking(move || {
            runtime.block_on(sync::sync_source(&store, &source_name, &config, Utc::now()))
        })
        .await
        .context("the sync task ended abnormally")??;
        let rows: u64 = report.feeds.iter().map(|f| f.written).sum();
        let mut tx = self.store.begin().await?;
        slots::finish(&mut tx, name, slot_at, None, Utc::now()).await?;
        tx.commit().await?;
        tracing::info!(
            source,
            sync_id = report.sync_id,
            rows_written = rows,
            "source synced"
        );
        Ok((None, false, 0, 0))
    }

    /// (run id, message queued, findings, findings alerted)
    async fn execute(
        &self,
        loaded: &Running,
        name: &str,
        job: &JobConfig,
        slot_at: DateTime<Utc>,
    ) -> Result<(Option<i64>, bool, u64, u64)> {
        let rules = loaded.app.rules_for(Some(name), &[])?;
        let summary = loaded
            .app
            .run(&self.store, &self.store, &rules, slot_at, Some(name))
            .await?;
        self.metrics.rule_outcomes(name, &summary.outcomes);
        for o in &summary.outcomes {
            let reason = o.reason.as_deref().unwrap_or("");
            match o.status {
                OutcomeStatus::Skipped => {
                    tracing::warn!(job = name, rule = %o.rule_id, reason, "rule skipped")
                }
                OutcomeStatus::NotApplicable => {
                    tracing::warn!(job = name, rule = %o.rule_id, reason, "rule not applicable")
                }
                OutcomeStatus::Failed => {
                    tracing::error!(job = name, rule = %o.rule_id, error = reason, "rule failed")
                }
                OutcomeStatus::Ok => {}
            }
        }
        let ran_ok: Vec<String> = summary
            .outcomes
            .iter()
            .filter(|o| o.status == OutcomeStatus::Ok)
            .map(|o| o.rule_id.clone())
            .collect();
        let now = Utc::now();
        let realert_before = job.realert_after.map(|s| now - s.chrono());
        // Render (and archive) before the transaction: SQLite has one writer,
        // and the archive is written by a transaction of its own.
        let news = match job.send {
            SendPolicy::Always => None,
            SendPolicy::NewFindings => Some(
                alerts::pending(&self.store, name, summary.run_id, realert_before)
                    .await?
                    .into_iter()
                    .collect::<std::collections::BTreeSet<_>>(),
            ),
        };
        let messages = match news.as_ref().is_none_or(|n| !n.is_empty()) {
            true => {
                app::reports::deliveries(&self.store, &loaded.app, summary.run_id, news.as_ref())
                    .await?
            }
            false => Vec::new(),
        };
        let mut tx = self.store.begin().await?;
        let alerted = match job.send {
            SendPolicy::Always => 0,
            SendPolicy::NewFindings => {
                alerts::take_new(&mut tx, name, summary.run_id, &ran_ok, realert_before, now)
                    .await?
                    .len() as u64
            }
        };
        // The report and its digests commit with the slot: all or none.
        let mut queued = false;
        for message in &messages {
            queued |= outbox::enqueue(&mut tx, message, now).await?;
        }
        slots::finish(&mut tx, name, slot_at, Some(summary.run_id), now).await?;
        tx.commit().await?;
        Ok((Some(summary.run_id), queued, summary.finding_count, alerted))
    }
}

/// A plain message telling IT that a job could not run.
pub fn failure_message(
    loaded: &Running,
    job: &str,
    slot_at: DateTime<Utc>,
    error: &str,
    attempts: u32,
    now: DateTime<Utc>,
) -> Option<OutgoingMessage> {
    let config = &loaded.app.settings.config;
    let recipients = config.addresses(&config.daemon.failure_recipients);
    if recipients.is_empty() {
        return None;
    }
    let subject = format!(
        "accessaudit: job {job} did not run (scheduled {})",
        format_instant(slot_at)
    );
    let text = format!(
        "The audit job `{job}` scheduled for {} could not run.\n\n\
         Attempts: {attempts}\nLast error: {error}\n\n\
         No report was produced for this slot. The daemon keeps running the \
         job's later slots; check the database connection and the daemon's log.\n",
        format_instant(slot_at)
    );
    let message_id = format!(
        "failure.{}",
        mail::slot_message_id(job, slot_at, &config.mail.from)
    );
    let message = compose::compose(&Content {
        from: &config.mail.from,
        to: &recipients,
        subject: &subject,
        message_id: &message_id,
        date: now,
        text: &text,
        html: None,
        attachments: &[],
        job: Some(job),
    });
    match message {
        Ok(message) => Some(message),
        Err(e) => {
            tracing::error!(job = %job, "the failure notice cannot be built: {e}");
            None
        }
    }
}
