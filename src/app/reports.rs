//! Render, archive and hand over a run's report: the one path the CLI's
//! `report` (files) and the daemon's jobs (the outbox) share, so a run
//! renders to the same bytes whichever process renders it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Loaded;
use crate::deliver::{OutgoingMessage, outbox, routing};
use crate::model::{FindingKey, SubjectType};
use crate::report::audience::Audience;
use crate::report::facts::{Undelivered, undelivered_window};
use crate::report::render::{self, RenderedReport, ReportInputs};
use crate::report::{archive, lifecycle, manifest};
use crate::store::Store;
use crate::support::pii::{Masker, Profile};
use crate::support::secrets::Secret;
use crate::support::{atomic_file, mail};

/// Renders the report of `run_id` (its job's template and recipients) and
/// archives it with its SHA-256.
pub async fn render_and_archive(
    store: &Store,
    loaded: &Loaded,
    run_id: i64,
) -> Result<RenderedReport> {
    let recipients = clear_recipients(loaded, store, run_id).await?;
    render_for(store, loaded, run_id, &recipients, None).await
}

/// The job's recipients who see its report in clear.
async fn clear_recipients(loaded: &Loaded, store: &Store, run_id: i64) -> Result<Vec<String>> {
    let config = &loaded.settings.config;
    let job = store
        .run_record(run_id)
        .await?
        .and_then(|r| r.job)
        .and_then(|j| config.jobs.get(&j));
    Ok(match job {
        Some(job) if !config.pii.groups.is_empty() => routing::report_audiences(config, job)
            .remove(&Profile::Clear)
            .unwrap_or_default(),
        Some(job) => config.addresses(&job.recipients),
        None => Vec::new(),
    })
}

/// Renders (and archives) one rendering of a run's report for `recipients`.
async fn render_for(
    store: &Store,
    loaded: &Loaded,
    run_id: i64,
    recipients: &[String],
    audience: Option<&Audience>,
) -> Result<RenderedReport> {
    let run = store
        .run_record(run_id)
        .await?
        .with_context(|| format!("no run {run_id}"))?;
    let previous = match store.previous_run(run_id).await? {
        Some(id) => store.run_record(id).await?,
        None => None,
    };
    let (since, until) = undelivered_window(&run, previous.as_ref());
    let undelivered = outbox::failed_between(store, since, until)
        .await?
        .into_iter()
        .map(|m| Undelivered {
            subject: m.subject,
            message_id: m.message_id,
            queued_at: m.created_at,
            error: m.error,
        })
        .collect();
    let deployment = loaded.settings.deployment_id(store).await?;
    let mut report = render::render(
        store,
        ReportInputs {
            config: &loaded.settings.config,
            rules: &loaded.rules,
            templates: &loaded.templates,
            deployment: &deployment,
            recipients,
            undelivered,
            audience,
            signer: loaded.signing_key.as_ref(),
        },
        run_id,
    )
    .await?;
    archive::archive(store, &mut report).await?;
    Ok(report)
}

