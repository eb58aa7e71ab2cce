//! The report's view of applications: a section per application (its
//! owner, how critical it is, its accounts and findings), and the leavers
//! whose accounts are still there, each person's accounts in every
//! application together.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::facts::Facts;
use super::tally::{ApplicationTally, LeaverAccount, NAMED, Tally};
use crate::model::Severity;

/// One section per application, in name order; with one application and
/// no configuration the report has nothing to group, and says so by an
/// empty list.
pub fn sections(facts: &Facts, tally: &Tally) -> Vec<Value> {
    if facts.applications.len() < 2
        && facts
            .applications
            .iter()
            .all(|a| a.owner.is_none() && a.description.is_none())
    {
        return Vec::new();
    }
    let none = ApplicationTally::default();
    facts
        .applications
        .iter()
        .map(|a| {
            let mine = tally.applications.get(&a.name).unwrap_or(&none);
            let severities: Vec<String> = [
                Severity::Critical,
                Severity::High,
                Severity::Medium,
                Severity::Low,
                Severity::Info,
            ]
            .iter()
            .filter_map(|s| {
                let n = mine.by_severity.get(s).copied().unwrap_or(0);
                (n > 0).then(|| format!("{n} {}", s.as_str()))
            })
            .collect();
            json!({
                "name": a.name,
                "description": a.description,
                "owner": a.owner,
                "owner_name": a.owner_name,
                "criticality": a.criticality,
                "critical": a.criticality == Some("critical"),
                "directory": a.directory,
                "accounts": a.accounts,
                "findings": mine.findings,
                "severities": if severities.is_empty() { "none".to_string() } else { severities.join(", ") },
                "rules": mine.by_rule.iter().map(|(rule, n)| json!({"rule": rule, "count": n})).collect::<Vec<_>>(),
                "worst": mine.worst.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
                "more": mine.findings.saturating_sub(NAMED),
            })
        })
        .collect()
}

/// Leavers whose accounts are still there: one entry per person, with
/// each of their accounts (in every application) found by
/// `departed-still-active`, most severe first.
pub fn leavers(tally: &Tally) -> Vec<Value> {
    let mut people: BTreeMap<&str, Vec<&LeaverAccount>> = BTreeMap::new();
    for a in &tally.leavers {
        people.entry(a.person_id.as_str()).or_default().push(a);
    }
    let mut out: Vec<(Severity, Value)> = people
        .into_iter()
        .map(|(person, mut accounts)| {
            accounts.sort_by(|x, y| {
                y.severity
                    .cmp(&x.severity)
                    .then_with(|| x.subject_id.cmp(&y.subject_id))
            });
            let first = accounts[0];
            let worst = first.severity;
            let applications: std::collections::BTreeSet<&str> = accounts
                .iter()
                .filter_map(|a| a.application.as_deref())
                .collect();
            (
                worst,
                json!({
                    "person_id": person,
                    "full_name": first.full_name,
                    "terminated_at": first.terminated_at,
                    "severity": worst.as_str(),
                    "applications": applications.len(),
                    "accounts": accounts.iter().map(|a| json!({
                        "application": a.application,
                        "native_id": a.native_id,
                        "login": a.login,
                        "status": a.status,
                        "severity": a.severity.as_str(),
                        "used_after_leaving": a.used_after_leaving,
                    })).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    out.into_iter().map(|(_, v)| v).collect()
}
