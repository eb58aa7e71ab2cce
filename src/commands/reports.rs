//! The report-side commands: `report`, `runs list|verify`, `exceptions …`,
//! and the report the demo leaves behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::{Settings, load_rules, open_store, write_file_atomically};
use crate::cli::{ExceptionsCommand, ReportArgs, RunsCommand};
use crate::engine::RuleSet;
use crate::model::format_instant;
use crate::report::render::{self, RenderedReport};
use crate::report::templates::Templates;
use crate::report::{archive, exceptions};
use crate::store::Store;

/// Loads the templates of the deployment (shipped, overridden by the config's directory).
pub(super) fn load_templates(g: &Settings) -> Result<Templates> {
    Templates::load(g.config.templates.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}\nno report was rendered: fix the templates above"))
}

/// The recipients of a run's job (addresses), none for an ad-hoc job.
fn recipients(g: &Settings, job: Option<&str>) -> Vec<String> {
    job.and_then(|j| g.config.jobs.get(j))
        .map(|j| g.config.addresses(&j.recipients))
        .unwrap_or_default()
}

/// Renders and archives the report of `run_id`, and writes its files into
/// `out`: `<job>-run<ID>.eml`, `.html` and the CSV. Returns the report and the
/// paths written.
pub(super) async fn render_archive_write(
    g: &Settings,
    store: &Store,
    rules: &RuleSet,
    templates: &Templates,
    run_id: i64,
    out: &Path,
) -> Result<(RenderedReport, Vec<PathBuf>)> {
    let job = store
        .run_record(run_id)
        .await?
        .with_context(|| format!("no run {run_id}"))?
        .job;
    let to = recipients(g, job.as_deref());
    // The Message-ID derives from the deployment: the database actually
    // used (the command line may override the config's).
    let mut config = g.config.clone();
    config.database = Some(g.database.clone());
    let report = render::render(store, &config, rules, templates, run_id, &to).await?;
    archive::archive(store, &report).await?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let stem = format!(
        "{}-run{}",
        render::file_stem(job.as_deref().unwrap_or("ad-hoc")),
        run_id
    );
    let csv_name = format!("{stem}-findings.csv");
    let files = [
        (out.join(format!("{stem}.eml")), report.eml.as_slice()),
        (out.join(format!("{stem}.html")), report.html.as_bytes()),
        (out.join(csv_name), report.csv.as_slice()),
    ];
    let mut written = Vec::new();
    for (path, bytes) in files {
        write_file_atomically(&path, async |file| {
            file.write_all(bytes)?;
            Ok(())
        })
        .await?;
        written.push(path);
    }
    Ok((report, written))
}

