//! `accessaudit serve`: the background service.
//!
//! One loop owns the schedule: it sleeps until the next due slot of any job
//! (due times from croner in the configured zone, see `schedule`), runs jobs
//! one at a time in a task of their own, drives the outbox sender, retries
//! jobs that could not run, and answers signals: SIGHUP reloads config,
//! rules and templates (all or nothing), SIGTERM/SIGINT stop after the job in
//! flight (or abandon it safely after a grace period: its slot lease expires
//! and the next start, here or on another host, runs it).
//!
//! Exactly-once per slot comes from the database (`slots`), not from this
//! process, so several daemons can share one PostgreSQL.

pub mod alerts;
pub mod jobs;
pub mod metrics;
mod queue;
pub mod running;
pub mod slots;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tokio::signal::unix::{SignalKind, signal};

use crate::app::Overrides;
use crate::deliver::{outbox, sender};
use crate::store::{Store, StoreOptions};
use jobs::{JobRunner, SlotOutcome};
use metrics::Metrics;
use queue::{Pending, catch_up, job_failed, move_due, next_slots};
use running::Running;

/// How often the outbox and pending retries are looked at.
const SENDER_INTERVAL: Duration = Duration::from_secs(2);
/// How often the daemon makes sure the months of events ahead exist.
const PARTITIONS_INTERVAL: Duration = Duration::from_secs(86_400);

