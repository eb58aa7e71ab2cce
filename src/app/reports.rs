//! Render, archive and hand over a run's report: the one path the CLI's
//! `report` (files) and the daemon's jobs (the outbox) share, so a run
//! renders to the same bytes whichever process renders it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Loaded;
use crate::deliver::{OutgoingMessage, outbox, routing};
use crate::model::FindingKey;
use crate::report::audience::Audience;
use crate::report::facts::{Undelivered, undelivered_window};
use crate::report::render::{self, RenderedReport, ReportInputs};
use crate::report::{archive, lifecycle};
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
    let report = render::render(
        store,
        ReportInputs {
            config: &loaded.settings.config,
            rules: &loaded.rules,
            templates: &loaded.templates,
            deployment: &deployment,
            recipients,
            undelivered,
            audience,
        },
        run_id,
    )
    .await?;
    archive::archive(store, &report).await?;
    Ok(report)
}

/// Writes a rendered report into `out`: `<job>-run<ID>.eml`, `.html` and
/// `-findings.csv`, each atomically. Returns the paths written.
pub fn write_files(report: &RenderedReport, out: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let stem = render::file_stem(report.job.as_deref(), report.run_id);
    let files = [
        (out.join(format!("{stem}.eml")), report.eml.as_slice()),
        (out.join(format!("{stem}.html")), report.html.as_bytes()),
        (
            out.join(format!("{stem}-findings.csv")),
            report.csv.as_slice(),
        ),
    ];
    let mut written = Vec::new();
    for (path, bytes) in files {
        atomic_file::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
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
        return Ok(vec![outgoing_to(loaded, report, recipients)?]);
    };
    let directory = routing::Directory::read(store).await?;
    let lc = lifecycle::lifecycle(store, run_id).await?;
    let routed: Vec<routing::Routed> = lc
        .entries
        .iter()
        .map(|e| {
            let f = &e.finding;
            routing::Routed {
                key: (f.rule.clone(), f.subject_type, f.subject_id.clone()),
                current: e.status != lifecycle::Status::Resolved,
                news: news.is_none_or(|n| {
                    n.contains(&FindingKey {
                        rule: f.rule.clone(),
                        subject_type: f.subject_type.as_str().to_string(),
                        subject_id: f.subject_id.clone(),
                    })
                }),
                owner: directory.manager_address(f.subject_type, &f.subject_id),
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
    let mut messages = Vec::new();
    for planned in routing::plan(config, job, &routed) {
        if planned.recipients.is_empty() {
            continue;
        }
        if planned.tag.is_none() {
            let report = render_for(store, loaded, run_id, &planned.recipients, None).await?;
            messages.push(outgoing_to(loaded, report, planned.recipients)?);
            continue;
        }
        let audience = audience(&directory, &lc, &planned, key.clone());
        let report =
            render_for(store, loaded, run_id, &planned.recipients, Some(&audience)).await?;
        messages.push(outgoing_to(loaded, report, planned.recipients)?);
    }
    Ok(messages)
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
