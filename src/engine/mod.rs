//! Evaluating rules as of an instant T.
//!
//! A run opens one read-only snapshot of the canonical tables (with a statement
//! timeout), evaluates each rule inside the database, and streams the findings
//! into the engine's tables in batches: no rule holds a table in memory. A rule
//! that fails is recorded as failed and the others still run.

pub mod kinds;
pub mod load;
pub mod named_params;
pub mod rule;
pub mod testing;

pub use kinds::{Kind, RuleKind};
pub use load::{RuleSet, SourceFile};
pub use rule::{Control, Rule};

use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::model::Span;
use crate::model::{Finding, Severity, format_instant};
use crate::store::runs::{FirstSeen, OutcomeStatus, RuleOutcome};
use crate::store::{Backend, SqlValue, Store, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rule {rule}: {message}")]
    Rule { rule: String, message: String },
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

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

/// What every rule evaluation can see: the instant, the backend, the newest event.
pub struct Context {
    pub as_of: DateTime<Utc>,
    pub backend: Backend,
    /// The newest event at or before T (the freshness gate's input).
    pub newest_event: Option<DateTime<Utc>>,
    /// Whether the store holds any event at all (of any time): a source
    /// without logs has none, which is not a stale feed.
    pub has_events: bool,
    /// What rules read accounts from: `principals`, or, when synced
    /// accounts changed after T, the accounts as they were at T.
    pub principals: String,
}

impl Context {
    /// T minus a span, saturating at the earliest instant.
    pub fn before(&self, span: Span) -> DateTime<Utc> {
        self.as_of
            .checked_sub_signed(span.chrono())
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// `Some(reason)` when the event feed is older than `max_age` before T.
    pub fn stale_events(&self, max_age: Option<Span>) -> Option<String> {
        let max_age = max_age?;
        match self.newest_event {
            None => Some(format!(
                "no events at or before {}: the event feed is empty",
                format_instant(self.as_of)
            )),
            Some(newest) if newest < self.before(max_age) => Some(format!(
                "event feed is stale: the newest event ({}) is more than {} before {}",
                format_instant(newest),
                max_age,
                format_instant(self.as_of)
            )),
            Some(_) => None,
        }
    }
}

/// How an evaluation ended, short of an error.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Not evaluated, and why.
    pub skipped: Option<String>,
    /// Evaluated, with a caveat (e.g. one check left out for a stale feed).
    pub note: Option<String>,
}

impl Evaluation {
    /// Not evaluated, because of `reason`.
    pub fn skipped(reason: String) -> Evaluation {
        Evaluation {
            skipped: Some(reason),
            note: None,
        }
    }

    /// Evaluated, with an optional caveat.
    pub fn noted(note: Option<String>) -> Evaluation {
        Evaluation {
            skipped: None,
            note,
        }
    }
}

/// Buffers findings and hands them, in batches, to a writer task with its
/// own connection: the rule's scan goes on while the previous batch is being
/// written (the two run on different cores), and at most a few batches are
/// in memory whatever the number of findings.
pub struct Sink {
    buffer: Vec<Finding>,
    pub count: u64,
    pub max_severity: Option<Severity>,
    batches: Option<mpsc::Sender<Vec<Finding>>>,
    writer: Option<tokio::task::JoinHandle<Result<(), StoreError>>>,
}

const SINK_BATCH: usize = 500;
/// Batches queued for the writer before `push` waits for it.
const SINK_QUEUE: usize = 2;

impl Sink {
    fn start(store: &Store, run_id: i64, first_seen: FirstSeen) -> Sink {
        let (batches, mut queue) = mpsc::channel::<Vec<Finding>>(SINK_QUEUE);
        let store = store.clone();
        let writer = tokio::spawn(async move {
            while let Some(batch) = queue.recv().await {
                store.record_findings(run_id, first_seen, &batch).await?;
            }
            Ok(())
        });
        Sink {
            buffer: Vec::with_capacity(SINK_BATCH),
            count: 0,
            max_severity: None,
            batches: Some(batches),
            writer: Some(writer),
        }
    }

    pub async fn push(&mut self, finding: Finding) -> Result<()> {
        self.max_severity = self.max_severity.max(Some(finding.severity));
        self.count += 1;
        self.buffer.push(finding);
        if self.buffer.len() >= SINK_BATCH {
            self.send().await?;
        }
        Ok(())
    }

    async fn send(&mut self) -> Result<()> {
        let batch = std::mem::replace(&mut self.buffer, Vec::with_capacity(SINK_BATCH));
        let sent = match &self.batches {
            Some(batches) => batches.send(batch).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The writer stopped: its error says why.
            self.join().await
        }
    }

    /// Writes what is left and waits until every finding is stored.
    async fn finish(&mut self) -> Result<()> {
        if !self.buffer.is_empty() {
            self.send().await?;
        }
        self.join().await
    }

    /// Stops the writer without writing what is buffered (the rule failed:
    /// its findings are about to be deleted) and waits for it.
    async fn abandon(&mut self) {
        self.buffer.clear();
        let _ = self.join().await;
    }

    async fn join(&mut self) -> Result<()> {
        self.batches = None; // the writer ends once the queue is drained
        match self.writer.take() {
            Some(writer) => match writer.await {
                Ok(written) => Ok(written?),
                Err(join) => Err(EngineError::Rule {
                    rule: String::new(),
                    message: format!("the findings writer stopped: {join}"),
                }),
            },
            None => Ok(()),
        }
    }
}

/// Shorthand for building evidence objects.
pub(crate) fn evidence() -> serde_json::Map<String, serde_json::Value> {
    serde_json::Map::new()
}

pub(crate) fn json_time(t: Option<DateTime<Utc>>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| {
        serde_json::Value::String(format_instant(t))
    })
}

