//! One pass over a run's findings, as the store streams them
//! (`lifecycle::entries`), keeping only what the report shows: the counts,
//! the first `LISTED` findings of each rule and status, the oldest open
//! ones, the counts per severity, rule, department and application, and
//! the leavers' accounts; every row goes to the CSV file as it passes. So
//! the memory a report needs does not grow with its findings (the leavers
//! excepted: one small record per account of a leaver still there).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::audience::Audience;
use super::error::ReportError;
use super::facts::Facts;
use super::findings_csv::{CsvFile, CsvWriter, Row};
use super::item::{self, LISTED};
use super::lifecycle::{self, Counts, Status};
use crate::config::ReportConfig;
use crate::engine::RuleSet;
use crate::model::{Severity, SubjectType};
use crate::store::Store;

/// The most findings named per application, and the most oldest findings
/// the summary names.
pub const NAMED: usize = 5;

/// The rule whose findings are leavers' accounts.
pub const LEAVERS_RULE: &str = "departed-still-active";

/// How the oldest findings are ranked: first seen first, then the most
/// severe.
type OldestKey = (Option<DateTime<Utc>>, Reverse<Severity>);

/// What the report shows of a run's findings, gathered in one pass.
pub struct Tally {
    pub counts: Counts,
    /// Findings of the previous run whose rule was not evaluated this time.
    pub not_rechecked: u64,
    /// Per rule and status: how many, and the first `LISTED` as the
    /// templates see them.
    pub lists: HashMap<(String, Status), Listed>,
    /// Current (not resolved) findings per severity and per rule.
    pub current_by_severity: BTreeMap<Severity, i64>,
    pub current_by_rule: HashMap<String, i64>,
    /// The oldest new or open high and critical findings, oldest first.
    pub oldest: Vec<Value>,
    pub overdue: usize,
    /// Current findings per department of their subject.
    pub departments: BTreeMap<String, u64>,
    /// Current findings per application.
    pub applications: BTreeMap<String, ApplicationTally>,
    /// The accounts `departed-still-active` found (current), as the
    /// leavers section groups them.
    pub leavers: Vec<LeaverAccount>,
    /// For a digest: its findings the previous run had, per severity.
    pub previous_totals: BTreeMap<Severity, i64>,
    pub csv: CsvFile,
}

/// One list of a rule section.
#[derive(Default)]
pub struct Listed {
    pub total: usize,
    pub items: Vec<Value>,
}

/// The current findings of one application.
#[derive(Default)]
pub struct ApplicationTally {
    pub findings: usize,
    pub by_rule: BTreeMap<String, usize>,
    pub by_severity: BTreeMap<Severity, usize>,
    /// The most severe, first found first among equals.
    pub worst: Vec<(Reverse<Severity>, Value)>,
}

/// An account of a leaver still there.
pub struct LeaverAccount {
    pub person_id: String,
    pub full_name: Option<String>,
    pub terminated_at: Option<String>,
    pub application: Option<String>,
    pub subject_id: String,
    pub native_id: String,
    pub login: Option<String>,
    pub status: Option<String>,
    pub severity: Severity,
    pub used_after_leaving: i64,
}

/// Inserts `item` into `list` kept sorted by `key` and at most `max`
/// long, after the items of an equal key: the first `max` of a stable
/// sort of everything inserted.
fn insert_bounded<K: Ord + Copy, T>(list: &mut Vec<(K, T)>, key: K, item: T, max: usize) {
    let at = list.partition_point(|(k, _)| *k <= key);
    if at < max {
        list.insert(at, (key, item));
        list.truncate(max);
    }
}

/// Whether `insert_bounded` would keep an item of `key` (so that an item
/// is built only when it is kept).
fn keeps<K: Ord + Copy, T>(list: &[(K, T)], key: K, max: usize) -> bool {
    list.partition_point(|(k, _)| *k <= key) < max
}

