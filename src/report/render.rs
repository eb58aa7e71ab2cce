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
use super::tally;
use super::templates::Templates;
use super::view;
use crate::config::Config;
use crate::engine::RuleSet;
use crate::store::Store;
use crate::support::mail;
use crate::support::signing::SigningKey;

/// What the SQLite page caches of the process may hold together while a
/// report reads its run (`Store::bound_cache_memory`).
const REPORT_CACHE_BYTES: i64 = 16 << 20;

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
    /// The HTML part as sent: pictures by Content-ID.
    pub html: String,
    /// The same report as a standalone file: pictures as data URIs, so
    /// that it shows them opened in a browser.
    pub html_file: String,
    pub text: String,
    /// The CSV of every finding (a file: a large run's is not held in memory).
    pub csv: CsvFile,
    /// Whether the message attaches the CSV; if not, it names it, and the
    /// archive keeps it beside the message.
    pub csv_attached: bool,
    pub chart_png: Vec<u8>,
    pub departments_png: Vec<u8>,
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
pub async fn render(
    store: &Store,
    inputs: ReportInputs<'_>,
    run_id: i64,
) -> Result<RenderedReport, ReportError> {
    // A report reads counts over the whole history and looks its findings'
    // subjects up through several connections: together their caches stay
    // within a bound while it does.
    let previous_bound = store.bound_cache_memory(REPORT_CACHE_BYTES).await?;
    let rendered = render_bounded(store, inputs, run_id).await;
    store.bound_cache_memory(previous_bound).await?;
    rendered
}

async fn render_bounded(
    store: &Store,
    inputs: ReportInputs<'_>,
    run_id: i64,
) -> Result<RenderedReport, ReportError> {
    let config = inputs.config;
    let tz = config.tz();
    let mut facts = facts::read(
        store,
        run_id,
        tz,
        inputs.undelivered,
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
    // One context (a large run's lists are megabytes): the mail's, then
    // the file's, whose pictures are data URIs.
    let mut context = view::context(&facts, &tally, inputs.rules, &subject, &p, &csv_reference);
    let (html, text) = inputs.templates.render(&template, &context)?;
    context["chart_src"] = data_uri(&chart_png).into();
    context["departments_chart_src"] = data_uri(&departments_png).into();
    let (html_file, _) = inputs.templates.render(&template, &context)?;
    drop(context);
    // What the message shows of the findings is rendered: only the CSV and
    // the counts go on (the lists go before the message is built).
    let tally::Tally { csv, counts, .. } = tally;
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
        a.check(&[&html, &html_file, &text])?;
        message_id = a.message_id(&message_id);
    }
    let message_id = mail::bracketed(&message_id);
    let mut parts = mime::Parts {
        from: &config.mail.from,
        to: inputs.recipients,
        subject: &subject,
        message_id: &message_id,
        date: run.finished_at.unwrap_or(run.as_of),
        text: &text,
        html: &html,
        chart_png: &chart_png,
        departments_png: &departments_png,
        list: &job_name,
        csv_name: &csv_name,
        csv: attached.as_deref(),
        extra: &[],
    };
    let mut eml = mime::build(&parts)?;
    let mut signed = None;
    if let Some(key) = inputs.signer {
        let stem = file_stem(run.job.as_deref(), run_id);
        let files = [
            manifest::file_digest(&format!("{stem}.html"), html_file.as_bytes()),
            manifest::Digest {
                content_type: String::new(),
                name: csv_name.clone(),
                bytes: csv.size,
                sha256: csv.sha256.clone(),
            },
        ];
        let m = signed_manifest(&facts, counts, inputs.rules, &eml, key, files.to_vec())?;
        let bytes = m.to_bytes();
        let signature = key.sign(&bytes).to_vec();
        let extra = [
            (
                format!("{stem}{}", manifest::MANIFEST_SUFFIX),
                "application/json",
                bytes.clone(),
            ),
            (
                format!("{stem}{}", manifest::SIGNATURE_SUFFIX),
                "application/octet-stream",
                signature.clone(),
            ),
        ];
        parts.extra = &extra;
        eml = mime::build(&parts)?;
        signed = Some(Signed {
            manifest: bytes,
            signature,
        });
    }
    let sha256 = sha256_hex(&eml);
    Ok(RenderedReport {
        run_id,
        job: run.job.clone(),
        template,
        subject,
        message_id,
        eml,
        html,
        html_file,
        text,
        csv,
        csv_attached,
        chart_png,
        departments_png,
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

/// A PNG as a `data:` URI, for the standalone HTML file.
fn data_uri(png: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// The stem of a run's report files: `<job>-run<ID>` (`ad-hoc` for a run of
/// no job), safe as a file name.
pub fn file_stem(job: Option<&str>, run_id: i64) -> String {
    format!(
        "{}-run{run_id}",
        mail::safe_name(job.unwrap_or("ad-hoc"), '_')
    )
}
