//! One finding as the report shows it: its age and due date, and the
//! data the templates see of it (`entry_json`). The view lists them, the
//! tally builds them as findings pass, the CSV computes the same age.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::humanise;
use super::lifecycle::{Entry, Status};
use crate::config::ReportConfig;
use crate::engine::RuleSet;
use crate::model::{Severity, format_instant};
use crate::store::canonical::SubjectInfo;

/// The most findings listed per rule and status in the message itself.
pub const LISTED: usize = 50;

fn evidence_rows(evidence: &serde_json::Map<String, Value>, tz: chrono_tz::Tz) -> Value {
    Value::Array(
        humanise::facts(evidence, tz)
            .into_iter()
            .map(|f| json!({"key": f.key, "name": f.label, "value": f.value}))
            .collect(),
    )
}

/// The age of a finding at the run's instant and its due date, if its
/// severity has one. Resolved and accepted findings are not due.
pub struct Age {
    pub days_open: i64,
    pub due: Option<DateTime<Utc>>,
    pub overdue: bool,
}

pub fn age(e: &Entry, as_of: DateTime<Utc>, config: &ReportConfig) -> Age {
    let first = e.first_seen.unwrap_or(as_of);
    let due = match e.status {
        Status::New | Status::Open => config
            .due
            .get(&e.finding.severity)
            .map(|span| first + span.chrono()),
        Status::Resolved | Status::Accepted => None,
    };
    Age {
        days_open: (as_of - first).num_days().max(0),
        due,
        overdue: due.is_some_and(|d| as_of > d),
    }
}

fn opt(v: &Option<String>) -> Value {
    v.clone().map(Value::from).unwrap_or(Value::Null)
}

/// How a subject is named: its login, else its name, else its role, else its id.
pub fn subject_label(f: &crate::model::Finding, s: Option<&SubjectInfo>) -> String {
    s.and_then(|s| {
        s.login
            .clone()
            .or_else(|| s.display_name.clone())
            .or_else(|| s.role.clone())
    })
    .unwrap_or_else(|| f.subject_id.clone())
}

fn subject_json(f: &crate::model::Finding, s: Option<&SubjectInfo>) -> Value {
    let empty = SubjectInfo::default();
    let info = s.unwrap_or(&empty);
    json!({
        "label": subject_label(f, s),
        "login": opt(&info.login),
        "display_name": opt(&info.display_name),
        "department": opt(&info.department),
        "title": opt(&info.title),
        "manager": opt(&info.manager),
        "role": opt(&info.role),
    })
}

/// One finding as the templates see it.
pub fn entry_json(
    e: &Entry,
    subject: Option<&SubjectInfo>,
    as_of: DateTime<Utc>,
    rules: &RuleSet,
    tz: chrono_tz::Tz,
    config: &ReportConfig,
) -> Value {
    let f = &e.finding;
    let a = age(e, as_of, config);
    json!({
        "rule": f.rule,
        "rule_title": rules.get(&f.rule).map(|r| r.title.clone()).unwrap_or_else(|| f.rule.clone()),
        "severity": f.severity.as_str(),
        "severity_colour": severity_colour(f.severity),
        "subject_type": f.subject_type.as_str(),
        "subject_id": f.subject_id,
        "application": f.application,
        "native_id": super::output::native_id(f).unwrap_or(&f.subject_id),
        "subject": subject_json(f, subject),
        "title": f.title,
        "status": e.status.as_str(),
        "first_seen": e.first_seen.map(format_instant).unwrap_or_default(),
        "first_seen_local": e.first_seen.map(|t| humanise::instant(t, tz)).unwrap_or_default(),
        "days_open": a.days_open,
        "due": a.due.map(|d| d.with_timezone(&tz).format("%Y-%m-%d").to_string()).unwrap_or_default(),
        "overdue": a.overdue,
        "evidence": evidence_rows(&f.evidence, tz),
        "evidence_json": Value::Object(f.evidence.clone()).to_string(),
        "exception": e.exception.as_ref().map(exception_json).unwrap_or(Value::Null),
        "was_open_before": e.seen_before,
    })
}

pub fn exception_json(x: &super::exceptions::Exception) -> Value {
    json!({
        "id": x.id,
        "rule": x.rule,
        "subject": x.subject,
        "reason": x.reason,
        "approved_by": x.approved_by,
        "expires_at": format_instant(x.expires_at),
        "source": x.source.as_str(),
    })
}

pub fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#8b0000",
        Severity::High => "#c0392b",
        Severity::Medium => "#b9770e",
        Severity::Low => "#2e86c1",
        Severity::Info => "#566573",
    }
}
