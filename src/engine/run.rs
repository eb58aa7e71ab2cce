//! A run: one read-only snapshot of the canonical tables, the freshness
//! gate's inputs, a savepoint per rule (a failing rule is recorded as
//! failed and the others still run), and the run's record.

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::context::{Context, Evaluation, RuleMeta};
use super::deployment::Deployment;
use super::error::Result;
use super::kind::EventReach;
use super::rule::Rule;
use super::sink::Sink;
use crate::model::Severity;
use crate::store::runs::{FirstSeen, OutcomeStatus, RuleOutcome};
use crate::store::{Backend, SqlValue, Store, Tx};

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: i64,
    pub as_of: DateTime<Utc>,
    pub outcomes: Vec<RuleOutcome>,
    pub finding_count: u64,
    /// The most severe finding, if any.
    pub max_severity: Option<Severity>,
}

/// Runs `rules` as of `as_of` and records the run; `job` names the job it belongs to.
pub async fn run(
    store: &Store,
    rules: &[&Rule],
    as_of: DateTime<Utc>,
    job: Option<&str>,
) -> Result<RunSummary> {
    run_recorded_in(store, store, rules, as_of, job, &Deployment::default()).await
}

/// Runs `rules` over the canonical tables of `scan` and records the run in
/// `record`: the same store, or a scratch one when the run must leave no
/// trace (`run --no-record`, a read-only database).
pub async fn run_recorded_in(
    scan: &Store,
    record: &Store,
    rules: &[&Rule],
    as_of: DateTime<Utc>,
    job: Option<&str>,
    deployment: &Deployment,
) -> Result<RunSummary> {
    let run_id = record.start_run(job, as_of).await?;
    // New / still open is judged against the previous run of the job: each
    // finding takes its first-seen instant from there as it is written.
    let first_seen = FirstSeen {
        previous_run: record.previous_run(run_id).await?,
        as_of,
    };
    let stores = Stores { scan, record };
    match evaluate_all(stores, run_id, first_seen, rules, as_of, deployment).await {
        Ok(summary) => {
            record
                .finish_run(run_id, summary.finding_count, None)
                .await?;
            Ok(summary)
        }
        Err(e) => {
            let _ = record.finish_run(run_id, 0, Some(&e.to_string())).await;
            Err(e)
        }
    }
}

/// Checks each rule's query over the canonical tables of `store` without
/// reading a row (`Kind::probe`), in one read-only scan with a savepoint
/// per rule, as a run would; returns the rules refused and why.
pub async fn probe<'r>(
    store: &Store,
    rules: &[&'r Rule],
    as_of: DateTime<Utc>,
) -> Result<Vec<(&'r Rule, String)>> {
    let mut scan = store.begin_scan().await?;
    let mut refused = Vec::new();
    for rule in rules {
        begin_rule(store, &mut scan).await?;
        let probed = rule.kind.probe(&mut scan, as_of).await;
        end_rule(store, &mut scan, probed.is_ok()).await?;
        if let Err(e) = probed {
            refused.push((*rule, e));
        }
    }
    scan.rollback().await?;
    Ok(refused)
}

/// Opens one rule's part of a scan: a savepoint (on PostgreSQL a failed
/// statement would otherwise abort the snapshot for every rule after it),
/// then the scan's settings set again after it, so that what a rule sets
/// with `set_config(…, true)` is undone by a rollback to it.
async fn begin_rule(store: &Store, scan: &mut Tx) -> Result<()> {
    scan.execute("SAVEPOINT rule_eval", &[]).await?;
    store.rearm_scan(scan).await?;
    Ok(())
}

/// Closes one rule's part of a scan: released when it went well, rolled
/// back when it failed (PostgreSQL's failed transaction takes no other
/// statement first; the next rule sets its settings again).
async fn end_rule(store: &Store, scan: &mut Tx, ok: bool) -> Result<()> {
    if ok {
        scan.execute("RELEASE SAVEPOINT rule_eval", &[]).await?;
    } else {
        store.rearm_deadline();
        scan.execute("ROLLBACK TO SAVEPOINT rule_eval", &[]).await?;
    }
    Ok(())
}

/// Where a run reads and where it writes.
#[derive(Clone, Copy)]
struct Stores<'a> {
    scan: &'a Store,
    record: &'a Store,
}

