//! Rendering the report of a run: read its facts (`facts`), build the
//! view the templates see (`view`), render the templates, and build one
//! MIME message (`mime`) with the chart and the CSV of every finding.
//!
//! Rendering is deterministic: the Date header is the run's finish time,
//! the MIME boundaries and the Message-ID derive from the run, the job and
//! the deployment's stable id, so re-rendering a run gives the same bytes
//! (and the same SHA-256), whichever process renders it.

use super::chart;
use super::error::ReportError;
use super::facts::{self, Undelivered};
use super::findings_csv::CsvFile;
use super::lifecycle::Counts;
use super::manifest;
use super::mime::{self, sha256_hex};
use super::spool::{Spool, Spooled};
use super::tally;
use super::templates::Templates;
use super::view;
use crate::config::Config;
use crate::engine::RuleSet;
use crate::store::Store;
use crate::support::mail;
use crate::support::signing::SigningKey;

/// What the SQLite page caches of the process may hold together while a
/// report reads its run (`Store::hold_cache_bound`).
const READ_CACHE_BYTES: i64 = 16 << 20;

/// What they may keep while the message is built from what was read: the
/// store is not read again until the report is archived.
const COMPOSE_CACHE_BYTES: i64 = 1 << 20;

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
    /// The same report as a standalone file: pictures as data URIs, so
    /// that it shows them opened in a browser (spooled: megabytes for a
    /// large run).
    pub html_file: Spooled,
    /// The CSV of every finding (a file: a large run's is not held in memory).
    pub csv: CsvFile,
    /// Whether the message attaches the CSV; if not, it names it, and the
    /// archive keeps it beside the message.
    pub csv_attached: bool,
    /// Lower-case hex SHA-256 of `eml`.
    pub sha256: String,
    pub counts: Counts,
    /// With a signing key: the manifest and its signature (also inside
    /// `eml`), written beside the files.
    pub signed: Option<Signed>,
}

/// A report's signed manifest (`report::manifest`).
#[derive(Debug, Clone)]
pub struct Signed {
    pub manifest: Vec<u8>,
    pub signature: Vec<u8>,
}

/// What a report is made of besides the run itself.
pub struct ReportInputs<'a> {
    pub config: &'a Config,
    pub rules: &'a RuleSet,
    pub templates: &'a Templates,
    /// The deployment's stable id (configured, or the store's).
    pub deployment: &'a str,
    /// Addresses; none: the From address.
    pub recipients: &'a [String],
    /// Messages given up on in the window of `facts::undelivered_window`.
    pub undelivered: Vec<Undelivered>,
    /// A digest or a PII profile; `None`: the job's report as it is.
    pub audience: Option<&'a super::audience::Audience>,
    /// The deployment's signing key (`report.signing_key_file`): the report
    /// then carries a signed manifest.
    pub signer: Option<&'a SigningKey>,
}

/// Renders the report of run `run_id` with the template of its job (from
/// `config.jobs`; `monthly` for a run of no configured job).
///
/// Two phases: reading the run (its facts, and one pass over its findings
/// that keeps what the message shows and writes the CSV to a file), then
/// composing the message from what was read. Between them the page caches
/// and the freed heap go back to the system, so that the peak is the
/// larger of the two phases, not their sum.
pub async fn render(
    store: &Store,
    mut inputs: ReportInputs<'_>,
    run_id: i64,
) -> Result<RenderedReport, ReportError> {
    // A report reads counts over the whole history and looks its findings'
    // subjects up through several connections: together their caches stay
    // within a bound while it does.
    let mut bound = store.hold_cache_bound(READ_CACHE_BYTES).await?;
    let composed = async {
        let (facts, tally) = read(store, &mut inputs, run_id).await?;
        bound.change(COMPOSE_CACHE_BYTES).await?;
        store.release_cache_memory().await?;
        accessaudit_malloc_tuning::give_back_freed();
        compose(inputs, run_id, facts, tally)
    }
    .await;
    bound.release().await?;
    composed
}

/// The run's facts and the tally of its findings.
async fn read(
    store: &Store,
    inputs: &mut ReportInputs<'_>,
    run_id: i64,
) -> Result<(facts::Facts, tally::Tally), ReportError> {
    let config = inputs.config;
    let tz = config.tz();
    let mut facts = facts::read(
        store,
        run_id,
        tz,
        std::mem::take(&mut inputs.undelivered),
        &config.applications,
        &config.deployment().directories,
    )
    .await?;
    if let Some(a) = inputs.audience {
        a.mask_frame(&mut facts.frame);
    }
    let tally = tally::tally(
        store,
        &facts,
        inputs.rules,
        tz,
        &config.report,
        inputs.audience,
    )
    .await?;
    if inputs.audience.is_some_and(|a| a.is_digest()) && facts.frame.previous.is_some() {
        facts.previous_totals = Some(tally.previous_totals.clone());
    }
    Ok((facts, tally))
}

