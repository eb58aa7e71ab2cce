//! Render, archive and hand over a run's report: the one path the CLI's
//! `report` (files) and the daemon's jobs (the outbox) share, so a run
//! renders to the same bytes whichever process renders it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Loaded;
use crate::deliver::{OutgoingMessage, outbox};
use crate::report::archive;
use crate::report::facts::{Undelivered, undelivered_window};
use crate::report::render::{self, RenderedReport, ReportInputs};
use crate::store::Store;
use crate::support::{atomic_file, mail};

/// Renders the report of `run_id` (its job's template and recipients) and
/// archives it with its SHA-256.
pub async fn render_and_archive(
    store: &Store,
    loaded: &Loaded,
    run_id: i64,
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
    let recipients = loaded.recipients(run.job.as_deref());
    let deployment = loaded.settings.deployment_id(store).await?;
    let report = render::render(
        store,
        ReportInputs {
            config: &loaded.settings.config,
            rules: &loaded.rules,
            templates: &loaded.templates,
            deployment: &deployment,
            recipients: &recipients,
            undelivered,
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
        (
            out.join(format!("{stem}.html")),
            report.html_file.as_bytes(),
        ),
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

/// A rendered report as a message for the outbox, addressed to its job's
/// recipients.
pub fn outgoing(loaded: &Loaded, report: RenderedReport) -> Result<OutgoingMessage> {
    let config = &loaded.settings.config;
    Ok(OutgoingMessage {
        message_id: mail::unbracketed(&report.message_id).to_string(),
        job: report.job.clone(),
        run_id: Some(report.run_id),
        envelope_from: config.mail.from.clone(),
        recipients: loaded.recipients(report.job.as_deref()),
        subject: report.subject,
        body: String::from_utf8(report.eml).context("a rendered report is not 7-bit text")?,
    })
}
