//! Building the view: the data the templates see, made from the facts of a
//! run. Its shape is documented in report-templates/README.md, and
//! `sample::sample_context` has every field.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::chart::CHART_CID;
use super::facts::{DataProof, Facts};
use super::lifecycle::{Entry, Status};
use crate::engine::RuleSet;
use crate::model::{Severity, format_instant};
use crate::store::runs::OutcomeStatus;

/// The most findings listed per rule and status in the message itself.
pub const LISTED: usize = 50;

const FRAMEWORKS: [&str; 4] = ["PCI DSS", "ISO 27001", "SOC 2", "SOX ITGC"];

fn evidence_rows(evidence: &serde_json::Map<String, Value>) -> Value {
    Value::Array(
        evidence
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                json!({"key": k, "value": text})
            })
            .collect(),
    )
}

fn entry_json(e: &Entry) -> Value {
    let f = &e.finding;
    json!({
        "rule": f.rule,
        "severity": f.severity.as_str(),
        "severity_colour": severity_colour(f.severity),
        "subject_type": f.subject_type.as_str(),
        "subject_id": f.subject_id,
        "title": f.title,
        "status": e.status.as_str(),
        "first_seen": e.first_seen.map(format_instant).unwrap_or_default(),
        "evidence": evidence_rows(&f.evidence),
        "exception": e.exception.as_ref().map(exception_json).unwrap_or(Value::Null),
        "was_open_before": e.seen_before,
    })
}

fn exception_json(x: &super::exceptions::Exception) -> Value {
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

fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#8b0000",
        Severity::High => "#c0392b",
        Severity::Medium => "#b9770e",
        Severity::Low => "#2e86c1",
        Severity::Info => "#566573",
    }
}

pub(super) fn delta_text(now: i64, before: Option<i64>) -> String {
    match before {
        None => "first run".to_string(),
        Some(b) if now > b => format!("+{}", now - b),
        Some(b) if now < b => format!("-{}", b - now),
        Some(_) => "0".to_string(),
    }
}