/// The message (and the files beside it) from what `read` read.
fn compose(
    inputs: ReportInputs<'_>,
    run_id: i64,
    facts: facts::Facts,
    mut tally: tally::Tally,
) -> Result<RenderedReport, ReportError> {
    let config = inputs.config;
    let tz = config.tz();
    let run = &facts.frame.run;
    let job_config = run.job.as_ref().and_then(|j| config.jobs.get(j));
    let template = job_config
        .map(|j| j.template.clone())
        .unwrap_or_else(|| "monthly".to_string());
    let as_of_local = run
        .as_of
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string();
    let job_name = run.job.clone().unwrap_or_else(|| "ad-hoc".to_string());
    let subject = job_config
        .and_then(|j| j.subject.clone())
        .unwrap_or_else(|| "accessaudit report: {job}, as of {as_of}".to_string())
        .replace("{job}", &job_name)
        .replace("{as_of}", &as_of_local)
        + inputs
            .audience
            .map(|a| a.subject_note.as_str())
            .unwrap_or("");

    let titles = inputs
        .rules
        .rules
        .iter()
        .map(|r| (r.id.clone(), r.title.clone()))
        .collect();
    let chart_png = chart::findings_per_rule(&facts.history, &titles)?;
    let departments_png = chart::findings_by_department(&tally.by_department())?;
    let csv_name = format!("{}-findings.csv", file_stem(run.job.as_deref(), run_id));
    let csv_attached = tally.csv.size <= config.report.max_attachment_bytes;
    let csv_reference = view::CsvReference {
        name: csv_name.clone(),
        attached: csv_attached,
        rows: tally.csv.rows,
        bytes: tally.csv.size,
        sha256: tally.csv.sha256.clone(),
    };
    let in_mail = (
        format!("cid:{}", chart::CHART_CID),
        format!("cid:{}", chart::DEPARTMENTS_CID),
    );
    let p = view::Presentation {
        tz,
        config: &config.report,
        chart_src: &in_mail.0,
        departments_chart_src: &in_mail.1,
    };
    // One context (a large run's lists are megabytes), moved into the
    // template engine. The tally's lists are in it: only the CSV and the
    // counts go on.
    let context = view::context(
        &facts,
        &mut tally,
        inputs.rules,
        &subject,
        &p,
        &csv_reference,
    );
    let tally::Tally { csv, counts, .. } = tally;
    let context = handlebars::Context::from(context);
    let (html, text) = inputs.templates.render(&template, &context)?;
    drop(context);
    let html_file = standalone_html(
        &html,
        &[
            (chart::CHART_CID, &chart_png),
            (chart::DEPARTMENTS_CID, &departments_png),
        ],
    )
    .map_err(csv::Error::from)?;
    let attached = match csv_attached {
        true => Some(csv.read().map_err(csv::Error::from)?),
        false => None,
    };
    let mut message_id = mail::report_message_id(
        inputs.deployment,
        run_id,
        run.job.as_deref(),
        &config.mail.from,
    );
    if let Some(a) = inputs.audience {
        // The CSV's rows were checked as they were written.
        // The standalone file is the mail's HTML with its pictures inline.
        a.check(&[&html, &text])?;
        message_id = a.message_id(&message_id);
    }
    let message_id = mail::bracketed(&message_id);
    let mut message = mime::build(mime::Parts {
        from: &config.mail.from,
        to: inputs.recipients,
        subject: &subject,
        message_id: &message_id,
        date: run.finished_at.unwrap_or(run.as_of),
        text,
        html,
        chart_png,
        departments_png,
        list: &job_name,
        csv_name: &csv_name,
        csv: attached,
    })?;
    let mut signed = None;
    if let Some(key) = inputs.signer {
        // The manifest describes the message as built so far; it and its
        // signature then follow as its last two attachments.
        let stem = file_stem(run.job.as_deref(), run_id);
        let files = vec![
            manifest::spooled_digest(&format!("{stem}.html"), &html_file),
            manifest::spooled_digest(&csv_name, &csv.file),
        ];
        let m = signed_manifest(&facts, counts, inputs.rules, &message.eml, key, files)?;
        let bytes = m.to_bytes();
        let signature = key.sign(&bytes).to_vec();
        message.append(
            &format!("{stem}{}", manifest::MANIFEST_SUFFIX),
            "application/json",
            bytes.clone(),
        )?;
        message.append(
            &format!("{stem}{}", manifest::SIGNATURE_SUFFIX),
            "application/octet-stream",
            signature.clone(),
        )?;
        signed = Some(Signed {
            manifest: bytes,
            signature,
        });
    }
    let eml = message.eml;
    let sha256 = sha256_hex(&eml);
    Ok(RenderedReport {
        run_id,
        job: run.job.clone(),
        template,
        subject,
        message_id,
        eml,
        html_file,
        csv,
        csv_attached,
        sha256,
        counts,
        signed,
    })
}

