//! Rendering the report of a run: the lifecycle of its findings, exceptions,
//! the controls its rules evidence, proof that the audit ran, a chart; the
//! templates make HTML and text of it, and the result is one MIME message:
//!
//! ```text
//! multipart/mixed
//! ├── multipart/related
//! │   ├── multipart/alternative
//! │   │   ├── text/plain   (the txt template)
//! │   │   └── text/html    (the html template; the chart as <img src="cid:…">)
//! │   └── image/png        (inline, Content-ID: the chart)
//! └── text/csv             (attachment: every finding, neutralised cells)
//! ```
//!
//! Rendering is deterministic: the Date header is the run's finish time, the
//! MIME boundaries and the Message-ID derive from the run, the job and the
//! deployment, so re-rendering a run gives the same bytes (and the same SHA-256).

use std::collections::BTreeMap;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::chart::{self, ChartError};
use super::lifecycle::{self, Counts, Entry, Lifecycle, LifecycleError, Status};
use super::output::neutralise_cell;
use super::templates::{TemplateError, Templates};
use crate::config::Config;
use crate::engine::RuleSet;
use crate::model::{Severity, format_instant};
use crate::store::runs::OutcomeStatus;
use crate::store::{SqlValue, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error("run {0} has not finished successfully (status {1}); only finished runs are reported")]
    Unfinished(i64, String),
    #[error("bad mail address `{0}`: {1}")]
    Address(String, String),
    #[error("building the message: {0}")]
    Mime(String),
    #[error("writing the CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// A rendered report: everything the archive, the files and delivery need.
#[derive(Debug, Clone)]
pub struct RenderedReport {
    pub run_id: i64,
    pub job: Option<String>,
    pub template: String,
    pub subject: String,
    /// `<…@…>`, stable for a run, a job and a deployment.
    pub message_id: String,
    /// The whole message as sent (`lettre::Message::formatted`).
    pub eml: Vec<u8>,
    pub html: String,
    pub text: String,
    pub csv: Vec<u8>,
    pub chart_png: Vec<u8>,
    /// Lower-case hex SHA-256 of `eml`.
    pub sha256: String,
    pub counts: Counts,
}

/// The Content-ID of the chart in the HTML part.
pub const CHART_CID: &str = "findings-chart";

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The stable CSV columns of the report's attachment.
pub const REPORT_CSV_COLUMNS: [&str; 10] = [
    "run_id",
    "status",
    "rule",
    "severity",
    "subject_type",
    "subject_id",
    "title",
    "first_seen",
    "exception_id",
    "evidence",
];