pub(super) async fn report(g: &Settings, args: ReportArgs) -> Result<ExitCode> {
    let rules = load_rules(g)?;
    let templates = load_templates(g)?;
    let store = open_store(g).await?;
    let run_id = match (args.run, &args.job) {
        (Some(id), _) => id,
        (None, Some(job)) => store.latest_run_of_job(job).await?.with_context(|| {
            format!(
                "job `{job}` has no finished run yet: run it with `accessaudit run --job {job}`"
            )
        })?,
        (None, None) => bail!("give --run ID or --job NAME"),
    };
    let out = args
        .out
        .or_else(|| g.config.reports_dir.clone())
        .unwrap_or_else(|| PathBuf::from("."));
    let (report, files) = render_archive_write(g, &store, &rules, &templates, run_id, &out).await?;
    let c = report.counts;
    eprintln!(
        "report of run {run_id}: {} new, {} open, {} resolved, {} accepted; sha256 {}",
        c.new, c.open, c.resolved, c.accepted, report.sha256
    );
    for f in files {
        println!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn runs(g: &Settings, cmd: RunsCommand) -> Result<ExitCode> {
    let store = open_store(g).await?;
    match cmd {
        RunsCommand::List { job, limit } => {
            let runs = store.list_runs(job.as_deref(), limit).await?;
            let reports = archive::list(&store, None).await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:>6}  {:<16} {:<22} {:<10} {:>8}  REPORT SHA-256",
                "RUN", "JOB", "AS OF", "STATUS", "FINDINGS"
            )?;
            for r in runs {
                let shas: Vec<&str> = reports
                    .iter()
                    .filter(|a| a.run_id == r.id)
                    .map(|a| a.sha256.as_str())
                    .collect();
                writeln!(
                    out,
                    "{:>6}  {:<16} {:<22} {:<10} {:>8}  {}",
                    r.id,
                    r.job.as_deref().unwrap_or("-"),
                    format_instant(r.as_of),
                    r.status,
                    r.finding_count,
                    if shas.is_empty() {
                        "-".to_string()
                    } else {
                        shas.join(" ")
                    }
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Verify { id, file } => {
            let checks = archive::verify(&store, id).await?;
            if checks.is_empty() {
                bail!(
                    "run {id} has no archived report: render one with `accessaudit report --run {id}`"
                );
            }
            let mut ok = true;
            for v in &checks {
                if v.intact() {
                    println!(
                        "ok        report {} of run {id} ({}, {} bytes): sha256 {}",
                        v.report.id, v.report.template, v.report.size, v.report.sha256
                    );
                } else {
                    ok = false;
                    println!(
                        "MISMATCH  report {} of run {id}: archived sha256 {}, content now {}",
                        v.report.id, v.report.sha256, v.actual_sha256
                    );
                }
            }
            if let Some(path) = file {
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                let sha = render::sha256_hex(&bytes);
                match checks.iter().find(|v| v.report.sha256 == sha) {
                    Some(v) => println!(
                        "ok        {} is archived report {} (sha256 {sha})",
                        path.display(),
                        v.report.id
                    ),
                    None => {
                        ok = false;
                        println!(
                            "MISMATCH  {} (sha256 {sha}) is no archived report of run {id}",
                            path.display()
                        );
                    }
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

pub(super) async fn exceptions_command(g: &Settings, cmd: ExceptionsCommand) -> Result<ExitCode> {
    let store = open_store(g).await?;
    match cmd {
        ExceptionsCommand::Add {
            rule,
            subject,
            reason,
            approved_by,
            expires,
        } => {
            let rules = load_rules(g)?;
            if rules.get(&rule).is_none() {
                bail!("no rule `{rule}` is loaded");
            }
            let new = exceptions::NewException {
                rule,
                subject,
                reason,
                approved_by,
                expires_at: expires,
            };
            let id = exceptions::add(&store, &new, chrono::Utc::now())
                .await
                .map_err(|e| anyhow::anyhow!("exception refused: {e}"))?;
            eprintln!("exception {id} added");
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        ExceptionsCommand::List => {
            let now = chrono::Utc::now();
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:>4}  {:<22} {:<16} {:<22} {:<8} {:<6} {:<16} REASON",
                "ID", "RULE", "SUBJECT", "EXPIRES", "STATE", "SOURCE", "APPROVED BY"
            )?;
            for x in exceptions::list(&store).await? {
                writeln!(
                    out,
                    "{:>4}  {:<22} {:<16} {:<22} {:<8} {:<6} {:<16} {}",
                    x.id,
                    x.rule,
                    crate::report::output::printable(&x.subject),
                    format_instant(x.expires_at),
                    if x.live_at(now) { "live" } else { "expired" },
                    x.source.as_str(),
                    crate::report::output::printable(&x.approved_by),
                    crate::report::output::printable(&x.reason)
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ExceptionsCommand::Remove { id } => {
            if exceptions::remove(&store, id).await? {
                eprintln!("exception {id} removed");
                Ok(ExitCode::SUCCESS)
            } else {
                bail!("no exception {id}")
            }
        }
        ExceptionsCommand::Load { file } => {
            let rules = load_rules(g)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let entries = exceptions::parse_file(&file, &text, |r| rules.get(r).is_some())
                .map_err(|e| anyhow::anyhow!("{e}\nnothing was loaded: fix the file above"))?;
            let n = exceptions::replace_from_file(&store, &entries, chrono::Utc::now()).await?;
            eprintln!("{n} exception(s) loaded from {}", file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