async fn evaluate_all(
    stores: Stores<'_>,
    run_id: i64,
    first_seen: FirstSeen,
    rules: &[&Rule],
    as_of: DateTime<Utc>,
    deployment: &Deployment,
) -> Result<RunSummary> {
    let Stores {
        scan: store,
        record,
    } = stores;
    // Read through the store's own connection, not the scan's: the sync
    // records are the engine's tables, which a least-privilege scan role
    // may not read (README, "Database roles").
    let gap = history_gap(store, as_of).await?;
    let horizon = crate::store::retention::horizon(store, as_of).await?;
    let mut scan = store.begin_scan().await?;
    let newest_event = scan.newest_event(as_of).await?;
    let has_events = newest_event.is_some() || scan.has_events().await?;
    let backend = store.backend();
    let principals = principals_at(&mut scan, backend, as_of).await?;
    let ctx = Context {
        as_of,
        backend,
        newest_event,
        has_events,
        principals,
        deployment: deployment.clone(),
    };
    let mut outcomes = Vec::with_capacity(rules.len());
    let mut total = 0;
    let mut max_severity = None;
    for rule in rules {
        let started = Instant::now();
        let mut sink = Sink::start(record, run_id, first_seen);
        begin_rule(store, &mut scan).await?;
        let meta = RuleMeta {
            id: &rule.id,
            title: &rule.title,
            severity: rule.severity,
        };
        let evaluated = match (gap.clone(), retention_gap(rule, as_of, horizon)) {
            // Before a source's first sync nothing says what it held, and
            // retention removed what a rule would read: no rule can be
            // judged there (never a silent 0 findings).
            (Some(reason), _) | (None, Some(reason)) => Ok(Evaluation::skipped(reason)),
            (None, None) => rule.kind.evaluate(&mut scan, &ctx, &meta, &mut sink).await,
        };
        let result = match evaluated {
            Ok(evaluation) => match sink.finish().await {
                Ok(_) => settle(&mut scan, record, run_id, rule, deployment, &mut sink)
                    .await
                    .map(|_| evaluation),
                Err(e) => Err(e),
            },
            Err(e) => {
                sink.abandon().await;
                Err(e)
            }
        };
        let outcome = match result {
            Ok(evaluation) => {
                end_rule(store, &mut scan, true).await?;
                let (status, reason) = match evaluation {
                    Evaluation {
                        skipped: Some(reason),
                        ..
                    } => (OutcomeStatus::Skipped, Some(reason)),
                    Evaluation {
                        not_applicable: Some(reason),
                        ..
                    } => (OutcomeStatus::NotApplicable, Some(reason)),
                    Evaluation { note, .. } => (OutcomeStatus::Ok, note),
                };
                total += sink.count;
                max_severity = max_severity.max(sink.max_severity);
                RuleOutcome {
                    rule_id: rule.id.clone(),
                    status,
                    reason,
                    finding_count: sink.count,
                    duration_ms: started.elapsed().as_millis() as u64,
                }
            }
            Err(e) => {
                end_rule(store, &mut scan, false).await?;
                // (Said once, by the caller: the CLI on stderr, the daemon in its log.)
                tracing::debug!(rule = %rule.id, error = %e, "rule failed");
                // Findings already flushed for this rule would be partial: drop them.
                record.discard_rule_findings(run_id, &rule.id).await?;
                RuleOutcome {
                    rule_id: rule.id.clone(),
                    status: OutcomeStatus::Failed,
                    reason: Some(e.to_string()),
                    finding_count: 0,
                    duration_ms: started.elapsed().as_millis() as u64,
                }
            }
        };
        match outcome.status {
            OutcomeStatus::Skipped | OutcomeStatus::NotApplicable => {
                tracing::debug!(rule = %rule.id, status = outcome.status.as_str(), reason = outcome.reason.as_deref().unwrap_or(""), "rule not evaluated")
            }
            _ => {
                tracing::info!(rule = %rule.id, findings = outcome.finding_count, ms = outcome.duration_ms, "rule evaluated")
            }
        }
        record.record_outcome(run_id, &outcome).await?;
        outcomes.push(outcome);
    }
    scan.rollback().await?;
    Ok(RunSummary {
        run_id,
        as_of,
        outcomes,
        finding_count: total,
        max_severity,
    })
}

