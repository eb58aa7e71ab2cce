//! A run as OSCAL 1.0.6 assessment results (JSON), for GRC tools.
//!
//! - one **observation** per current finding (new, open, accepted), with
//!   its evidence, and one per rule that was not evaluated (with why);
//! - one **finding** per control the run's rules name (`controls:` of the
//!   rule files): `not-satisfied` with the observations that show it when
//!   a rule found something, `satisfied` when every rule naming it was
//!   evaluated and found nothing, and no finding (no determination) when a
//!   rule naming it was not evaluated: never a silent pass;
//! - the controls as **reviewed-controls**; the rules (their digests and
//!   references) as back-matter resources, which `import-ap` points at,
//!   since accessaudit has no separate OSCAL assessment plan.
//!
//! UUIDs are version 5, from the deployment, the run and the finding's key
//! (or the control), so exporting a run again gives the same document.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use uuid::Uuid;

use super::error::ReportError;
use super::lifecycle::{self, Status};
use crate::engine::{Rule, RuleSet};
use crate::model::format_instant;
use crate::store::Store;
use crate::store::runs::OutcomeStatus;

/// The namespace of accessaudit's v5 UUIDs (made once, at random).
const NAMESPACE: Uuid = Uuid::from_u128(0x6a0c_93d4_51e2_4c8b_9f3e_2b7d_1a5c_8e40);
/// The namespace of accessaudit's own props (OSCAL wants a URI).
const NS: &str = "urn:accessaudit:oscal";
pub const OSCAL_VERSION: &str = "1.0.6";

