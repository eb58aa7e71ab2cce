//! Building the view: the data the templates see, made from the facts of a
//! run. Its shape is documented in report-templates/README.md, and
//! `sample::sample_context` has every field.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::chart::CHART_CID;
use super::controls;
use super::facts::{DataProof, Facts};
use super::humanise::{self, natural_key};
use super::item::{LISTED, exception_json, severity_colour};
use super::lifecycle::Status;
use super::tally::{Listed, Tally};
use crate::config::ReportConfig;
use crate::engine::{Rule, RuleSet};
use crate::model::{Severity, format_instant};
use crate::store::runs::OutcomeStatus;

/// How a report presents things besides the facts: the time zone, due
/// dates, and where the pictures come from (a Content-ID in the mail, a
/// data URI in the standalone file).
pub struct Presentation<'a> {
    pub tz: chrono_tz::Tz,
    pub config: &'a ReportConfig,
    pub chart_src: &'a str,
    pub departments_chart_src: &'a str,
}

const FRAMEWORKS: [&str; 4] = ["PCI DSS", "ISO 27001", "SOC 2", "SOX ITGC"];

pub(super) fn delta_text(now: i64, before: Option<i64>) -> String {
    match before {
        None => "first run".to_string(),
        Some(b) if now > b => format!("+{}", now - b),
        Some(b) if now < b => format!("-{}", b - now),
        Some(_) => "0".to_string(),
    }
}

/// The SHA-256 of a rule as loaded (its file with any override applied,
/// as JSON): which version of each rule ran.
pub fn rule_digest(rule: &Rule) -> String {
    let text = serde_json::to_string(rule).unwrap_or_default();
    super::mime::sha256_hex(text.as_bytes())
}

const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