/// The rule's scope and the critical applications applied to what it
/// wrote (engine::applications); the sink's tally follows.
async fn settle(
    scan: &mut Tx,
    record: &Store,
    run_id: i64,
    rule: &Rule,
    deployment: &Deployment,
    sink: &mut Sink,
) -> Result<()> {
    if let Some(settled) =
        super::applications::settle(scan, record, run_id, rule, deployment).await?
    {
        sink.count = settled.count;
        sink.max_severity = settled.max_severity;
    }
    Ok(())
}

/// `Some(reason)` when T is before the first sync of a source that keeps
/// snapshot rows (accounts, roles, grants, people): the store knows such a
/// source only from its first sync on, so the instant cannot be
/// reconstructed. Events carry their own instants and CSV imports have no
/// sync record: neither makes a gap.
async fn history_gap(store: &Store, as_of: DateTime<Utc>) -> Result<Option<String>> {
    let late = store
        .fetch_all(
            "SELECT source, MIN(started_at) AS first_sync FROM syncs
              WHERE status = 'succeeded' AND source IN (SELECT source FROM source_rows)
              GROUP BY source HAVING MIN(started_at) > $1 ORDER BY source",
            &[SqlValue::time(as_of)],
        )
        .await?;
    let mut sources = Vec::with_capacity(late.len());
    for r in &late {
        let first = r.time("first_sync")?.map(crate::model::format_instant);
        sources.push(format!(
            "source `{}` was first synced at {}",
            r.req_text("source")?,
            first.unwrap_or_default()
        ));
    }
    if sources.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "not reconstructible as of {}: {}; before a source's first sync the store does not know its accounts, roles and grants",
        crate::model::format_instant(as_of),
        sources.join(", ")
    )))
}

/// `Some(reason)` when retention, applied after T at R, removed events
/// before H that the rule reads as of T: its window (T − reach) starts
/// before H, or it reads events of any age. A run as of T back then saw
/// them; this one cannot, so it would not be the same answer. (A retention
/// run before T took nothing a run at T saw: no gap.)
fn retention_gap(
    rule: &Rule,
    as_of: DateTime<Utc>,
    horizon: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Option<String> {
    let (cutoff, applied) = horizon?;
    let reads_before = match rule.kind.event_reach() {
        EventReach::None => false,
        EventReach::Within(span) => as_of
            .checked_sub_signed(span.chrono())
            .is_none_or(|start| start < cutoff),
        EventReach::AnyAge { .. } => true,
    };
    reads_before.then(|| {
        format!(
            "not reconstructible as of {}: events before {} were removed by retention on {}",
            crate::model::format_instant(as_of),
            crate::model::format_instant(cutoff),
            crate::model::format_instant(applied)
        )
    })
}

/// The accounts as of T. Synced accounts have versions in
/// `principal_history` (see collect::sync); when none of them changed after
/// T the current table is exact and is read as it is. Otherwise each synced
/// account is read in the version valid at T (an account created after T is
/// absent), and accounts from other feeds (CSV import, the application
/// itself) as they are. T is written into the SQL as a literal because each
/// rule numbers its own parameters; it is a timestamp we format, never text
/// from a user.
pub(crate) async fn principals_at(tx: &mut Tx, b: Backend, as_of: DateTime<Utc>) -> Result<String> {
    let changed_since = tx
        .fetch_optional(
            "SELECT 1 AS changed FROM principal_history WHERE valid_from > $1 OR valid_to > $1 LIMIT 1",
            &[SqlValue::time(as_of)],
        )
        .await?;
    if changed_since.is_none() {
        return Ok("principals".to_string());
    }
    const COLUMNS: &str = crate::collect::tables::PRINCIPAL_VERSION_COLUMNS;
    let t = b.time_literal(as_of);
    Ok(format!(
        "(SELECT x.id, {x_columns} FROM principals x
           WHERE NOT EXISTS (SELECT 1 FROM principal_history h WHERE h.principal_id = x.id)
         UNION ALL
         SELECT h.principal_id AS id, {h_columns} FROM principal_history h
          WHERE h.valid_from <= {t} AND (h.valid_to IS NULL OR h.valid_to > {t}))",
        x_columns = COLUMNS
            .split(", ")
            .map(|c| format!("x.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        h_columns = COLUMNS
            .split(", ")
            .map(|c| format!("h.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
    ))
}