/// Every finding of the run (and the resolved ones), one row each; every
/// cell neutralised against formula injection.
pub fn findings_csv(lc: &Lifecycle) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(REPORT_CSV_COLUMNS)?;
    for e in &lc.entries {
        let f = &e.finding;
        let cells = [
            lc.run.id.to_string(),
            e.status.as_str().to_string(),
            f.rule.clone(),
            f.severity.as_str().to_string(),
            f.subject_type.as_str().to_string(),
            f.subject_id.clone(),
            f.title.clone(),
            e.first_seen.map(format_instant).unwrap_or_default(),
            e.exception
                .as_ref()
                .map(|x| x.id.to_string())
                .unwrap_or_default(),
            Value::Object(f.evidence.clone()).to_string(),
        ];
        w.write_record(cells.iter().map(|c| neutralise_cell(c).into_owned()))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

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

fn delta_text(now: i64, before: Option<i64>) -> String {
    match before {
        None => "first run".to_string(),
        Some(b) if now > b => format!("+{}", now - b),
        Some(b) if now < b => format!("-{}", b - now),
        Some(_) => "0".to_string(),
    }
}

/// Facts about the data the run saw: rows per canonical table at or before T
/// and the newest event: proof that the audit looked, even where it found
/// nothing.
struct DataProof {
    tables: Vec<(&'static str, i64)>,
    newest_event: Option<DateTime<Utc>>,
    /// Messages given up on since the previous report.
    failed_deliveries: Vec<crate::deliver::outbox::FailedMessage>,
}

async fn data_proof(store: &Store, as_of: DateTime<Utc>) -> Result<DataProof, StoreError> {
    const COUNTS: [(&str, &str); 6] = [
        ("people", "SELECT COUNT(*) AS n FROM people"),
        (
            "principals",
            "SELECT COUNT(*) AS n FROM principals WHERE created_at IS NULL OR created_at <= $1",
        ),
        ("roles", "SELECT COUNT(*) AS n FROM roles"),
        (
            "role_permissions",
            "SELECT COUNT(*) AS n FROM role_permissions",
        ),
        (
            "grants",
            "SELECT COUNT(*) AS n FROM grants WHERE granted_at IS NULL OR granted_at <= $1",
        ),
        (
            "events",
            "SELECT COUNT(*) AS n FROM events WHERE occurred_at <= $1",
        ),
    ];
    let mut tables = Vec::new();
    for (table, sql) in COUNTS {
        let params = if sql.contains("$1") {
            vec![SqlValue::time(as_of)]
        } else {
            vec![]
        };
        let rows = store.fetch_all(sql, &params).await?;
        let n = match rows.first() {
            Some(r) => r.i64("n")?.unwrap_or(0),
            None => 0,
        };
        tables.push((table, n));
    }
    let rows = store
        .fetch_all(
            "SELECT MAX(occurred_at) AS newest FROM events WHERE occurred_at <= $1",
            &[SqlValue::time(as_of)],
        )
        .await?;
    let newest_event = match rows.first() {
        Some(r) => r.time("newest")?,
        None => None,
    };
    Ok(DataProof {
        tables,
        newest_event,
        failed_deliveries: Vec::new(),
    })
}

/// Findings per rule over the last 12 succeeded runs of the job up to this
/// one (from the recorded rule outcomes), oldest first.
async fn history(
    store: &Store,
    lc: &Lifecycle,
    tz: chrono_tz::Tz,
) -> Result<Vec<chart::Point>, StoreError> {
    let Some(job) = &lc.run.job else {
        return Ok(vec![chart::Point {
            label: lc
                .run
                .as_of
                .with_timezone(&tz)
                .format("%Y-%m-%d")
                .to_string(),
            counts: lc
                .outcomes
                .iter()
                .map(|o| (o.rule_id.clone(), o.finding_count))
                .collect(),
        }]);
    };
    let rows = store
        .fetch_all(
            "SELECT r.id, r.as_of, o.rule_id, o.finding_count
               FROM runs r JOIN rule_outcomes o ON o.run_id = r.id
              WHERE r.id IN (SELECT id FROM runs
                              WHERE job = $1 AND (status = 'succeeded' OR id = $3)
                                AND (as_of < $2 OR (as_of = $2 AND id <= $3))
                              ORDER BY as_of DESC, id DESC LIMIT 12)
              ORDER BY r.as_of, r.id, o.rule_id",
            &[
                SqlValue::text(job),
                SqlValue::time(lc.run.as_of),
                SqlValue::int(lc.run.id),
            ],
        )
        .await?;
    let mut points: Vec<(i64, chart::Point)> = Vec::new();
    for r in &rows {
        let id = r.i64("id")?.unwrap_or(0);
        if points.last().map(|(last, _)| *last) != Some(id) {
            let as_of = r.time("as_of")?.unwrap_or(lc.run.as_of);
            points.push((
                id,
                chart::Point {
                    label: as_of.with_timezone(&tz).format("%Y-%m-%d").to_string(),
                    counts: BTreeMap::new(),
                },
            ));
        }
        if let Some((_, p)) = points.last_mut() {
            p.counts.insert(
                r.req_text("rule_id")?,
                r.i64("finding_count")?.unwrap_or(0).max(0) as u64,
            );
        }
    }
    Ok(points.into_iter().map(|(_, p)| p).collect())
}

/// The data the templates see. Its shape is documented in
/// report-templates/README.md; `sample_context` has every field.
fn context(
    lc: &Lifecycle,
    rules: &RuleSet,
    proof: &DataProof,
    previous_totals: Option<&BTreeMap<Severity, i64>>,
    subject: &str,
    tz: chrono_tz::Tz,
    csv_name: &str,
) -> Value {
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
    // The four frameworks of DESIGN.md always appear (saying so when no rule
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
            "failed_deliveries": proof.failed_deliveries.iter().map(|m| json!({
                "subject": m.subject,
                "message_id": m.message_id,
                "queued_at": format_instant(m.created_at),
                "error": m.error,
            })).collect::<Vec<_>>(),
            "has_failed_deliveries": !proof.failed_deliveries.is_empty(),
        },
        "chart_cid": CHART_CID,
        "csv_name": csv_name,
    })
}