/// How long SIGTERM waits for the job in flight before abandoning it.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// The job in flight: its slot, and how it ended.
type JobTask = tokio::task::JoinHandle<(String, DateTime<Utc>, Result<SlotOutcome>)>;

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn serve(o: Overrides) -> Result<()> {
    let mut loaded = Arc::new(Running::load(&o).context("the daemon did not start")?);
    let database = loaded.app.settings.database.clone();
    let options = StoreOptions {
        statement_timeout: loaded.app.settings.statement_timeout,
    };
    let store = open_store_retrying(&database, options.clone()).await?;
    store.abandon_dead_runs().await?;
    let settings = &loaded.app.settings;
    let store = settings
        .prepare_scans(store)
        .await
        .context("the daemon did not start")?;
    settings
        .check_scan_privileges(&store)
        .await
        .context("the daemon did not start")?;
    // A source whose account can write is a warning, or, with
    // require_read_only, no start; one that cannot be reached now is the
    // sync's to report when it runs.
    for (name, source) in &settings.config.sources {
        match crate::collect::sync::write_check(name, source).await {
            Ok(crate::collect::readers::sql::WriteCheck::CanWrite { what }) => {
                if source.require_read_only {
                    anyhow::bail!(
                        "the daemon did not start: source {name}: its account can write ({}), \
                         and require_read_only refuses it",
                        what.join("; ")
                    );
                }
                tracing::warn!(source = %name, privileges = %what.join("; "), "the source's account can write: give it SELECT only");
            }
            Ok(check) => tracing::info!(source = %name, %check, "source write privileges checked"),
            Err(e) => {
                tracing::warn!(source = %name, error = %e, "the source's write privileges could not be checked at start")
            }
        }
    }
    let metrics = Arc::new(Metrics::new());
    if let Some(addr) = loaded.app.settings.config.daemon.listen {
        let listener = metrics::bind(addr)
            .await
            .with_context(|| format!("the daemon did not start: cannot listen on {addr}"))?;
        let m = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = metrics::serve_http(listener, m).await {
                tracing::error!("health/metrics endpoint on {addr} stopped: {e}");
            }
        });
    }
    if let Some(page) = &loaded.app.settings.config.review_page {
        let addr = page.listen;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("the daemon did not start: cannot listen on {addr}"))?;
        tracing::info!(
            "reviewers' pages on http://{addr}/review/… ({})",
            page.public_url
        );
        let state = Arc::new(crate::review::web::PageState {
            store: store.clone(),
            config: loaded.app.settings.config.clone(),
        });
        tokio::spawn(async move {
            if let Err(e) = crate::review::web::serve(listener, state).await {
                tracing::error!("review page on {addr} stopped: {e}");
            }
        });
    }
    let runner = Arc::new(JobRunner {
        store: store.clone(),
        owner: owner_id(),
        metrics: metrics.clone(),
    });
    tracing::info!(
        owner = %runner.owner,
        database = %crate::store::redact_url(&database),
        transport = %loaded.transport.describe(),
        jobs = loaded.app.settings.config.jobs.len(),
        "accessaudit daemon started"
    );

    let started = Utc::now();
    match slots::release_dead_local(&store, &hostname(), started).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!("{n} job slot(s) of a daemon that died on this host will run again")
        }
        Err(e) => tracing::warn!("cannot look for slots of a dead daemon: {e}"),
    }
    // Due slots: catch-up first (missed while stopped), then the schedule.
    let mut queue: Vec<(String, DateTime<Utc>)> = catch_up(&store, &loaded, started).await;
    let mut next = next_slots(&loaded, started);
    let mut pending: Vec<Pending> = Vec::new();
    let mut running: Option<JobTask> = None;

    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut retry_tick = tokio::time::interval(SENDER_INTERVAL);
    // The sender runs beside the loop, so that a slow SMTP server never
    // holds up schedules, signals or the watchdog.
    let (loaded_tx, loaded_rx) = tokio::sync::watch::channel(loaded.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wake_sender = Arc::new(tokio::sync::Notify::new());
    let sender_task = tokio::spawn(sender_loop(
        store.clone(),
        loaded_rx,
        metrics.clone(),
        wake_sender.clone(),
        stop_rx,
    ));
    // The months of events ahead (PostgreSQL; opening the store made them
    // once): again every day, so that a daemon running for months never
    // lets new events fall into the default partition.
    let mut partitions_tick = tokio::time::interval_at(
        tokio::time::Instant::now() + PARTITIONS_INTERVAL,
        PARTITIONS_INTERVAL,
    );
    let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
    let mut watchdog_tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    loop {
        // Start the next due slot when no job is in flight.
        if running.is_none() {
            let now = Utc::now();
            move_due(&mut next, &loaded, now, &mut queue);
            if let Some(i) = pending.iter().position(|p| p.next_try <= now)
                && queue.is_empty()
            {
                queue.push((pending[i].job.clone(), pending[i].slot_at));
            }
            if !queue.is_empty() {
                let (job, slot_at) = queue.remove(0);
                let (r, l) = (runner.clone(), loaded.clone());
                running = Some(tokio::spawn(async move {
                    let outcome = r.run_slot(&l, &job, slot_at).await;
                    (job, slot_at, outcome)
                }));
            }
        }
        let wake = next
            .values()
            .min()
            .copied()
            .map(|at| (at - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(Duration::from_secs(3600))
            .min(Duration::from_secs(3600));
        tokio::select! {
            done = async { running.as_mut().expect("guarded").await }, if running.is_some() => {
                running = None;
                match done {
                    Ok((job, slot_at, Ok(_))) => {
                        pending.retain(|p| !(p.job == job && p.slot_at == slot_at));
                        wake_sender.notify_one();
                    }
                    Ok((job, slot_at, Err(e))) => {
                        job_failed(&store, &loaded, &mut pending, job, slot_at, e).await;
                    }
                    Err(e) => tracing::error!("job task ended abnormally: {e}"),
                }
            }
            _ = tokio::time::sleep(wake) => {}
            _ = retry_tick.tick() => {
                if let Ok(due) = slots::retries_due(&store, Utc::now()).await {
                    for slot in due {
                        if loaded.app.schedules.contains_key(&slot.0) && !queue.contains(&slot) {
                            queue.push(slot);
                        }
                    }
                }
            }
            _ = partitions_tick.tick() => {
                if let Err(e) = store.ensure_months_ahead(Utc::now()).await {
                    tracing::error!("cannot create the months of events ahead: {e}");
                }
            }
            _ = watchdog_tick.tick(), if watchdog.is_some() => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
            _ = hup.recv() => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
                match Running::load(&o) {
                    Ok(new) => {
                        if new.app.settings.database != database {
                            tracing::warn!("the database URL changed: it takes effect at the next restart");
                        }
                        tracing::info!(jobs = new.app.settings.config.jobs.len(), rules = new.app.rules.rules.len(), "configuration reloaded");
                        loaded = Arc::new(new);
                        let _ = loaded_tx.send(loaded.clone());
                        next = next_slots(&loaded, Utc::now());
                    }
                    Err(e) => tracing::error!("reload rejected, the previous configuration keeps running: {e:#}"),
                }
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }

    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    // The sender finishes the message it is sending, then stops.
    let _ = stop_tx.send(true);
    let abort_sender = sender_task.abort_handle();
    if tokio::time::timeout(STOP_GRACE, sender_task).await.is_err() {
        abort_sender.abort();
    }
    if let Some(handle) = running {
        tracing::info!("stopping: waiting for the job in flight");
        let abort = handle.abort_handle();
        if tokio::time::timeout(STOP_GRACE, handle).await.is_err() {
            // Aborting the task rolls its transactions back; the slot's lease
            // expires (at once for a daemon of this host) and it runs again.
            abort.abort();
            tracing::warn!(
                "stopping: the job in flight was abandoned; it runs again at the next start"
            );
        }
    }
    tracing::info!("accessaudit daemon stopped");
    Ok(())
}

async fn open_store_retrying(url: &str, options: StoreOptions) -> Result<Store> {
    let mut wait = Duration::from_secs(1);
    loop {
        match Store::open(url, options.clone()).await {
            Ok(store) => return Ok(store),
            Err(e) => {
                tracing::error!(
                    "cannot open the database {}: {e}; retrying in {}",
                    crate::store::redact_url(url),
                    crate::model::Span(wait)
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        }
    }
}

use crate::support::process::hostname;

/// One id per daemon process, recorded as the owner of the slots it runs.
fn owner_id() -> String {
    format!(
        "{}:{}:{:08x}",
        hostname(),
        std::process::id(),
        fastrand::u32(..)
    )
}

/// Delivers due messages every few seconds, or at once when woken (a job
/// just queued one), until told to stop.
async fn sender_loop(
    store: Store,
    loaded: tokio::sync::watch::Receiver<Arc<Running>>,
    metrics: Arc<Metrics>,
    wake: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let current = loaded.borrow().clone();
        // Access reviews: openings, reminders, escalations and closes that
        // fell due (each at most once, whichever daemon gets there).
        let config = &current.app.settings.config;
        if (!config.reviews.is_empty() || config.review_page.is_some())
            && let Err(e) = crate::review::cycle::tick(
                &store,
                config,
                Utc::now(),
                config.daemon.catch_up.chrono(),
            )
            .await
        {
            tracing::error!("access reviews: {e}");
        }
        deliver(&store, &current, &metrics).await;
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(SENDER_INTERVAL) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// One pass of the outbox sender, with its figures recorded.
async fn deliver(store: &Store, loaded: &Running, metrics: &Metrics) {
    match sender::deliver_due(
        store,
        &loaded.transport,
        &loaded.webhooks,
        &loaded.app.settings.config.mail,
        &crate::review::notify::LinkMinter {
            config: &loaded.app.settings.config,
        },
    )
    .await
    {
        Ok(pass) => {
            metrics.database_up.store(true, Ordering::Relaxed);
            metrics.deliveries(&pass);
        }
        Err(e) => {
            metrics.database_up.store(false, Ordering::Relaxed);
            tracing::warn!("outbox: {e}");
        }
    }
    if let Ok(depth) = outbox::depth(store).await {
        metrics.outbox_depth(depth);
    }
}