/// Where the CSV of every finding is: attached to the message, or, when
/// larger than `report.max_attachment_bytes`, archived with the report and
/// named by the message (its SHA-256, how to get it).
pub struct CsvReference {
    pub name: String,
    pub attached: bool,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// The data the templates see. Its shape is documented in
/// report-templates/README.md; `sample_context` has every field.
pub fn context(
    facts: &Facts,
    tally: &mut Tally,
    rules: &RuleSet,
    subject: &str,
    p: &Presentation,
    csv: &CsvReference,
) -> Value {
    let tz = p.tz;
    let lc = &facts.frame;
    let proof: &DataProof = &facts.proof;
    let previous_totals = facts.previous_totals.as_ref();
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
    let mut totals = Vec::new();
    let mut severity_words = Vec::new();
    for sev in SEVERITIES {
        let now = tally.current_by_severity.get(&sev).copied().unwrap_or(0);
        let before = previous_totals.map(|t| t.get(&sev).copied().unwrap_or(0));
        if now > 0 {
            severity_words.push(format!("{now} {}", sev.as_str()));
        }
        totals.push(json!({
            "severity": sev.as_str(),
            "colour": severity_colour(sev),
            "count": now,
            "previous": before.map(Value::from).unwrap_or(Value::Null),
            "change": delta_text(now, before),
        }));
    }
    let total_now = tally.current();
    let total_before = previous_totals.map(|t| t.values().sum::<i64>());

    let mut rule_sections = Vec::new();
    // framework → control → rule ids
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
        // The lists move into the context: a large run's are megabytes.
        let mut of = |status: Status| -> Value {
            let Listed { items, total } = tally.take_list(&o.rule_id, status);
            json!({
                "items": items,
                "total": total,
                "more": total.saturating_sub(LISTED),
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
            "remediation": rule.map(|r| r.remediation.clone()).unwrap_or_default(),
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
    // A control's status: findings if a rule behind it found any (not
    // resolved), else not evaluated if one of them did not run, else none.
    let rule_status = |id: &str| -> (&'static str, i64) {
        let findings = tally.current_by_rule.get(id).copied().unwrap_or(0);
        match lc.outcomes.iter().find(|o| o.rule_id == id) {
            Some(o) if o.status != OutcomeStatus::Ok => ("not evaluated", findings),
            _ if findings > 0 => ("findings", findings),
            _ => ("no findings", 0),
        }
    };
    let control_rows = |fw: &str, ctl: &BTreeMap<String, Vec<String>>| -> Vec<Value> {
        let mut ids: Vec<&String> = ctl.keys().collect();
        ids.sort_by_key(|c| natural_key(c));
        ids.into_iter()
            .map(|control| {
                let ids = &ctl[control];
                let statuses: Vec<(&'static str, i64)> =
                    ids.iter().map(|id| rule_status(id)).collect();
                let status = if statuses.iter().any(|s| s.0 == "findings") {
                    "findings"
                } else if statuses.iter().any(|s| s.0 == "not evaluated") {
                    "not evaluated"
                } else {
                    "no findings"
                };
                json!({
                    "control": control,
                    "name": controls::name(fw, control),
                    "status": status,
                    "status_colour": control_colour(status),
                    "findings": statuses.iter().map(|s| s.1).sum::<i64>(),
                    "rules": ids.join(", "),
                    "rule_list": ids.iter().zip(&statuses).map(|(id, (st, n))| json!({
                        "id": id,
                        "title": rules.get(id).map(|r| r.title.clone()).unwrap_or_else(|| id.to_string()),
                        "status": st,
                        "findings": n,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect()
    };
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
                controls.extend(control_rows(fw, ctl));
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
            frameworks
                .push(json!({"name": fw, "controls": control_rows(fw, ctl), "evidenced": true}));
        }
    }

    let rows_of = |table: &str| {
        proof
            .tables
            .iter()
            .find(|(t, _)| *t == table)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let departments = tally.by_department();
    let counts = tally.counts;
    let application_sections = super::applications::sections(facts, tally);
    let leavers = super::applications::leavers(tally);
    json!({
        "has_applications": !application_sections.is_empty(),
        "applications": application_sections,
        "has_leavers": !leavers.is_empty(),
        "leavers": leavers,
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
        "summary": {
            "accounts": rows_of("principals"),
            "grants": rows_of("grants"),
            "people": rows_of("people"),
            "severities": if severity_words.is_empty() { "none".to_string() } else { severity_words.join(", ") },
            "oldest": std::mem::take(&mut tally.oldest),
            "overdue": tally.overdue,
        },
        "totals": totals,
        "total": {
            "count": total_now,
            "previous": total_before.map(Value::from).unwrap_or(Value::Null),
            "change": delta_text(total_now, total_before),
        },
        "counts": counts,
        "not_rechecked": tally.not_rechecked,
        "changes": match (&facts.changes, &lc.previous) {
            (Some(items), _) => json!({"recorded": true, "items": items, "why": ""}),
            (None, None) => json!({"recorded": false, "items": [], "why": "This is the first run of the job: there is nothing to compare with."}),
            (None, Some(_)) => json!({"recorded": false, "items": [], "why": "The previous run did not record what was in force (it ran before this version recorded it)."}),
        },
        "evaluation": {
            "total": lc.outcomes.len(),
            "evaluated": lc.outcomes.iter().filter(|o| o.status == OutcomeStatus::Ok).count(),
            "complete": lc.outcomes.iter().all(|o| o.status == OutcomeStatus::Ok),
            "not_evaluated": lc.outcomes.iter().filter(|o| o.status != OutcomeStatus::Ok).map(|o| json!({
                "id": o.rule_id,
                "title": rules.get(&o.rule_id).map(|r| r.title.clone()).unwrap_or_else(|| o.rule_id.clone()),
                "status": o.status.as_str(),
                "reason": o.reason.clone().unwrap_or_default(),
            })).collect::<Vec<_>>(),
        },
        "rules": rule_sections,
        "expired_exceptions": lc.expired_exceptions.iter().map(exception_json).collect::<Vec<_>>(),
        "has_expired_exceptions": !lc.expired_exceptions.is_empty(),
        "frameworks": frameworks,
        "departments": departments.iter().map(|(d, n)| json!({"department": d, "count": n})).collect::<Vec<_>>(),
        "proof": {
            "rules": lc.outcomes.iter().map(|o| json!({
                "id": o.rule_id,
                "status": o.status.as_str(),
                "reason": o.reason.clone().unwrap_or_default(),
                "finding_count": o.finding_count,
                "duration_ms": o.duration_ms,
            })).collect::<Vec<_>>(),
            "tables": proof.tables.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>(),
            "sources": proof.sources.iter().map(|s| json!({
                "source": s.source,
                "synced_at": local(s.synced_at),
                "write_check": s.write_check,
                "feeds": s.feeds.iter().map(|f| json!({
                    "feed": f.feed,
                    "table": f.table,
                    "read": f.fetched,
                    "kept": f.read,
                    "source_count": f.source_count.map(|n| n.to_string()).unwrap_or_else(|| "not counted".to_string()),
                    "reconciles": f.reconciles(),
                    "difference": f.source_count.map(|n| n as i64 - f.fetched as i64).unwrap_or(0),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "has_sources": !proof.sources.is_empty(),
            "reconciled": proof.unreconciled().next().is_none(),
            "unreconciled": proof.unreconciled().map(|(s, f)| json!({
                "source": s.source,
                "feed": f.feed,
                "read": f.fetched,
                "source_count": f.source_count.unwrap_or(0),
            })).collect::<Vec<_>>(),
            "newest_event": proof.newest_event.map(format_instant).unwrap_or_else(|| "none".to_string()),
            "failed_deliveries": proof.undelivered.iter().map(|m| json!({
                "subject": m.subject,
                "message_id": m.message_id,
                "queued_at": format_instant(m.queued_at),
                "error": m.error,
            })).collect::<Vec<_>>(),
            "has_failed_deliveries": !proof.undelivered.is_empty(),
        },
        "tool": {"name": "accessaudit", "version": env!("CARGO_PKG_VERSION")},
        "rule_versions": lc.outcomes.iter().map(|o| json!({
            "id": o.rule_id,
            "sha256": rules.get(&o.rule_id).map(rule_digest).unwrap_or_else(|| "unknown (not loaded)".to_string()),
        })).collect::<Vec<_>>(),
        "chart_cid": CHART_CID,
        "chart_src": p.chart_src,
        "departments_chart_src": p.departments_chart_src,
        "csv_name": csv.name,
        "csv": {
            "name": csv.name,
            "attached": csv.attached,
            "rows": csv.rows,
            "bytes": csv.bytes,
            "size": humanise::bytes(csv.bytes),
            "sha256": csv.sha256,
        },
    })
}

fn control_colour(status: &str) -> &'static str {
    match status {
        "findings" => "#b03a2e",
        "not evaluated" => "#9a6700",
        _ => "#1e8449",
    }
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
