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
use super::lifecycle::Counts;
use super::manifest;
use super::mime::{self, sha256_hex};
use super::templates::Templates;
use super::view;
use crate::config::Config;
use crate::engine::RuleSet;
use crate::store::Store;
use crate::support::mail;
use crate::support::signing::SigningKey;

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
    pub csv: Vec<u8>,
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
        a.apply(&mut facts);
    }
    let run = &facts.lifecycle.run;
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
    let departments_png = chart::findings_by_department(&view::by_department(&facts))?;
    let csv_name = format!("{}-findings.csv", file_stem(run.job.as_deref(), run_id));
    let in_mail = (
        format!("cid:{}", chart::CHART_CID),
        format!("cid:{}", chart::DEPARTMENTS_CID),
    );
    let in_file = (data_uri(&chart_png), data_uri(&departments_png));
    let view_of = |(chart_src, departments_chart_src): &(String, String)| {
        let p = view::Presentation {
            tz,
            config: &config.report,
            chart_src,
            departments_chart_src,
        };
        view::context(&facts, inputs.rules, &subject, &p, &csv_name)
    };
    let (html, text) = inputs.templates.render(&template, &view_of(&in_mail))?;
    let (html_file, _) = inputs.templates.render(&template, &view_of(&in_file))?;
    let csv = mime::findings_csv(&facts, inputs.rules, tz, &config.report)?;
    let mut message_id = mail::report_message_id(
        inputs.deployment,
        run_id,
        run.job.as_deref(),
        &config.mail.from,
    );
    if let Some(a) = inputs.audience {
        a.check(&[&html, &html_file, &text, &String::from_utf8_lossy(&csv)])?;
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
        csv: &csv,
        extra: &[],
    };
    let mut eml = mime::build(&parts)?;
    let mut signed = None;
    if let Some(key) = inputs.signer {
        let stem = file_stem(run.job.as_deref(), run_id);
        let files = [
            manifest::file_digest(&format!("{stem}.html"), html_file.as_bytes()),
            manifest::file_digest(&csv_name, &csv),
        ];
        let m = signed_manifest(&facts, inputs.rules, &eml, key, files.to_vec())?;
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
        chart_png,
        departments_png,
        sha256,
        counts: facts.lifecycle.counts(),
        signed,
    })
}

/// The manifest of a report whose message, unsigned, is `unsigned`: its
/// parts and headers as a recipient's parser will read them.
fn signed_manifest(
    facts: &facts::Facts,
    rules: &RuleSet,
    unsigned: &[u8],
    key: &SigningKey,
    files: Vec<manifest::Digest>,
) -> Result<manifest::Manifest, ReportError> {
    use crate::model::format_instant;
    let read = manifest::message_parts(unsigned)
        .map_err(|e| ReportError::Mime(format!("the rendered message does not parse: {e}")))?;
    let lc = &facts.lifecycle;
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
        findings: lc.counts(),
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
