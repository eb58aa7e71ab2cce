//! The lifecycle of a run's findings, against the previous run of the same job:
//! **new** (not in the previous run), **open** (also in it), **resolved** (in
//! the previous run, not in this one, and its rule was evaluated this time),
//! **accepted** (covered by a live exception, whether new or open). The key
//! of a finding is its rule + subject (docs/CANONICAL.md). First-seen instants are
//! carried forward by the engine as each finding is written (`Store::record_findings`).
//!
//! A finding of the previous run whose rule was skipped or failed this time is
//! not resolved: nobody looked. It is counted in `not_rechecked`.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::exceptions::{self, Exception};
use crate::model::Finding;
use crate::store::runs::{LifecycleChunks, OutcomeStatus, RuleOutcome, RunRecord};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no run {0}")]
    NoRun(i64),
}

/// Where a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    New,
    Open,
    Resolved,
    Accepted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Resolved => "resolved",
            Status::Accepted => "accepted",
        }
    }
}

/// One finding with its place in the lifecycle.
#[derive(Debug, Clone)]
pub struct Entry {
    pub finding: Finding,
    pub status: Status,
    /// When the key was first seen in an unbroken series of runs of the job
    /// (for a resolved finding: as it was in the previous run).
    pub first_seen: Option<DateTime<Utc>>,
    /// For an accepted finding: the exception covering it.
    pub exception: Option<Exception>,
    /// For an accepted finding: whether it was also in the previous run.
    pub seen_before: bool,
}

/// The lifecycle of one run, every entry in memory (the OSCAL export and
/// the routing of digests); the report reads them a chunk at a time (`entries`).
#[derive(Debug, Clone)]
pub struct Lifecycle {
    pub run: RunRecord,
    pub previous: Option<RunRecord>,
    pub outcomes: Vec<RuleOutcome>,
    /// This run's findings (new, open, accepted) in the store's stable
    /// order, then the resolved ones.
    pub entries: Vec<Entry>,
    /// Exceptions of the run's rules that had expired at the run's instant.
    pub expired_exceptions: Vec<Exception>,
    /// Findings of the previous run whose rule was not evaluated this time.
    pub not_rechecked: u64,
}

/// What decides each finding's place in the lifecycle, read before its
/// findings: the run, the previous run of its job, which rules ran, and
/// the exceptions of its rules.
#[derive(Debug, Clone)]
pub struct Frame {
    pub run: RunRecord,
    pub previous: Option<RunRecord>,
    pub outcomes: Vec<RuleOutcome>,
    /// Exceptions of the run's rules live at the run's instant.
    pub live_exceptions: Vec<Exception>,
    /// Exceptions of the run's rules that had expired at the run's instant.
    pub expired_exceptions: Vec<Exception>,
}

impl Frame {
    /// The rules that were evaluated in the run.
    fn evaluated(&self, rule: &str) -> bool {
        self.outcomes
            .iter()
            .any(|o| o.rule_id == rule && o.status == OutcomeStatus::Ok)
    }
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub new: u64,
    pub open: u64,
    pub resolved: u64,
    pub accepted: u64,
}

impl Counts {
    pub fn add(&mut self, status: Status) {
        match status {
            Status::New => self.new += 1,
            Status::Open => self.open += 1,
            Status::Resolved => self.resolved += 1,
            Status::Accepted => self.accepted += 1,
        }
    }
}

impl Lifecycle {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for e in &self.entries {
            c.add(e.status);
        }
        c
    }

    /// The entries of one status.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.status == status)
    }
}

/// Reads the frame of run `run_id`.
pub async fn frame(store: &Store, run_id: i64) -> Result<Frame, LifecycleError> {
    let run = store
        .run_record(run_id)
        .await?
        .ok_or(LifecycleError::NoRun(run_id))?;
    let previous = match store.previous_run(run_id).await? {
        Some(id) => store.run_record(id).await?,
        None => None,
    };
    let outcomes = store.rule_outcomes(run_id).await?;
    let rules_of_run: BTreeSet<&str> = outcomes.iter().map(|o| o.rule_id.as_str()).collect();
    let (live_exceptions, expired_exceptions): (Vec<Exception>, Vec<Exception>) =
        exceptions::list(store)
            .await?
            .into_iter()
            .filter(|e| rules_of_run.contains(e.rule.as_str()))
            .partition(|e| e.live_at(run.as_of));
    Ok(Frame {
        run,
        previous,
        outcomes,
        live_exceptions,
        expired_exceptions,
    })
}

/// How many findings `Entries` hands over at a time. The report looks up
/// each chunk's subjects in one transaction (a few statements) while it
/// writes the chunk before: a chunk is a few hundred kilobytes, and a
/// report holds about four at once.
pub const CHUNK: usize = 500;

/// The entries of the run of a frame, `CHUNK` at a time: this run's
/// findings in the store's stable order, then the resolved ones. The
/// database compares the two runs; only a chunk or two are in memory.
pub struct Entries<'a> {
    frame: &'a Frame,
    rows: LifecycleChunks,
    /// Findings of the previous run whose rule was not evaluated this
    /// time: complete once `next` has returned `None`.
    pub not_rechecked: u64,
}

/// Starts reading the entries of the run of `frame`.
pub async fn entries<'a>(store: &Store, frame: &'a Frame) -> Result<Entries<'a>, StoreError> {
    Ok(Entries {
        frame,
        rows: store
            .lifecycle_chunks(frame.run.id, frame.previous.as_ref().map(|p| p.id), CHUNK)
            .await?,
        not_rechecked: 0,
    })
}

impl Entries<'_> {
    /// The next chunk of entries; `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<Entry>>, StoreError> {
        let Some(rows) = self.rows.next().await? else {
            return Ok(None);
        };
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            if row.gone {
                if self.frame.evaluated(&row.finding.rule) {
                    entries.push(Entry {
                        finding: row.finding,
                        status: Status::Resolved,
                        first_seen: row.first_seen,
                        exception: None,
                        seen_before: true,
                    });
                } else {
                    self.not_rechecked += 1;
                }
                continue;
            }
            let exception = self
                .frame
                .live_exceptions
                .iter()
                .find(|e| e.matches(&row.finding.rule, &row.finding.subject_id))
                .cloned();
            let status = match (&exception, row.seen_before) {
                (Some(_), _) => Status::Accepted,
                (None, true) => Status::Open,
                (None, false) => Status::New,
            };
            entries.push(Entry {
                finding: row.finding,
                status,
                first_seen: row.first_seen,
                exception,
                seen_before: row.seen_before,
            });
        }
        Ok(Some(entries))
    }
}

/// The lifecycle of run `run_id`, every entry in memory: what the OSCAL
/// export and the routing of digests build on (only `Status::New` entries
/// are news).
pub async fn lifecycle(store: &Store, run_id: i64) -> Result<Lifecycle, LifecycleError> {
    let frame = frame(store, run_id).await?;
    let mut all = Vec::new();
    let mut chunks = entries(store, &frame).await?;
    while let Some(chunk) = chunks.next().await? {
        all.extend(chunk);
    }
    let not_rechecked = chunks.not_rechecked;
    Ok(Lifecycle {
        run: frame.run,
        previous: frame.previous,
        outcomes: frame.outcomes,
        entries: all,
        expired_exceptions: frame.expired_exceptions,
        not_rechecked,
    })
}