/// Runs `rules` as of `as_of` and records the run; `job` names the job it belongs to.
pub async fn run(
    store: &Store,
    rules: &[&Rule],
    as_of: DateTime<Utc>,
    job: Option<&str>,
) -> Result<RunSummary> {
    let run_id = store.start_run(job, as_of).await?;
    // New / still open is judged against the previous run of the job: each
    // finding takes its first-seen instant from there as it is written.
    let first_seen = FirstSeen {
        previous_run: store.previous_run(run_id).await?,
        as_of,
    };
    match evaluate_all(store, run_id, first_seen, rules, as_of).await {
        Ok(summary) => {
            store
                .finish_run(run_id, summary.finding_count, None)
                .await?;
            Ok(summary)
        }
        Err(e) => {
            let _ = store.finish_run(run_id, 0, Some(&e.to_string())).await;
            Err(e)
        }
    }
}

async fn evaluate_all(
    store: &Store,
    run_id: i64,
    first_seen: FirstSeen,
    rules: &[&Rule],
    as_of: DateTime<Utc>,
) -> Result<RunSummary> {
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
    };
    let mut outcomes = Vec::with_capacity(rules.len());
    let mut total = 0;
    let mut max_severity = None;
    for rule in rules {
        let started = Instant::now();
        let mut sink = Sink::start(store, run_id, first_seen);
        // A savepoint per rule: on PostgreSQL a failed statement would
        // otherwise abort the snapshot for every rule after it.
        store.rearm_statement_timeout();
        scan.execute("SAVEPOINT rule_eval", &[]).await?;
        let result = match rule.kind.evaluate(&mut scan, &ctx, rule, &mut sink).await {
            Ok(evaluation) => sink.finish().await.map(|_| evaluation),
            Err(e) => {
                sink.abandon().await;
                Err(e)
            }
        };
        let outcome = match result {
            Ok(evaluation) => {
                scan.execute("RELEASE SAVEPOINT rule_eval", &[]).await?;
                let (status, reason) = match (evaluation.skipped, evaluation.note) {
                    (Some(reason), _) => (OutcomeStatus::Skipped, Some(reason)),
                    (None, note) => (OutcomeStatus::Ok, note),
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
                store.rearm_statement_timeout();
                scan.execute("ROLLBACK TO SAVEPOINT rule_eval", &[]).await?;
                tracing::error!(rule = %rule.id, error = %e, "rule failed");
                // Findings already flushed for this rule would be partial: drop them.
                store.discard_rule_findings(run_id, &rule.id).await?;
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
            OutcomeStatus::Skipped => {
                tracing::warn!(rule = %rule.id, reason = outcome.reason.as_deref().unwrap_or(""), "rule skipped")
            }
            _ => {
                tracing::info!(rule = %rule.id, findings = outcome.finding_count, ms = outcome.duration_ms, "rule evaluated")
            }
        }
        store.record_outcome(run_id, &outcome).await?;
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

/// The accounts as of T. Synced accounts have versions in
/// `principal_history` (see collect::sync); when none of them changed after
/// T the current table is exact and is read as it is. Otherwise each synced
/// account is read in the version valid at T (an account created after T is
/// absent), and accounts from other feeds (CSV import, the application
/// itself) as they are. T is written into the SQL as a literal because each
/// rule numbers its own parameters; it is a timestamp we format, never text
/// from a user.
async fn principals_at(tx: &mut Tx, b: Backend, as_of: DateTime<Utc>) -> Result<String> {
    let changed_since = tx
        .fetch_optional(
            "SELECT 1 AS changed FROM principal_history WHERE valid_from > $1 OR valid_to > $1 LIMIT 1",
            &[SqlValue::time(as_of)],
        )
        .await?;
    if changed_since.is_none() {
        return Ok("principals".to_string());
    }
    const COLUMNS: &str = "login, display_name, email, person_id, department, account_type, status, mfa_enabled, created_at, last_login_at, password_changed_at";
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

/// `e.outcome` counts as a success (a NULL outcome is a success: many sources
/// only log what worked).
pub(crate) const SUCCESS: &str = "(e.outcome IS NULL OR e.outcome = 'success')";

/// Whole days between two instants, rounded down.
pub(crate) fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_days()
}

/// The strings of a list of contract enums.
pub(crate) fn names<T: Copy>(items: &[T], as_str: fn(T) -> &'static str) -> Vec<String> {
    items.iter().map(|i| as_str(*i).to_string()).collect()
}
