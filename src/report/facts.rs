//! Reading the facts of a run's report: the lifecycle of its findings
//! against the previous run of its job, the totals of that run, proof that
//! the audit looked (rows per canonical table, the newest event), messages
//! that could not be delivered, and the history the chart draws.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::chart;
use super::error::ReportError;
use super::lifecycle::{self, Frame};
use crate::collect::readers::sql::WriteCheck;
use crate::collect::sync::FeedReport;
use crate::config::ApplicationConfig;
use crate::model::Severity;
use crate::store::Store;
use crate::store::runs::RunRecord;

/// A message of an earlier report that was given up on: the report says
/// what did not arrive. (The outbox hands these over; the report does not
/// read the outbox.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    pub subject: String,
    pub message_id: String,
    pub queued_at: DateTime<Utc>,
    pub error: String,
}

/// Facts about the data the run saw: proof that the audit looked, even
/// where it found nothing.
pub struct DataProof {
    pub tables: Vec<(&'static str, i64)>,
    /// Each source's latest sync before the run: what every feed read and
    /// what the source itself counted.
    pub sources: Vec<SourceProof>,
    pub newest_event: Option<DateTime<Utc>>,
    /// Messages given up on since the previous report.
    pub undelivered: Vec<Undelivered>,
}

/// A source's latest sync before the run.
pub struct SourceProof {
    pub source: String,
    pub sync_id: i64,
    pub synced_at: DateTime<Utc>,
    pub feeds: Vec<FeedReport>,
    /// What its account could write, in words: read-only (how that was
    /// checked), CAN WRITE (what), or not checked (why).
    pub write_check: String,
}

impl DataProof {
    /// The feeds whose rows read do not match their source's own count.
    pub fn unreconciled(&self) -> impl Iterator<Item = (&SourceProof, &FeedReport)> {
        self.sources
            .iter()
            .flat_map(|s| s.feeds.iter().map(move |f| (s, f)))
            .filter(|(_, f)| !f.reconciles())
    }
}

/// Everything a report shows, read from the store, but its findings
/// (`tally` reads them in one pass).
pub struct Facts {
    pub frame: Frame,
    /// Findings per severity of the previous run, when there is one.
    pub previous_totals: Option<BTreeMap<Severity, i64>>,
    pub proof: DataProof,
    pub history: Vec<chart::Point>,
    /// What changed in the rules, exceptions, job and config since the
    /// previous run of the job; `None` when either run did not record it.
    pub changes: Option<Vec<super::changes::Change>>,
    /// The applications: those the store holds accounts of and those the
    /// configuration names, by name.
    pub applications: Vec<ApplicationFacts>,
}

/// An application as the report presents it.
pub struct ApplicationFacts {
    pub name: String,
    pub description: Option<String>,
    /// The owner as configured (a people.id or an email) and their name.
    pub owner: Option<String>,
    pub owner_name: Option<String>,
    pub criticality: Option<&'static str>,
    pub directory: bool,
    pub accounts: i64,
}

/// How many runs the chart draws.
const HISTORY_RUNS: i64 = 12;

/// The window whose undelivered messages a run's report lists: since the
/// previous run of the job started (or the last 31 days), up to this run's end.
pub fn undelivered_window(
    run: &RunRecord,
    previous: Option<&RunRecord>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let since = match previous {
        Some(p) => p.started_at,
        None => run.started_at - chrono::Duration::days(31),
    };
    (since, run.finished_at.unwrap_or(run.started_at))
}

/// Reads the facts of run `run_id`; `undelivered` comes from the caller.
pub async fn read(
    store: &Store,
    run_id: i64,
    tz: chrono_tz::Tz,
    undelivered: Vec<Undelivered>,
    configured: &BTreeMap<String, ApplicationConfig>,
    directories: &[String],
) -> Result<Facts, ReportError> {
    let lc = lifecycle::frame(store, run_id).await?;
    if lc.run.status != "succeeded" {
        return Err(ReportError::Unfinished(run_id, lc.run.status.clone()));
    }
    let previous_totals = match &lc.previous {
        Some(p) => {
            let mut t = BTreeMap::new();
            for (severity, n) in store.severity_counts(p.id).await? {
                if let Ok(sev) = severity.parse::<Severity>() {
                    t.insert(sev, n);
                }
            }
            Some(t)
        }
        None => None,
    };
    let mut sources = Vec::new();
    for sync in store.latest_syncs(lc.run.started_at).await? {
        // A summary that does not parse (written by hand) shows no feeds
        // rather than failing the report.
        let feeds = sync
            .summary
            .and_then(|s| serde_json::from_str::<Vec<FeedReport>>(&s).ok())
            .unwrap_or_default();
        let write_check = match sync.write_check {
            Some(text) => serde_json::from_str::<WriteCheck>(&text)
                .map(|c| c.to_string())
                .unwrap_or(text),
            None => "not checked (synced before accessaudit checked it)".to_string(),
        };
        sources.push(SourceProof {
            source: sync.source,
            sync_id: sync.id,
            synced_at: sync.finished_at,
            feeds,
            write_check,
        });
    }
    let proof = DataProof {
        tables: store.table_counts(lc.run.as_of).await?,
        sources,
        newest_event: store.newest_event(lc.run.as_of).await?,
        undelivered,
    };
    let history = history(store, &lc, tz).await?;
    let changes = match &lc.previous {
        Some(p) => match (
            store.run_settings(p.id).await?,
            store.run_settings(lc.run.id).await?,
        ) {
            (Some(before), Some(now)) => Some(super::changes::between(&before, &now)),
            _ => None,
        },
        None => None,
    };
    let applications = applications(store, configured, directories).await?;
    Ok(Facts {
        applications,
        changes,
        frame: lc,
        previous_totals,
        proof,
        history,
    })
}

/// The applications of the store and of the configuration, by name;
/// `directories` as every run's rules are told (`Config::deployment`).
async fn applications(
    store: &Store,
    configured: &BTreeMap<String, ApplicationConfig>,
    directories: &[String],
) -> Result<Vec<ApplicationFacts>, ReportError> {
    let mut accounts: BTreeMap<String, i64> = store
        .accounts_per_application()
        .await?
        .into_iter()
        .collect();
    for name in configured.keys() {
        accounts.entry(name.clone()).or_insert(0);
    }
    let mut out = Vec::with_capacity(accounts.len());
    for (name, n) in accounts {
        let config = configured.get(&name);
        let owner = config.and_then(|c| c.owner.clone());
        let owner_name = match &owner {
            Some(o) => store.person_name(o).await?,
            None => None,
        };
        out.push(ApplicationFacts {
            description: config.and_then(|c| c.description.clone()),
            owner,
            owner_name,
            criticality: config.map(|c| c.criticality.as_str()),
            directory: directories.contains(&name),
            accounts: n,
            name,
        });
    }
    Ok(out)
}

/// Findings per rule of one run; None: not evaluated.
type RuleCounts = BTreeMap<String, Option<u64>>;

/// Findings per rule over the last 12 succeeded runs of the job up to this
/// one (from the recorded rule outcomes), oldest first; a rule that was not
/// evaluated in a run has no count there. Each run is labelled by its day,
/// with the time where two runs share a day.
async fn history(
    store: &Store,
    lc: &Frame,
    tz: chrono_tz::Tz,
) -> Result<Vec<chart::Point>, ReportError> {
    let rows: Vec<(i64, DateTime<Utc>, String, Option<u64>)> = match &lc.run.job {
        None => lc
            .outcomes
            .iter()
            .map(|o| {
                let ok = o.status == crate::store::runs::OutcomeStatus::Ok;
                (
                    lc.run.id,
                    lc.run.as_of,
                    o.rule_id.clone(),
                    ok.then_some(o.finding_count),
                )
            })
            .collect(),
        Some(job) => {
            store
                .finding_history(job, lc.run.as_of, lc.run.id, HISTORY_RUNS)
                .await?
        }
    };
    let mut runs: Vec<(i64, DateTime<Utc>, RuleCounts)> = Vec::new();
    for (id, as_of, rule, count) in rows {
        if runs.last().map(|(last, _, _)| *last) != Some(id) {
            runs.push((id, as_of, BTreeMap::new()));
        }
        if let Some((_, _, counts)) = runs.last_mut() {
            counts.insert(rule, count);
        }
    }
    let day = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d").to_string();
    let mut per_day: HashMap<String, usize> = HashMap::new();
    for (_, t, _) in &runs {
        *per_day.entry(day(*t)).or_default() += 1;
    }
    Ok(runs
        .into_iter()
        .map(|(_, t, counts)| chart::Point {
            label: if per_day.get(&day(t)).copied().unwrap_or(0) > 1 {
                t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
            } else {
                day(t)
            },
            counts,
        })
        .collect())
}