/// Reads every finding of the run of `facts` once, in chunks: writes the
/// CSV and keeps the tally. A digest's findings only, masked as its
/// audience says.
pub async fn tally(
    store: &Store,
    facts: &Facts,
    rules: &RuleSet,
    tz: chrono_tz::Tz,
    config: &ReportConfig,
    audience: Option<&Audience>,
) -> Result<Tally, ReportError> {
    let frame = &facts.frame;
    let as_of = frame.run.as_of;
    let mut csv = CsvWriter::new(config)?;
    let mut counts = Counts::default();
    let mut lists: HashMap<(String, Status), Listed> = HashMap::new();
    let mut current_by_severity: BTreeMap<Severity, i64> = BTreeMap::new();
    let mut current_by_rule: HashMap<String, i64> = HashMap::new();
    let mut oldest: Vec<(OldestKey, Value)> = Vec::new();
    let mut overdue = 0;
    let mut departments: BTreeMap<String, u64> = BTreeMap::new();
    let mut applications: BTreeMap<String, ApplicationTally> = BTreeMap::new();
    let mut leavers = Vec::new();
    let mut previous_totals: BTreeMap<Severity, i64> = BTreeMap::new();
    let mut chunks = lifecycle::entries(store, frame).await?;
    // A chunk and the lookup of its subjects, started as soon as the chunk
    // is read: the database looks up the next chunk's subjects while this
    // process writes the current chunk's rows.
    let next_chunk = async |chunks: &mut lifecycle::Entries<'_>| -> Result<_, ReportError> {
        let Some(mut chunk) = chunks.next().await? else {
            return Ok(None);
        };
        // A digest's findings only: the others are not looked up.
        if let Some(a) = audience {
            chunk.retain(|e| a.admits(e));
        }
        let keys: Vec<(String, String)> = chunk
            .iter()
            .map(|e| {
                (
                    e.finding.subject_type.as_str().to_string(),
                    e.finding.subject_id.clone(),
                )
            })
            .collect();
        let store = store.clone();
        let lookup = tokio::spawn(async move { store.subjects(as_of, &keys).await });
        Ok(Some((chunk, lookup)))
    };
    let mut upcoming = next_chunk(&mut chunks).await?;
    while let Some((chunk, lookup)) = upcoming.take() {
        upcoming = next_chunk(&mut chunks).await?;
        let subjects = lookup
            .await
            .map_err(|e| ReportError::Lookup(e.to_string()))??;
        for mut e in chunk {
            if let Some(a) = audience {
                a.mask(&mut e);
            }
            let f = &e.finding;
            // Looked up by the id as shown: a masked id shows no one.
            let subject =
                subjects.get(&(f.subject_type.as_str().to_string(), f.subject_id.clone()));
            let row = csv.write(&Row {
                run_id: frame.run.id,
                entry: &e,
                subject,
                as_of,
                rules,
                tz,
                config,
            })?;
            if let Some(a) = audience {
                a.check(&[&String::from_utf8_lossy(row)])?;
            }
            counts.add(e.status);
            let seen_before = matches!(e.status, Status::Open | Status::Resolved)
                || (e.status == Status::Accepted && e.seen_before);
            if seen_before {
                *previous_totals.entry(f.severity).or_default() += 1;
            }
            let item = || item::entry_json(&e, subject, as_of, rules, tz, config);
            let list = lists.entry((f.rule.clone(), e.status)).or_default();
            list.total += 1;
            if list.items.len() < LISTED {
                list.items.push(item());
            }
            if e.status == Status::Resolved {
                continue;
            }
            *current_by_severity.entry(f.severity).or_default() += 1;
            *current_by_rule.entry(f.rule.clone()).or_default() += 1;
            if item::age(&e, as_of, config).overdue {
                overdue += 1;
            }
            if matches!(e.status, Status::New | Status::Open) && f.severity >= Severity::High {
                let key = (e.first_seen, Reverse(f.severity));
                if keeps(&oldest, key, NAMED) {
                    insert_bounded(&mut oldest, key, item(), NAMED);
                }
            }
            let department = subject
                .and_then(|s| s.department.clone())
                .unwrap_or_else(|| "(no department)".to_string());
            *departments.entry(department).or_default() += 1;
            if let Some(app) = &f.application {
                let t = applications.entry(app.clone()).or_default();
                t.findings += 1;
                *t.by_rule.entry(f.rule.clone()).or_default() += 1;
                *t.by_severity.entry(f.severity).or_default() += 1;
                let key = Reverse(f.severity);
                if keeps(&t.worst, key, NAMED) {
                    let named = serde_json::json!({
                        "severity": f.severity.as_str(),
                        "title": f.title,
                        "native_id": super::output::native_id(f).unwrap_or(&f.subject_id),
                    });
                    insert_bounded(&mut t.worst, key, named, NAMED);
                }
            }
            if f.rule == LEAVERS_RULE && f.subject_type == SubjectType::Principal {
                let text = |k: &str| {
                    f.evidence
                        .get(k)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                leavers.push(LeaverAccount {
                    person_id: text("person_id").unwrap_or_default(),
                    full_name: text("full_name"),
                    terminated_at: text("terminated_at").map(|t| t.chars().take(10).collect()),
                    application: f.application.clone(),
                    subject_id: f.subject_id.clone(),
                    native_id: super::output::native_id(f)
                        .unwrap_or(&f.subject_id)
                        .to_string(),
                    login: text("login"),
                    status: text("status"),
                    severity: f.severity,
                    used_after_leaving: f
                        .evidence
                        .get("activity_after_termination")
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                });
            }
        }
    }
    let not_rechecked = chunks.not_rechecked;
    Ok(Tally {
        counts,
        not_rechecked,
        lists,
        current_by_severity,
        current_by_rule,
        oldest: oldest.into_iter().map(|(_, v)| v).collect(),
        overdue,
        departments,
        applications,
        leavers,
        previous_totals,
        csv: csv.finish()?,
    })
}

impl Tally {
    /// Takes one list out (empty if there is none): the report's context
    /// holds it from then on.
    pub fn take_list(&mut self, rule: &str, status: Status) -> Listed {
        self.lists
            .remove(&(rule.to_string(), status))
            .unwrap_or_default()
    }

    /// Current findings, all rules.
    pub fn current(&self) -> i64 {
        self.current_by_severity.values().sum()
    }

    /// Findings per department, most first.
    pub fn by_department(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .departments
            .iter()
            .map(|(d, n)| (d.clone(), *n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::insert_bounded;

    #[test]
    fn bounded_insertion_keeps_the_first_of_a_stable_sort() {
        let input = [
            (3, 'a'),
            (1, 'b'),
            (3, 'c'),
            (2, 'd'),
            (1, 'e'),
            (0, 'f'),
            (3, 'g'),
        ];
        let mut kept = Vec::new();
        for (k, v) in input {
            insert_bounded(&mut kept, k, v, 4);
        }
        let mut all = input.to_vec();
        all.sort_by_key(|(k, _)| *k);
        all.truncate(4);
        assert_eq!(kept, all);
        assert_eq!(kept, vec![(0, 'f'), (1, 'b'), (1, 'e'), (2, 'd')]);
    }
}