/// The deterministic UUID of `parts` within a deployment.
fn uuid(parts: &[&str]) -> String {
    let name = serde_json::to_string(parts).unwrap_or_default();
    Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

/// OSCAL's string datatype: no leading or trailing space, no line breaks.
fn one_line(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.is_empty() { "(empty)".into() } else { s }
}

fn prop(name: &str, value: &str) -> Value {
    json!({"name": name, "ns": NS, "value": one_line(value)})
}

/// A control as an OSCAL token (`pci-dss-4.0_8.2.6`): letters, digits,
/// `.`, `-` and `_`, starting with a letter.
pub fn control_id(framework: &str, control: &str) -> String {
    let token = |s: &str| {
        let mut out = String::new();
        for c in s.chars().flat_map(char::to_lowercase) {
            if c.is_alphanumeric() || c == '.' {
                out.push(c);
            } else if !out.ends_with('-') {
                out.push('-');
            }
        }
        out.trim_matches('-').to_string()
    };
    let id = format!("{}_{}", token(framework), token(control));
    match id.chars().next() {
        Some(c) if c.is_alphabetic() => id,
        _ => format!("c_{id}"),
    }
}

/// The run `run_id` as an OSCAL assessment-results document.
pub async fn export(
    store: &Store,
    rules: &RuleSet,
    deployment: &str,
    run_id: i64,
) -> Result<Value, ReportError> {
    let lc = lifecycle::lifecycle(store, run_id).await?;
    if lc.run.status != "succeeded" {
        return Err(ReportError::Unfinished(run_id, lc.run.status.clone()));
    }
    let run = &lc.run;
    let run_key = run_id.to_string();
    let id = |parts: &[&str]| {
        let mut all = vec![deployment, "run", run_key.as_str()];
        all.extend_from_slice(parts);
        uuid(&all)
    };
    let job = run.job.clone().unwrap_or_else(|| "ad-hoc".to_string());
    let collected = format_instant(run.finished_at.unwrap_or(run.as_of));
    let as_of = format_instant(run.as_of);

    // Observations: the current findings, then the rules not evaluated.
    let mut observations = Vec::new();
    // Per rule: the observations that show it found something.
    let mut shown: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for e in lc.entries.iter().filter(|e| e.status != Status::Resolved) {
        let f = &e.finding;
        let uuid = id(&["finding", &f.rule, f.subject_type.as_str(), &f.subject_id]);
        let rule_title = rules
            .get(&f.rule)
            .map_or(f.rule.as_str(), |r| r.title.as_str());
        let mut props = vec![
            prop("rule", &f.rule),
            prop("severity", f.severity.as_str()),
            prop("finding-status", e.status.as_str()),
            prop("subject-type", f.subject_type.as_str()),
            prop("subject-id", &f.subject_id),
        ];
        if let Some(x) = &e.exception {
            props.push(prop("exception-id", &x.id.to_string()));
            props.push(prop("exception-approved-by", &x.approved_by));
            props.push(prop("exception-expires", &format_instant(x.expires_at)));
        }
        if let Some(t) = e.first_seen {
            props.push(prop("first-seen", &format_instant(t)));
        }
        let facts: Vec<String> = super::humanise::facts(&f.evidence, chrono_tz::UTC)
            .iter()
            .map(|x| format!("{}: {}", x.label, x.value))
            .collect();
        observations.push(json!({
            "uuid": uuid,
            "title": f.title,
            "description": format!("{rule_title}: {}", f.title),
            "props": props,
            "methods": ["TEST"],
            "types": ["finding"],
            "relevant-evidence": [
                {"description": if facts.is_empty() { "(no evidence fields)".to_string() } else { facts.join("; ") }},
                {"description": Value::Object(f.evidence.clone()).to_string(),
                 "remarks": "the evidence as recorded with the finding (JSON)"},
            ],
            "collected": collected,
        }));
        shown.entry(f.rule.as_str()).or_default().push(uuid);
    }
    let mut not_evaluated: BTreeMap<&str, String> = BTreeMap::new();
    for o in lc.outcomes.iter().filter(|o| o.status != OutcomeStatus::Ok) {
        let uuid = id(&["outcome", &o.rule_id]);
        let why = o.reason.clone().unwrap_or_default();
        observations.push(json!({
            "uuid": uuid,
            "title": format!("{} was not evaluated", o.rule_id),
            "description": format!("Rule {} was {} in this run: {why}. Its controls get no determination from it.", o.rule_id, o.status.as_str().replace('_', " ")),
            "props": [prop("rule", &o.rule_id), prop("rule-outcome", o.status.as_str())],
            "methods": ["TEST"],
            "types": ["control-objective"],
            "collected": collected,
        }));
        not_evaluated.insert(o.rule_id.as_str(), uuid);
    }

    // The run's rules (those still loaded) by control.
    let run_rules: Vec<&Rule> = lc
        .outcomes
        .iter()
        .filter_map(|o| rules.get(&o.rule_id))
        .collect();
    let mut controls: BTreeMap<String, (String, Vec<&Rule>)> = BTreeMap::new();
    for r in &run_rules {
        for c in &r.controls {
            let entry = controls
                .entry(control_id(&c.framework, &c.control))
                .or_insert_with(|| {
                    let name = super::controls::name(&c.framework, &c.control);
                    let title = match name.as_str() {
                        "" => format!("{} {}", c.framework, c.control),
                        n => format!("{} {}: {n}", c.framework, c.control),
                    };
                    (title, Vec::new())
                });
            if !entry.1.iter().any(|x| x.id == r.id) {
                entry.1.push(r);
            }
        }
    }
    let mut findings = Vec::new();
    for (control, (title, by)) in &controls {
        let ids: Vec<&str> = by.iter().map(|r| r.id.as_str()).collect();
        let related: Vec<&String> = ids
            .iter()
            .flat_map(|r| shown.get(r).into_iter().flatten())
            .collect();
        let skipped: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|r| not_evaluated.contains_key(r))
            .collect();
        let (state, reason, description) = if !related.is_empty() {
            (
                "not-satisfied",
                "fail",
                format!(
                    "{} finding(s) of rule(s) {} show this control not met as of {as_of}.",
                    related.len(),
                    ids.join(", ")
                ),
            )
        } else if skipped.is_empty() {
            (
                "satisfied",
                "pass",
                format!(
                    "Rule(s) {} were evaluated as of {as_of} and found nothing.",
                    ids.join(", ")
                ),
            )
        } else {
            // Not evaluated: no determination (a finding would claim one).
            continue;
        };
        let mut observed: Vec<Value> = related
            .iter()
            .map(|u| json!({"observation-uuid": u}))
            .collect();
        observed.extend(
            skipped
                .iter()
                .filter_map(|r| not_evaluated.get(r))
                .map(|u| json!({"observation-uuid": u})),
        );
        let mut finding = json!({
            "uuid": id(&["control", control]),
            "title": title,
            "description": description,
            "props": ids.iter().map(|r| prop("rule", r)).collect::<Vec<_>>(),
            "target": {
                "type": "objective-id",
                "target-id": control,
                "title": title,
                "status": {"state": state, "reason": reason},
            },
        });
        if !observed.is_empty() {
            finding["related-observations"] = Value::Array(observed);
        }
        findings.push(finding);
    }

    let mut result = json!({
        "uuid": id(&["result"]),
        "title": format!("Run {run_id} of job {job}, as of {as_of}"),
        "description": format!(
            "accessaudit evaluated {} of {} rule(s) as of {as_of}; {} finding(s) current ({} new, {} open, {} accepted), {} resolved since the previous run of the job.",
            lc.outcomes.iter().filter(|o| o.status == OutcomeStatus::Ok).count(),
            lc.outcomes.len(),
            lc.entries.iter().filter(|e| e.status != Status::Resolved).count(),
            lc.counts().new, lc.counts().open, lc.counts().accepted, lc.counts().resolved,
        ),
        "start": format_instant(run.started_at),
        "props": [prop("run-id", &run_key), prop("job", &job), prop("as-of", &as_of)],
        "reviewed-controls": {
            "control-selections": [if controls.is_empty() {
                json!({"description": "The run's rules name no control."})
            } else {
                json!({
                    "description": "The controls the run's rules evidence (their `controls:`).",
                    "include-controls": controls.keys().map(|c| json!({"control-id": c})).collect::<Vec<_>>(),
                })
            }],
        },
    });
    if let Some(end) = run.finished_at {
        result["end"] = json!(format_instant(end));
    }
    if !observations.is_empty() {
        result["observations"] = Value::Array(observations);
    }
    if !findings.is_empty() {
        result["findings"] = Value::Array(findings);
    }

    // The rules as the plan: one resource for the set, one per rule.
    let plan = id(&["plan"]);
    let mut resources = vec![json!({
        "uuid": plan,
        "title": format!("The rules of job {job} (accessaudit)"),
        "description": "accessaudit keeps no separate OSCAL assessment plan: the rules a run evaluates are its plan. Each rule is a resource below, with the SHA-256 of the rule as loaded.",
    })];
    for r in &run_rules {
        let mut resource = json!({
            "uuid": id(&["rule", &r.id]),
            "title": format!("{}: {}", r.id, r.title),
            "description": r.description.trim(),
            "props": [
                prop("rule", &r.id),
                prop("rule-sha256", &super::view::rule_digest(r)),
                prop("severity", r.severity.as_str()),
            ],
        });
        if !r.references.is_empty() {
            resource["citation"] = json!({"text": r.references.join("; ")});
        }
        if !r.remediation.trim().is_empty() {
            resource["remarks"] = json!(format!("Remediation: {}", r.remediation.trim()));
        }
        resources.push(resource);
    }

    Ok(json!({
        "assessment-results": {
            "uuid": id(&[]),
            "metadata": {
                "title": format!("accessaudit: run {run_id} of job {job}, as of {as_of}"),
                "last-modified": collected,
                "version": format!("run-{run_id}"),
                "oscal-version": OSCAL_VERSION,
                "props": [
                    prop("tool", concat!("accessaudit ", env!("CARGO_PKG_VERSION"))),
                    prop("deployment", deployment),
                ],
            },
            "import-ap": {
                "href": format!("#{plan}"),
                "remarks": "Points at the back-matter resource that lists the run's rules.",
            },
            "results": [result],
            "back-matter": {"resources": resources},
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_ids_are_oscal_tokens() {
        assert_eq!(control_id("PCI DSS 4.0", "8.2.6"), "pci-dss-4.0_8.2.6");
        assert_eq!(
            control_id("ISO 27001:2022", "A.5.18"),
            "iso-27001-2022_a.5.18"
        );
        assert_eq!(
            control_id("SOX ITGC", "Access review"),
            "sox-itgc_access-review"
        );
        assert_eq!(control_id("2FA", "x"), "c_2fa_x");
    }

    #[test]
    fn uuids_are_version_5_and_stable() {
        let a = uuid(&["d", "run", "1"]);
        assert_eq!(a, uuid(&["d", "run", "1"]));
        assert_ne!(a, uuid(&["d", "run", "2"]));
        assert_eq!(&a[14..15], "5");
        assert_eq!(one_line("  a\n\tb  "), "a b");
        assert_eq!(one_line("\n"), "(empty)");
    }
}