/// The data the templates see. Its shape is documented in
/// report-templates/README.md; `sample_context` has every field.
pub fn context(
    facts: &Facts,
    rules: &RuleSet,
    subject: &str,
    tz: chrono_tz::Tz,
    csv_name: &str,
) -> Value {
    let lc = &facts.lifecycle;
    let proof: &DataProof = &facts.proof;
    let previous_totals = facts.previous_totals.as_ref();
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
    let current: Vec<&Entry> = lc
        .entries
        .iter()
        .filter(|e| e.status != Status::Resolved)
        .collect();
    let mut totals = Vec::new();
    for sev in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let now = current.iter().filter(|e| e.finding.severity == sev).count() as i64;
        let before = previous_totals.map(|t| t.get(&sev).copied().unwrap_or(0));
        totals.push(json!({
            "severity": sev.as_str(),
            "colour": severity_colour(sev),
            "count": now,
            "previous": before.map(Value::from).unwrap_or(Value::Null),
            "change": delta_text(now, before),
        }));
    }
    let total_now = current.len() as i64;
    let total_before = previous_totals.map(|t| t.values().sum::<i64>());

    let mut rule_sections = Vec::new();
    let mut framework_controls: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for o in &lc.outcomes {
        let rule = rules.get(&o.rule_id);
        let controls: Vec<Value> = rule
            .map(|r| {
                r.controls
                    .iter()
                    .map(|c| json!({"framework": c.framework, "control": c.control}))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(r) = rule {
            for c in &r.controls {
                framework_controls
                    .entry(c.framework.clone())
                    .or_default()
                    .entry(c.control.clone())
                    .or_default()
                    .push(r.id.clone());
            }
        }
        // At most LISTED findings per list in the message (mail clients clip
        // long messages); the attached CSV has them all.
        let of = |status: Status| -> Value {
            let all: Vec<&Entry> = lc
                .entries
                .iter()
                .filter(|e| e.finding.rule == o.rule_id && e.status == status)
                .collect();
            json!({
                "items": all.iter().take(LISTED).map(|e| entry_json(e)).collect::<Vec<_>>(),
                "total": all.len(),
                "more": all.len().saturating_sub(LISTED),
            })
        };
        let (new, open, resolved, accepted) = (
            of(Status::New),
            of(Status::Open),
            of(Status::Resolved),
            of(Status::Accepted),
        );
        let quiet = [&new, &open, &resolved, &accepted]
            .iter()
            .all(|l| l["total"] == 0);
        rule_sections.push(json!({
            "id": o.rule_id,
            "title": rule.map(|r| r.title.clone()).unwrap_or_else(|| o.rule_id.clone()),
            "severity": rule.map(|r| r.severity.as_str()).unwrap_or(""),
            "controls": controls,
            "status": o.status.as_str(),
            "ran": o.status == OutcomeStatus::Ok,
            "reason": o.reason.clone().unwrap_or_default(),
            "finding_count": o.finding_count,
            "duration_ms": o.duration_ms,
            "new": new,
            "open": open,
            "resolved": resolved,
            "accepted": accepted,
            "quiet": quiet,
        }));
    }
    // The four frameworks the rules map to always appear (saying so when no rule
    // of the job evidences one), then any other a deployment's rules name.
    let mut frameworks = Vec::new();
    let mut listed = std::collections::BTreeSet::new();
    for prefix in FRAMEWORKS {
        let mut controls = Vec::new();
        let mut names = Vec::new();
        for (fw, ctl) in &framework_controls {
            if fw.starts_with(prefix) {
                listed.insert(fw.clone());
                names.push(fw.clone());
                for (control, rules) in ctl {
                    controls.push(json!({"control": control, "rules": rules.join(", ")}));
                }
            }
        }
        frameworks.push(json!({
            "name": if names.is_empty() { prefix.to_string() } else { names.join(", ") },
            "controls": controls,
            "evidenced": !controls.is_empty(),
        }));
    }
    for (fw, ctl) in &framework_controls {
        if !listed.contains(fw) {
            let controls: Vec<Value> = ctl
                .iter()
                .map(|(control, rules)| json!({"control": control, "rules": rules.join(", ")}))
                .collect();
            frameworks.push(json!({"name": fw, "controls": controls, "evidenced": true}));
        }
    }
    let counts = lc.counts();
    json!({
        "subject": subject,
        "job": lc.run.job.clone().unwrap_or_default(),
        "run_id": lc.run.id,
        "as_of": format_instant(lc.run.as_of),
        "as_of_local": local(lc.run.as_of),
        "finished_at": lc.run.finished_at.map(format_instant).unwrap_or_default(),
        "has_previous": lc.previous.is_some(),
        "previous": lc.previous.as_ref().map(|p| json!({
            "run_id": p.id,
            "as_of": format_instant(p.as_of),
            "as_of_local": local(p.as_of),
        })).unwrap_or(Value::Null),
        "totals": totals,
        "total": {"count": total_now, "change": delta_text(total_now, total_before)},
        "counts": counts,
        "not_rechecked": lc.not_rechecked,
        "evaluation": {
            "total": lc.outcomes.len(),
            "evaluated": lc.outcomes.iter().filter(|o| o.status == OutcomeStatus::Ok).count(),
            "complete": lc.outcomes.iter().all(|o| o.status == OutcomeStatus::Ok),
            "not_evaluated": lc.outcomes.iter().filter(|o| o.status != OutcomeStatus::Ok).map(|o| json!({
                "id": o.rule_id,
                "status": o.status.as_str(),
                "reason": o.reason.clone().unwrap_or_default(),
            })).collect::<Vec<_>>(),
        },
        "rules": rule_sections,
        "expired_exceptions": lc.expired_exceptions.iter().map(exception_json).collect::<Vec<_>>(),
        "has_expired_exceptions": !lc.expired_exceptions.is_empty(),
        "frameworks": frameworks,
        "proof": {
            "rules": lc.outcomes.iter().map(|o| json!({
                "id": o.rule_id,
                "status": o.status.as_str(),
                "reason": o.reason.clone().unwrap_or_default(),
                "finding_count": o.finding_count,
                "duration_ms": o.duration_ms,
            })).collect::<Vec<_>>(),
            "tables": proof.tables.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>(),
            "newest_event": proof.newest_event.map(format_instant).unwrap_or_else(|| "none".to_string()),
            "failed_deliveries": proof.undelivered.iter().map(|m| json!({
                "subject": m.subject,
                "message_id": m.message_id,
                "queued_at": format_instant(m.queued_at),
                "error": m.error,
            })).collect::<Vec<_>>(),
            "has_failed_deliveries": !proof.undelivered.is_empty(),
        },
        "chart_cid": CHART_CID,
        "csv_name": csv_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_as_signed_differences() {
        assert_eq!(delta_text(5, Some(3)), "+2");
        assert_eq!(delta_text(1, Some(3)), "-2");
        assert_eq!(delta_text(3, Some(3)), "0");
        assert_eq!(delta_text(3, None), "first run");
    }
}