/// A full context with made-up values, used to test-render templates when
/// they are loaded (strict mode then refuses unknown variables).
pub fn sample_context() -> Value {
    let finding = json!({
        "rule": "idle-accounts", "severity": "medium", "severity_colour": "#b9770e",
        "subject_type": "principal", "subject_id": "p1", "title": "alice: idle",
        "status": "new", "first_seen": "2026-11-01T00:00:00Z",
        "evidence": [{"key": "login", "value": "alice"}],
        "exception": {"id": 1, "rule": "idle-accounts", "subject": "p*", "reason": "r",
                      "approved_by": "CISO", "expires_at": "2027-01-01T00:00:00Z", "source": "cli"},
        "was_open_before": false,
    });
    let exception = finding["exception"].clone();
    json!({
        "subject": "Monthly access review", "job": "monthly", "run_id": 1,
        "as_of": "2026-11-01T00:00:00Z", "as_of_local": "2026-11-01 00:00 UTC",
        "finished_at": "2026-11-01T00:00:01Z", "has_previous": true,
        "previous": {"run_id": 0, "as_of": "2026-10-01T00:00:00Z", "as_of_local": "2026-10-01 00:00 UTC"},
        "totals": [{"severity": "medium", "colour": "#b9770e", "count": 1, "previous": 0, "change": "+1"}],
        "total": {"count": 1, "change": "+1"},
        "counts": {"new": 1, "open": 1, "resolved": 1, "accepted": 1},
        "not_rechecked": 0,
        "rules": [{
            "id": "idle-accounts", "title": "Idle accounts", "severity": "medium",
            "controls": [{"framework": "PCI DSS 4.0", "control": "8.2.6"}],
            "status": "ok", "ran": true, "reason": "", "finding_count": 1, "duration_ms": 3,
            "new": {"items": [finding.clone()], "total": 1, "more": 0},
            "open": {"items": [finding.clone()], "total": 1, "more": 0},
            "resolved": {"items": [finding.clone()], "total": 1, "more": 0},
            "accepted": {"items": [finding], "total": 3, "more": 2}, "quiet": false,
        }],
        "expired_exceptions": [exception],
        "has_expired_exceptions": true,
        "frameworks": [{"name": "PCI DSS 4.0", "controls": [{"control": "8.2.6", "rules": "idle-accounts"}], "evidenced": true}],
        "proof": {
            "rules": [{"id": "idle-accounts", "status": "ok", "reason": "", "finding_count": 1, "duration_ms": 3}],
            "tables": [{"table": "events", "rows": 10}],
            "newest_event": "2026-10-31T23:00:00Z",
            "failed_deliveries": [{"subject": "Monthly access review", "message_id": "m@x",
                                   "queued_at": "2026-10-01T07:00:00Z", "error": "SMTP: refused"}],
            "has_failed_deliveries": true,
        },
        "chart_cid": CHART_CID,
        "csv_name": "findings.csv",
    })
}

/// The Message-ID of a run's report: stable for the run, the job and the
/// deployment (its From address and database), so that a re-rendered report
/// is recognisably the same message.
pub fn message_id(config: &Config, run_id: i64, job: Option<&str>) -> String {
    let deployment = sha256_hex(
        format!(
            "{}\n{}",
            config.mail.from,
            config.database.as_deref().unwrap_or("")
        )
        .as_bytes(),
    );
    let job_part: String = job
        .unwrap_or("adhoc")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let domain = config
        .mail
        .from
        .parse::<Mailbox>()
        .map(|m| m.email.domain().to_string())
        .unwrap_or_else(|_| "localhost".to_string());
    format!("<run-{run_id}.{job_part}.{}@{domain}>", &deployment[..16])
}

