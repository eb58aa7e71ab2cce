//! The lifecycle of a run's findings, against the previous run of the same job:
//! **new** (not in the previous run), **open** (also in it), **resolved** (in
//! the previous run, not in this one, and its rule was evaluated this time),
//! **accepted** (covered by a live exception, whether new or open). The key
//! of a finding is its rule + subject (docs/CANONICAL.md). First-seen instants are
//! carried forward by the engine as each finding is written (`Store::record_findings`).
//!
//! A finding of the previous run whose rule was skipped or failed this time is
//! not resolved: nobody looked. It is counted in `not_rechecked`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::exceptions::{self, Exception};
use crate::model::{Finding, SubjectType};
use crate::store::runs::{OutcomeStatus, RuleOutcome, RunRecord};
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

/// The lifecycle of one run.
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

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub new: u64,
    pub open: u64,
    pub resolved: u64,
    pub accepted: u64,
}

impl Lifecycle {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for e in &self.entries {
            match e.status {
                Status::New => c.new += 1,
                Status::Open => c.open += 1,
                Status::Resolved => c.resolved += 1,
                Status::Accepted => c.accepted += 1,
            }
        }
        c
    }

    /// The entries of one status.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.status == status)
    }
}

type Key = (String, SubjectType, String);

fn key(f: &Finding) -> Key {
    (f.rule.clone(), f.subject_type, f.subject_id.clone())
}

/// The lifecycle of run `run_id`: what the report shows, and what alert
/// de-duplication builds on (only `Status::New` entries are news).
pub async fn lifecycle(store: &Store, run_id: i64) -> Result<Lifecycle, LifecycleError> {
    let run = store
        .run_record(run_id)
        .await?
        .ok_or(LifecycleError::NoRun(run_id))?;
    let previous = match store.previous_run(run_id).await? {
        Some(id) => store.run_record(id).await?,
        None => None,
    };
    let outcomes = store.rule_outcomes(run_id).await?;
    let evaluated: BTreeSet<&str> = outcomes
        .iter()
        .filter(|o| o.status == OutcomeStatus::Ok)
        .map(|o| o.rule_id.as_str())
        .collect();
    let rules_of_run: BTreeSet<&str> = outcomes.iter().map(|o| o.rule_id.as_str()).collect();

    let all_exceptions = exceptions::list(store).await?;
    let (live, expired): (Vec<Exception>, Vec<Exception>) = all_exceptions
        .into_iter()
        .filter(|e| rules_of_run.contains(e.rule.as_str()))
        .partition(|e| e.live_at(run.as_of));

    let previous_findings = match &previous {
        Some(p) => store.findings_with_first_seen(p.id).await?,
        None => Vec::new(),
    };
    let before: BTreeMap<Key, usize> = previous_findings
        .iter()
        .enumerate()
        .map(|(i, (f, _))| (key(f), i))
        .collect();

    let mut entries = Vec::new();
    let mut now_keys = BTreeSet::new();
    for (finding, first_seen) in store.findings_with_first_seen(run_id).await? {
        let k = key(&finding);
        let seen_before = before.contains_key(&k);
        now_keys.insert(k);
        let exception = live
            .iter()
            .find(|e| e.matches(&finding.rule, &finding.subject_id))
            .cloned();
        let status = match (&exception, seen_before) {
            (Some(_), _) => Status::Accepted,
            (None, true) => Status::Open,
            (None, false) => Status::New,
        };
        entries.push(Entry {
            finding,
            status,
            first_seen,
            exception,
            seen_before,
        });
    }
    let mut not_rechecked = 0;
    for (finding, first_seen) in previous_findings {
        if now_keys.contains(&key(&finding)) {
            continue;
        }
        if !evaluated.contains(finding.rule.as_str()) {
            not_rechecked += 1;
            continue;
        }
        entries.push(Entry {
            finding,
            status: Status::Resolved,
            first_seen,
            exception: None,
            seen_before: true,
        });
    }
    Ok(Lifecycle {
        run,
        previous,
        outcomes,
        entries,
        expired_exceptions: expired,
        not_rechecked,
    })
}
