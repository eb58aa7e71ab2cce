//! The report's view of applications: a section per application (its
//! owner, how critical it is, its accounts and findings), and the leavers
//! whose accounts are still there, each person's accounts in every
//! application together.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::facts::Facts;
use super::lifecycle::{Entry, Status};
use crate::model::{Severity, SubjectType};

/// The most findings named per application (the rule sections list them all).
const NAMED: usize = 5;

/// The rule whose findings are leavers' accounts.
const LEAVERS_RULE: &str = "departed-still-active";

/// One section per application, in name order; with one application and
/// no configuration the report has nothing to group, and says so by an
/// empty list.
pub fn sections(facts: &Facts, current: &[&Entry]) -> Vec<Value> {
    if facts.applications.len() < 2
        && facts
            .applications
            .iter()
            .all(|a| a.owner.is_none() && a.description.is_none())
    {
        return Vec::new();
    }
    facts
        .applications
        .iter()
        .map(|a| {
            let mine: Vec<&&Entry> = current
                .iter()
                .filter(|e| e.finding.application.as_deref() == Some(a.name.as_str()))
                .collect();
            let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
            for e in &mine {
                *by_rule.entry(e.finding.rule.as_str()).or_default() += 1;
            }
            let severities: Vec<String> = [
                Severity::Critical,
                Severity::High,
                Severity::Medium,
                Severity::Low,
                Severity::Info,
            ]
            .iter()
            .filter_map(|s| {
                let n = mine.iter().filter(|e| e.finding.severity == *s).count();
                (n > 0).then(|| format!("{n} {}", s.as_str()))
            })
            .collect();
            let mut worst: Vec<&&Entry> = mine.clone();
            worst.sort_by_key(|e| std::cmp::Reverse(e.finding.severity));
            json!({
                "name": a.name,
                "description": a.description,
                "owner": a.owner,
                "owner_name": a.owner_name,
                "criticality": a.criticality,
                "critical": a.criticality == Some("critical"),
                "directory": a.directory,
                "accounts": a.accounts,
                "findings": mine.len(),
                "severities": if severities.is_empty() { "none".to_string() } else { severities.join(", ") },
                "rules": by_rule.iter().map(|(rule, n)| json!({"rule": rule, "count": n})).collect::<Vec<_>>(),
                "worst": worst.iter().take(NAMED).map(|e| json!({
                    "severity": e.finding.severity.as_str(),
                    "title": e.finding.title,
                    "native_id": super::output::native_id(&e.finding).unwrap_or(&e.finding.subject_id),
                })).collect::<Vec<_>>(),
                "more": mine.len().saturating_sub(NAMED),
            })
        })
        .collect()
}

/// Leavers whose accounts are still there: one entry per person, with
/// each of their accounts (in every application) found by
/// `departed-still-active`, most severe first.
pub fn leavers(facts: &Facts) -> Vec<Value> {
    let mut people: BTreeMap<String, Vec<&Entry>> = BTreeMap::new();
    for e in &facts.lifecycle.entries {
        if e.finding.rule != LEAVERS_RULE
            || e.status == Status::Resolved
            || e.finding.subject_type != SubjectType::Principal
        {
            continue;
        }
        let person = e
            .finding
            .evidence
            .get("person_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        people.entry(person).or_default().push(e);
    }
    let mut out: Vec<(Severity, Value)> = people
        .into_iter()
        .map(|(person, mut accounts)| {
            accounts.sort_by(|x, y| {
                y.finding
                    .severity
                    .cmp(&x.finding.severity)
                    .then_with(|| x.finding.subject_id.cmp(&y.finding.subject_id))
            });
            let first = &accounts[0].finding;
            let text = |k: &str| first.evidence.get(k).and_then(Value::as_str).map(str::to_string);
            let worst = first.severity;
            let applications: std::collections::BTreeSet<&str> = accounts
                .iter()
                .filter_map(|e| e.finding.application.as_deref())
                .collect();
            (
                worst,
                json!({
                    "person_id": person,
                    "full_name": text("full_name"),
                    "terminated_at": text("terminated_at").map(|t| t.chars().take(10).collect::<String>()),
                    "severity": worst.as_str(),
                    "applications": applications.len(),
                    "accounts": accounts.iter().map(|e| {
                        let f = &e.finding;
                        json!({
                            "application": f.application,
                            "native_id": super::output::native_id(f).unwrap_or(&f.subject_id),
                            "login": f.evidence.get("login").and_then(Value::as_str),
                            "status": f.evidence.get("status").and_then(Value::as_str),
                            "severity": f.severity.as_str(),
                            "used_after_leaving": f.evidence.get("activity_after_termination").and_then(Value::as_i64).unwrap_or(0),
                        })
                    }).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    out.into_iter().map(|(_, v)| v).collect()
}
