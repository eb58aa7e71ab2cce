//! The report-side commands: `report`, `runs list|verify`, `exceptions …`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::{load_rules, open_store, print_json};
use crate::app::{self, Loaded, Settings};
use crate::cli::{ExceptionsCommand, ExportFormat, ListFormat, ReportArgs, RunsCommand};
use crate::model::format_instant;
use crate::report::{archive, exceptions, mime};
use crate::store::Store;
use crate::support::signing::{self, SigningKey};

pub(super) async fn report(g: &Settings, args: ReportArgs) -> Result<ExitCode> {
    let loaded = Loaded::from_settings(g.clone())?;
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
    let report = app::reports::render_and_archive(&store, &loaded, run_id).await?;
    let mut files = app::reports::write_files(&report, None, &out)?;
    let c = report.counts;
    eprintln!(
        "report of run {run_id}: {} new, {} open, {} resolved, {} accepted; sha256 {}",
        c.new, c.open, c.resolved, c.accepted, report.sha256
    );
    if args.routed {
        // What the daemon queues besides the report in clear (for an alert
        // job the digests carry every current finding: which ones were
        // already alerted is the daemon's to know).
        for r in app::reports::renderings(&store, &loaded, run_id, None).await? {
            let Some(tag) = r.tag.as_deref() else {
                continue;
            };
            eprintln!(
                "{tag} of run {run_id} to {}: sha256 {}",
                r.recipients.join(", "),
                r.report.sha256
            );
            files.extend(app::reports::write_files(&r.report, Some(tag), &out)?);
        }
    }
    for f in files {
        println!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn runs(g: &Settings, cmd: RunsCommand) -> Result<ExitCode> {
    let store = open_store(g).await?;
    match cmd {
        RunsCommand::List { job, limit, format } => {
            let runs = store.list_runs(job.as_deref(), limit).await?;
            let reports = archive::list(&store, None).await?;
            let shas_of = |run: i64| -> Vec<&str> {
                reports
                    .iter()
                    .filter(|a| a.run_id == run)
                    .map(|a| a.sha256.as_str())
                    .collect()
            };
            if format == ListFormat::Json {
                let listed: Vec<serde_json::Value> = runs
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "run_id": r.id,
                            "job": r.job,
                            "as_of": format_instant(r.as_of),
                            "started_at": format_instant(r.started_at),
                            "finished_at": r.finished_at.map(format_instant),
                            "status": r.status,
                            "findings": r.finding_count,
                            "reports": shas_of(r.id),
                        })
                    })
                    .collect();
                return print_json(&listed);
            }
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:>6}  {:<16} {:<22} {:<10} {:>8}  REPORT SHA-256",
                "RUN", "JOB", "AS OF", "STATUS", "FINDINGS"
            )?;
            for r in runs {
                let shas = shas_of(r.id);
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
        RunsCommand::Verify { id, file, chain } => {
            let mut ok = true;
            if let Some(id) = id {
                ok &= verify_run(&store, id, file).await?;
            }
            if chain {
                ok &= verify_chain(&store).await?;
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        RunsCommand::Export { id, format, out } => export(g, &store, id, format, out).await,
        RunsCommand::File { sha256, out } => archived_file(&store, &sha256, out).await,
    }
}

/// `runs file SHA256 [--out F]`: an archived report file, written back and
/// checked against its SHA-256 on the way.
async fn archived_file(store: &Store, sha256: &str, out: Option<PathBuf>) -> Result<ExitCode> {
    let dir = match out.as_deref().and_then(|p| p.parent()) {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    let mut w = std::io::BufWriter::new(tmp.reopen()?);
    let Some((file, actual)) = archive::write_file(store, sha256, &mut w).await? else {
        bail!(
            "no archived file has sha256 {sha256}: `accessaudit runs list` shows the archived reports"
        );
    };
    w.flush()?;
    drop(w);
    let path =
        out.unwrap_or_else(|| PathBuf::from(crate::support::mail::safe_name(&file.name, '_')));
    if actual != file.sha256 {
        println!(
            "MISMATCH  archived file {} (sha256 {}): its bytes now have sha256 {actual}; not written",
            file.name, file.sha256
        );
        return Ok(ExitCode::FAILURE);
    }
    tmp.persist(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "ok        {} ({} bytes, sha256 {actual}) written to {}",
        file.name,
        file.bytes,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `runs verify ID [--file F]`: whether every archived report of the run
/// (and F) is as archived.
async fn verify_run(store: &Store, id: i64, file: Option<PathBuf>) -> Result<bool> {
    if store.run_record(id).await?.is_none() {
        bail!("no run {id} in this database: `accessaudit runs list` shows the runs");
    }
    let checks = archive::verify(store, id).await?;
    if checks.is_empty() {
        bail!("run {id} has no archived report: render one with `accessaudit report --run {id}`");
    }
    let mut ok = true;
    for v in &checks {
        if let Some(csv) = &v.report.csv_sha256 {
            let found = archive::write_file(store, csv, &mut std::io::sink()).await?;
            match found {
                Some((f, actual)) if actual == *csv => println!(
                    "ok        file {} of report {} ({} bytes): sha256 {csv}",
                    f.name, v.report.id, f.bytes
                ),
                Some((f, actual)) => {
                    ok = false;
                    println!(
                        "MISMATCH  file {} of report {}: named sha256 {csv}, content now {actual}",
                        f.name, v.report.id
                    );
                }
                None => {
                    ok = false;
                    println!(
                        "MISSING   file of report {} with sha256 {csv}: not in the archive",
                        v.report.id
                    );
                }
            }
        }
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
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let sha = mime::sha256_hex(&bytes);
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
    Ok(ok)
}

/// The most problems `runs verify --chain` lists (the first is what counts).
const BREAKS_LISTED: usize = 20;

/// `runs verify --chain`: the whole ledger.
async fn verify_chain(store: &Store) -> Result<bool> {
    let check = app::ledger::verify_chain(store, &[&crate::review::record::LEDGERED]).await?;
    let head = match &check.head {
        Some(h) => format!("head {} sha256 {}", h.name(), h.entry_hash),
        None => "empty".to_string(),
    };
    for (kind, n) in &check.unchecked {
        println!(
            "note      {n} ledger entr{} of kind `{kind}`, unknown to this version: chained, record not checked",
            if *n == 1 { "y" } else { "ies" }
        );
    }
    if check.intact() {
        println!(
            "ok        ledger: {} entr{}, chain intact, every record as recorded and none unrecorded; {head}",
            check.entries,
            if check.entries == 1 { "y" } else { "ies" }
        );
        return Ok(true);
    }
    for (i, b) in check.breaks.iter().take(BREAKS_LISTED).enumerate() {
        let tag = if i == 0 { "FIRST" } else { "BROKEN" };
        println!("{tag:<10}{b}");
    }
    if check.breaks.len() > BREAKS_LISTED {
        println!(
            "BROKEN    … and {} more problem(s)",
            check.breaks.len() - BREAKS_LISTED
        );
    }
    println!(
        "BROKEN    ledger: {} entr{} walked, {} problem(s), the first listed first; {head}",
        check.entries,
        if check.entries == 1 { "y" } else { "ies" },
        check.breaks.len()
    );
    Ok(false)
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
        ExceptionsCommand::List { format } => {
            let now = chrono::Utc::now();
            if format == ListFormat::Json {
                let listed: Vec<serde_json::Value> = exceptions::list(&store)
                    .await?
                    .into_iter()
                    .map(|x| {
                        let live = x.live_at(now);
                        let mut v = serde_json::to_value(x).unwrap_or_default();
                        if let Some(o) = v.as_object_mut() {
                            o.insert("live".into(), live.into());
                        }
                        v
                    })
                    .collect();
                return print_json(&listed);
            }
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

/// Writes the detached signature of `path` (whose bytes are `bytes`) beside
/// it when a key is configured, and says so; with no key, removes a
/// signature an earlier export left there, which no longer signs it. A
/// signature that cannot be written takes the file with it: no export
/// without the signature the key asks for.
fn sign_beside(path: &Path, bytes: &[u8], key: Option<&SigningKey>) -> Result<String> {
    let sig_path = signing::signature_beside(path);
    let Some(key) = key else {
        match std::fs::remove_file(&sig_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("removing the earlier signature {}", sig_path.display())
                });
            }
        }
        return Ok(", unsigned (no report signing key is configured)".to_string());
    };
    if let Err(e) = crate::support::atomic_file::write(&sig_path, &key.sign(bytes)) {
        let _ = std::fs::remove_file(path);
        return Err(e).with_context(|| format!("writing {}", sig_path.display()));
    }
    Ok(format!(
        ", signed by {} ({})",
        key.public().fingerprint(),
        sig_path.display()
    ))
}

/// `runs export ID --format oscal`.
async fn export(
    g: &Settings,
    store: &Store,
    id: i64,
    format: ExportFormat,
    out: Option<PathBuf>,
) -> Result<ExitCode> {
    if store.run_record(id).await?.is_none() {
        bail!("no run {id} in this database: `accessaudit runs list` shows the runs");
    }
    let rules = load_rules(g)?;
    let deployment = g.deployment_id(store).await?;
    let document = match format {
        ExportFormat::Oscal => crate::report::oscal::export(store, &rules, &deployment, id).await?,
    };
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    // Signed like the reports, when a key is configured: a detached
    // signature of the file's bytes beside it.
    let key = SigningKey::read(g.config.report.signing_key_ref())?;
    match out {
        Some(path) => {
            crate::support::atomic_file::write(&path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            let signed = sign_beside(&path, text.as_bytes(), key.as_ref())?;
            eprintln!(
                "run {id} written to {} (OSCAL {}){signed}",
                path.display(),
                crate::report::oscal::OSCAL_VERSION
            );
        }
        None => {
            std::io::stdout().lock().write_all(text.as_bytes())?;
            if key.is_some() {
                eprintln!(
                    "note: standard output is not signed; `--out FILE` writes FILE.sig beside it"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