/// Renders the report of run `run_id` with the template of its job (from
/// `config.jobs`; `monthly` for a run of no configured job), addressed to
/// `recipients` (addresses; none: the From address).
pub async fn render(
    store: &Store,
    config: &Config,
    rules: &RuleSet,
    templates: &Templates,
    run_id: i64,
    recipients: &[String],
) -> Result<RenderedReport, ReportError> {
    let lc = lifecycle::lifecycle(store, run_id).await?;
    if lc.run.status != "succeeded" {
        return Err(ReportError::Unfinished(run_id, lc.run.status.clone()));
    }
    let job_config = lc.run.job.as_ref().and_then(|j| config.jobs.get(j));
    let template = job_config
        .map(|j| j.template.clone())
        .unwrap_or_else(|| "monthly".to_string());
    let tz = config.tz();
    let as_of_local = lc
        .run
        .as_of
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string();
    let job_name = lc.run.job.clone().unwrap_or_else(|| "ad-hoc".to_string());
    let subject = job_config
        .and_then(|j| j.subject.clone())
        .unwrap_or_else(|| "accessaudit report: {job}, as of {as_of}".to_string())
        .replace("{job}", &job_name)
        .replace("{as_of}", &as_of_local);

    let previous_totals = match &lc.previous {
        Some(p) => {
            let rows = store
                .fetch_all(
                    "SELECT severity, COUNT(*) AS n FROM findings WHERE run_id = $1 GROUP BY severity",
                    &[SqlValue::int(p.id)],
                )
                .await?;
            let mut t = BTreeMap::new();
            for r in &rows {
                if let Ok(sev) = r.req_text("severity")?.parse::<Severity>() {
                    t.insert(sev, r.i64("n")?.unwrap_or(0));
                }
            }
            Some(t)
        }
        None => None,
    };
    let mut proof = data_proof(store, lc.run.as_of).await?;
    // Deliveries given up on since the previous run of the job (or the last
    // 31 days), up to this run's end: the report says what did not arrive.
    let since = match &lc.previous {
        Some(p) => p.started_at,
        None => lc.run.started_at - chrono::Duration::days(31),
    };
    let until = lc.run.finished_at.unwrap_or(lc.run.started_at);
    proof.failed_deliveries = crate::deliver::outbox::failed_between(store, since, until).await?;
    let points = history(store, &lc, tz).await?;
    let chart_png = chart::findings_per_rule(&points)?;
    let csv_name = format!("{}-run{}-findings.csv", file_stem(&job_name), run_id);
    let data = context(
        &lc,
        rules,
        &proof,
        previous_totals.as_ref(),
        &subject,
        tz,
        &csv_name,
    );
    let (html, text) = templates.render(&template, &data)?;
    let csv = findings_csv(&lc)?;

    let message_id = message_id(config, run_id, lc.run.job.as_deref());
    let mailbox = |a: &str| {
        a.parse::<Mailbox>()
            .map_err(|e| ReportError::Address(a.to_string(), e.to_string()))
    };
    let mut builder = Message::builder()
        .from(mailbox(&config.mail.from)?)
        .subject(subject.clone())
        .message_id(Some(message_id.clone()))
        .date(SystemTime::from(lc.run.finished_at.unwrap_or(lc.run.as_of)));
    if recipients.is_empty() {
        builder = builder.to(mailbox(&config.mail.from)?);
    }
    for r in recipients {
        builder = builder.to(mailbox(r)?);
    }
    // Boundaries derived from the Message-ID: the same run renders to the same bytes.
    let boundary = |part: &str| format!("=_{}_{part}", &sha256_hex(message_id.as_bytes())[..24]);
    let body = MultiPart::mixed()
        .boundary(boundary("mixed"))
        .multipart(
            MultiPart::related()
                .boundary(boundary("related"))
                .multipart(
                    MultiPart::alternative()
                        .boundary(boundary("alternative"))
                        .singlepart(SinglePart::plain(text.clone()))
                        .singlepart(SinglePart::html(html.clone())),
                )
                .singlepart(Attachment::new_inline(CHART_CID.to_string()).body(
                    chart_png.clone(),
                    ContentType::parse("image/png").map_err(mime_err)?,
                )),
        )
        .singlepart(Attachment::new(csv_name).body(
            csv.clone(),
            ContentType::parse("text/csv; charset=utf-8").map_err(mime_err)?,
        ));
    let message = builder
        .multipart(body)
        .map_err(|e| ReportError::Mime(e.to_string()))?;
    let eml = message.formatted();
    let sha256 = sha256_hex(&eml);
    let counts = lc.counts();
    Ok(RenderedReport {
        run_id,
        job: lc.run.job.clone(),
        template,
        subject,
        message_id,
        eml,
        html,
        text,
        csv,
        chart_png,
        sha256,
        counts,
    })
}

fn mime_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Mime(e.to_string())
}

/// A name safe in a file name: letters, digits, `-` and `_`.
pub fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
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

    #[test]
    fn message_ids_are_stable_and_differ_per_run_and_job() {
        let c = Config::embedded();
        let a = message_id(&c, 7, Some("monthly"));
        assert_eq!(a, message_id(&c, 7, Some("monthly")));
        assert_ne!(a, message_id(&c, 8, Some("monthly")));
        assert_ne!(a, message_id(&c, 7, Some("export-alert")));
        assert!(
            a.starts_with("<run-7.monthly.") && a.ends_with("@localhost>"),
            "{a}"
        );
        let odd = message_id(&c, 7, Some("a b<>@"));
        assert!(odd.starts_with("<run-7.a-b---."), "{odd}");
    }
}