/// The manifest of a report whose message, unsigned, is `unsigned`: its
/// parts and headers as a recipient's parser will read them.
fn signed_manifest(
    facts: &facts::Facts,
    counts: Counts,
    rules: &RuleSet,
    unsigned: &[u8],
    key: &SigningKey,
    files: Vec<manifest::Digest>,
) -> Result<manifest::Manifest, ReportError> {
    use crate::model::format_instant;
    let read = manifest::message_parts(unsigned)
        .map_err(|e| ReportError::Mime(format!("the rendered message does not parse: {e}")))?;
    let lc = &facts.frame;
    Ok(manifest::Manifest {
        format: manifest::FORMAT.to_string(),
        tool: manifest::Tool {
            name: "accessaudit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        key: manifest::KeyInfo {
            algorithm: "ed25519".into(),
            fingerprint: key.public().fingerprint(),
        },
        run: manifest::RunInfo {
            id: lc.run.id,
            job: lc.run.job.clone(),
            as_of: format_instant(lc.run.as_of),
            finished_at: lc.run.finished_at.map(format_instant),
        },
        message: manifest::MessageInfo {
            message_id: read.message_id,
            subject: read.subject,
            from: read.from,
            date: read.date,
        },
        parts: read.parts,
        files,
        rules: lc
            .outcomes
            .iter()
            .map(|o| manifest::RuleInfo {
                id: o.rule_id.clone(),
                sha256: rules
                    .get(&o.rule_id)
                    .map(view::rule_digest)
                    .unwrap_or_else(|| "unknown (not loaded)".to_string()),
                status: o.status.as_str().to_string(),
                findings: o.finding_count,
            })
            .collect(),
        data: manifest::DataInfo {
            tables: facts
                .proof
                .tables
                .iter()
                .map(|(t, n)| manifest::TableRows {
                    table: t.to_string(),
                    rows: *n,
                })
                .collect(),
            newest_event: facts.proof.newest_event.map(format_instant),
            sources: facts
                .proof
                .sources
                .iter()
                .map(|s| manifest::SourceRows {
                    source: s.source.clone(),
                    synced_at: format_instant(s.synced_at),
                    write_check: s.write_check.clone(),
                    feeds: s
                        .feeds
                        .iter()
                        .map(|f| manifest::FeedRows {
                            feed: f.feed.clone(),
                            table: f.table.clone(),
                            read: f.fetched,
                            kept: f.read,
                            source_count: f.source_count,
                        })
                        .collect(),
                })
                .collect(),
        },
        findings: counts,
    })
}

/// The report as a standalone file: the mail's HTML with each picture's
/// `"cid:…"` reference (the quoted attribute value the template wrote: in
/// data, a quote is escaped) replaced by the picture as a `data:` URI, so
/// that a browser shows what a mail client does. Written as it is made.
fn standalone_html(html: &str, pictures: &[(&str, &[u8])]) -> std::io::Result<Spooled> {
    use base64::Engine as _;
    use std::io::Write as _;
    let references: Vec<(String, &[u8])> = pictures
        .iter()
        .map(|(cid, png)| (format!("\"cid:{cid}\""), *png))
        .collect();
    let mut spool = Spool::new()?;
    let mut rest = html;
    while let Some((at, len, png)) = references
        .iter()
        .filter_map(|(reference, png)| rest.find(reference).map(|at| (at, reference.len(), *png)))
        .min_by_key(|(at, _, _)| *at)
    {
        spool.write_all(&rest.as_bytes()[..at])?;
        write!(
            spool,
            "\"data:image/png;base64,{}\"",
            base64::engine::general_purpose::STANDARD.encode(png)
        )?;
        rest = &rest[at + len..];
    }
    spool.write_all(rest.as_bytes())?;
    spool.finish()
}

/// The stem of a run's report files: `<job>-run<ID>` (`ad-hoc` for a run of
/// no job), safe as a file name.
pub fn file_stem(job: Option<&str>, run_id: i64) -> String {
    format!(
        "{}-run{run_id}",
        mail::safe_name(job.unwrap_or("ad-hoc"), '_')
    )
}