/// Writes a rendered report into `out`: `<job>-run<ID>.eml`, `.html` and
/// `-findings.csv` (and, signed, `.manifest.json` and `.manifest.json.sig`),
/// each atomically; a routed rendering (`tag`: a digest, a masked copy) as
/// `<job>-run<ID>-<tag>…`. Returns the paths written.
pub fn write_files(report: &RenderedReport, tag: Option<&str>, out: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut stem = render::file_stem(report.job.as_deref(), report.run_id);
    if let Some(tag) = tag {
        stem = format!("{stem}-{}", mail::safe_name(tag, '_'));
    }
    let write = |path: PathBuf, bytes: &[u8]| -> Result<PathBuf> {
        atomic_file::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    let mut written = vec![write(out.join(format!("{stem}.eml")), &report.eml)?];
    for (suffix, file) in [
        (".html", &report.html_file),
        ("-findings.csv", &report.csv.file),
    ] {
        let path = out.join(format!("{stem}{suffix}"));
        file.copy_to(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    if let Some(signed) = &report.signed {
        written.push(write(
            out.join(format!("{stem}{}", manifest::MANIFEST_SUFFIX)),
            &signed.manifest,
        )?);
        written.push(write(
            out.join(format!("{stem}{}", manifest::SIGNATURE_SUFFIX)),
            &signed.signature,
        )?);
    }
    Ok(written)
}

/// Every message of a run for the outbox: its report to the job's
/// recipients (one rendering per PII profile among them) and, for a job
/// with `digests`, one digest per owner and one to the fallback (see
/// `deliver::routing`). `news`: for an alert job, the findings not alerted
/// yet; a digest is sent only when it carries one.
pub async fn deliveries(
    store: &Store,
    loaded: &Loaded,
    run_id: i64,
    news: Option<&BTreeSet<FindingKey>>,
) -> Result<Vec<OutgoingMessage>> {
    let mut messages = mail_messages(store, loaded, run_id, news).await?;
    messages.extend(webhook_messages(store, loaded, run_id, news).await?);
    Ok(messages)
}

/// The most findings one webhook post lists (chat messages stay short; the
/// mailed report has them all).
const WEBHOOK_LISTED: usize = 50;

fn is_news(news: Option<&BTreeSet<FindingKey>>, f: &crate::model::Finding) -> bool {
    news.is_none_or(|n| {
        n.contains(&FindingKey {
            rule: f.rule.clone(),
            subject_type: f.subject_type.as_str().to_string(),
            subject_id: f.subject_id.clone(),
        })
    })
}

/// One JSON message per webhook of the run's job: the run's figures and its
/// current findings (for an alert job: those not alerted yet), with a
/// `text` line that Slack, Mattermost and Teams show as it is.
async fn webhook_messages(
    store: &Store,
    loaded: &Loaded,
    run_id: i64,
    news: Option<&BTreeSet<FindingKey>>,
) -> Result<Vec<OutgoingMessage>> {
    let config = &loaded.settings.config;
    let lc = lifecycle::lifecycle(store, run_id).await?;
    let Some(job_name) = lc.run.job.clone() else {
        return Ok(Vec::new());
    };
    let Some(job) = config
        .jobs
        .get(&job_name)
        .filter(|j| !j.webhooks.is_empty())
    else {
        return Ok(Vec::new());
    };
    let deployment = loaded.settings.deployment_id(store).await?;
    let base = mail::report_message_id(&deployment, run_id, Some(&job_name), &config.mail.from);
    let listed: Vec<&lifecycle::Entry> = lc
        .entries
        .iter()
        .filter(|e| e.status != lifecycle::Status::Resolved && is_news(news, &e.finding))
        .collect();
    let counts = lc.counts();
    let as_of = crate::model::format_instant(lc.run.as_of);
    let needs_directory = job.webhooks.iter().any(|w| {
        config
            .webhooks
            .get(w)
            .is_some_and(|c| c.pii != Profile::Clear)
    });
    let directory = match needs_directory {
        true => Some(routing::Directory::read(store).await?),
        false => None,
    };
    let key = match job.webhooks.iter().any(|w| {
        config
            .webhooks
            .get(w)
            .is_some_and(|c| c.pii == Profile::Pseudonymise)
    }) {
        true => config.pii.key_ref().read()?,
        false => None,
    };
    let mut messages = Vec::new();
    for name in &job.webhooks {
        let Some(hook) = config.webhooks.get(name) else {
            continue;
        };
        let masker = directory
            .as_ref()
            .filter(|_| hook.pii != Profile::Clear)
            .map(|d| {
                let mut m = Masker::new(hook.pii, key.clone());
                d.words().for_each(|w| m.add_word(w));
                (m, d)
            });
        let mut clear_values = HashSet::new();
        let findings: Vec<serde_json::Value> = listed
            .iter()
            .take(WEBHOOK_LISTED)
            .map(|e| {
                let f = &e.finding;
                let (mut title, mut subject) = (f.title.clone(), f.subject_id.clone());
                if let Some((m, d)) = &masker {
                    title = m.text(&title, &d.names_of(f.subject_type, &f.subject_id));
                    if matches!(f.subject_type, SubjectType::Principal | SubjectType::Person) {
                        subject = m.replacement(&subject);
                    }
                    clear_values.extend(
                        d.clear_values_of(f.subject_type, &f.subject_id)
                            .into_iter()
                            .map(|v| v.to_lowercase()),
                    );
                }
                serde_json::json!({
                    "rule": f.rule,
                    "severity": f.severity.as_str(),
                    "status": e.status.as_str(),
                    "subject_type": f.subject_type.as_str(),
                    "subject_id": subject,
                    "title": title,
                })
            })
            .collect();
        let what = if news.is_some() { "new" } else { "current" };
        let mut text = format!(
            "accessaudit {job_name}, as of {as_of}: {} {what} finding(s); {} new, {} open, {} resolved, {} accepted",
            listed.len(),
            counts.new,
            counts.open,
            counts.resolved,
            counts.accepted
        );
        for f in findings.iter().take(10) {
            text.push_str(&format!(
                "\n• [{}] {}: {}",
                f["severity"].as_str().unwrap_or(""),
                f["rule"].as_str().unwrap_or(""),
                f["title"].as_str().unwrap_or("")
            ));
        }
        let body = serde_json::json!({
            "text": text,
            "job": job_name,
            "run_id": run_id,
            "as_of": as_of,
            "report_message_id": base,
            "counts": counts,
            "findings": findings,
            "more": listed.len().saturating_sub(WEBHOOK_LISTED),
        })
        .to_string();
        if masker.is_some() && crate::support::pii::shows_any(&body, &clear_values) {
            anyhow::bail!(
                "the webhook `{name}` post would show a subject's login or email in clear; not queued"
            );
        }
        messages.push(OutgoingMessage {
            message_id: format!("webhook-{}.{base}", mail::safe_name(name, '-')),
            job: Some(job_name.clone()),
            run_id: Some(run_id),
            envelope_from: config.mail.from.clone(),
            recipients: vec![format!("{}{name}", crate::deliver::webhook::PREFIX)],
            subject: format!("accessaudit {job_name}, as of {as_of} (webhook {name})"),
            body,
        });
    }
    Ok(messages)
}

/// The mail messages of a run (see `deliveries`).
async fn mail_messages(
    store: &Store,
    loaded: &Loaded,
    run_id: i64,
    news: Option<&BTreeSet<FindingKey>>,
) -> Result<Vec<OutgoingMessage>> {
    renderings(store, loaded, run_id, news)
        .await?
        .into_iter()
        .map(|r| outgoing_to(loaded, r.report, r.recipients))
        .collect()
}

/// One rendering of a run's report and who gets it.
pub struct Rendering {
    pub report: RenderedReport,
    pub recipients: Vec<String>,
    /// `None`: the job's report in clear (the run's own Message-ID, what
    /// `render_and_archive` renders); else the routing tag (`pii-mask`,
    /// `digest-…`) that prefixes its Message-ID.
    pub tag: Option<String>,
}

/// Every rendering of a run's report that its job sends, each archived: the
/// report once per PII profile among the job's recipients and, for a job
/// with `digests`, one digest per owner and one to the fallback (see
/// `deliver::routing`). `news`: for an alert job, the findings not alerted
/// yet; a digest is rendered only when it carries one.
pub async fn renderings(
    store: &Store,
    loaded: &Loaded,
    run_id: i64,
    news: Option<&BTreeSet<FindingKey>>,
) -> Result<Vec<Rendering>> {
    let config = &loaded.settings.config;
    let run = store
        .run_record(run_id)
        .await?
        .with_context(|| format!("no run {run_id}"))?;
    let job = run.job.as_deref().and_then(|j| config.jobs.get(j));
    let Some(job) = job.filter(|j| j.digests.is_some() || !config.pii.groups.is_empty()) else {
        // A plain job: its report to its recipients, as it always was.
        let report = render_and_archive(store, loaded, run_id).await?;
        let recipients = loaded.recipients(report.job.as_deref());
        return Ok(vec![Rendering {
            report,
            recipients,
            tag: None,
        }]);
    };
    let by = job.digests.as_ref().map(|d| d.by);
    let directory = match by {
        Some(crate::config::DigestBy::RoleOwner) => {
            routing::Directory::read(store)
                .await?
                .with_role_owners(store)
                .await?
        }
        _ => routing::Directory::read(store).await?,
    };
    let lc = lifecycle::lifecycle(store, run_id).await?;
    let routed: Vec<routing::Routed> = lc
        .entries
        .iter()
        .map(|e| {
            let f = &e.finding;
            routing::Routed {
                key: (f.rule.clone(), f.subject_type, f.subject_id.clone()),
                current: e.status != lifecycle::Status::Resolved,
                news: is_news(news, f),
                owner: by.and_then(|by| directory.owner_address(by, f.subject_type, &f.subject_id)),
            }
        })
        .collect();
    let key = match config
        .pii
        .groups
        .values()
        .any(|p| *p == Profile::Pseudonymise)
    {
        true => config.pii.key_ref().read()?,
        false => None,
    };
    let mut out = Vec::new();
    for planned in routing::plan(config, job, &routed) {
        if planned.recipients.is_empty() {
            continue;
        }
        let audience = planned
            .tag
            .is_some()
            .then(|| audience(&directory, &lc, &planned, key.clone()));
        let report = render_for(
            store,
            loaded,
            run_id,
            &planned.recipients,
            audience.as_ref(),
        )
        .await?;
        out.push(Rendering {
            report,
            recipients: planned.recipients,
            tag: planned.tag,
        });
    }
    Ok(out)
}

/// The audience of one planned message: its findings and its masking.
fn audience(
    directory: &routing::Directory,
    lc: &lifecycle::Lifecycle,
    planned: &routing::Planned,
    key: Option<Secret>,
) -> Audience {
    let mut a = Audience {
        only: planned.only.clone(),
        masker: None,
        names: BTreeMap::new(),
        clear_values: HashSet::new(),
        tag: planned.tag.clone().unwrap_or_default(),
        subject_note: planned.subject_note.clone(),
    };
    if planned.profile == Profile::Clear {
        return a;
    }
    let mut masker = Masker::new(planned.profile, key);
    directory.words().for_each(|w| masker.add_word(w));
    a.masker = Some(masker);
    for e in &lc.entries {
        let f = &e.finding;
        a.names.insert(
            f.subject_id.clone(),
            directory.names_of(f.subject_type, &f.subject_id),
        );
        a.clear_values.extend(
            directory
                .clear_values_of(f.subject_type, &f.subject_id)
                .into_iter()
                .map(|v| v.to_lowercase()),
        );
    }
    a
}

/// A rendered report as a message for the outbox, addressed to its job's
/// recipients.
pub fn outgoing(loaded: &Loaded, report: RenderedReport) -> Result<OutgoingMessage> {
    let recipients = loaded.recipients(report.job.as_deref());
    outgoing_to(loaded, report, recipients)
}

/// A rendered report as a message for the outbox, addressed to `recipients`.
pub fn outgoing_to(
    loaded: &Loaded,
    report: RenderedReport,
    recipients: Vec<String>,
) -> Result<OutgoingMessage> {
    let config = &loaded.settings.config;
    Ok(OutgoingMessage {
        message_id: mail::unbracketed(&report.message_id).to_string(),
        job: report.job.clone(),
        run_id: Some(report.run_id),
        envelope_from: config.mail.from.clone(),
        recipients,
        subject: report.subject,
        body: String::from_utf8(report.eml).context("a rendered report is not 7-bit text")?,
    })
}
