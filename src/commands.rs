//! What each command does: glue between the CLI and the pipeline stages.
//! Errors are `anyhow` here, at the edge; the stages have typed errors.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

mod evidence;
mod people;
mod pii;
mod reports;
mod retention;
mod reviews;

use crate::app::{self, Loaded, Overrides, Settings};
use crate::cli::{
    Cli, Command, ConfigCommand, DemoArgs, GlobalArgs, ImportArgs, KeysCommand, ListFormat,
    OutputFormat, PiiCommand, RulesCommand, RunArgs, SyncArgs,
};
use crate::collect::namespace::Namespace;
use crate::collect::{csv_import, tables};
use crate::engine::{self, RuleSet, load as rules};
use crate::report::output;
use crate::store::{Store, StoreOptions};
use crate::support::atomic_file;

/// Exit status when `--fail-on` is met (errors exit 1, usage errors 2).
pub const EXIT_FINDINGS: u8 = 3;
/// `run`: not every rule was evaluated (one failed, or was skipped without
/// `--allow-skipped`): the run cannot vouch for what it did not check.
pub const EXIT_INCOMPLETE: u8 = 4;

/// The command line's global options as overrides of the config file.
pub fn overrides(g: &GlobalArgs) -> Overrides {
    Overrides {
        config: g.config.clone(),
        database: g.database.clone(),
        scan_database: g.scan_database.clone(),
        rules: g.rules.clone(),
        no_builtin_rules: g.no_builtin_rules,
        statement_timeout: g.statement_timeout,
    }
}

/// The output format a person chose, as the report stage names it.
fn format(f: OutputFormat) -> output::Format {
    match f {
        OutputFormat::Table => output::Format::Table,
        OutputFormat::Json => output::Format::Json,
        OutputFormat::Csv => output::Format::Csv,
    }
}

/// Runs one command (all but `serve`, which `main` hands to the daemon).
pub async fn dispatch(cli: Cli) -> Result<ExitCode> {
    // What prints documentation needs no configuration or database.
    match &cli.command {
        Command::Schema => {
            print!("{}", crate::collect::tables::REFERENCE);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "accessaudit", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut std::io::stdout())?;
            return Ok(ExitCode::SUCCESS);
        }
        // A recipient's checks and key making need no configuration either.
        Command::Verify(args) => return evidence::verify(args),
        Command::Keys(KeysCommand::Generate {
            private_key,
            public_key,
        }) => return evidence::generate(private_key, public_key.as_deref()),
        _ => {}
    }
    let settings = Settings::resolve(&overrides(&cli.global))?;
    let result = command(&settings, cli.command).await;
    settings.close_stores().await;
    result
}

async fn command(g: &Settings, command: Command) -> Result<ExitCode> {
    match command {
        Command::Migrate(args) => {
            // Counted before anything is migrated (connecting migrates nothing).
            let before = Store::connect(&g.database, g.store_options())
                .await?
                .applied_migrations()
                .await?;
            let store = g.create_store().await?;
            let after = store.applied_migrations().await?;
            let backend = store.backend().name();
            match (before, after) {
                (0, _) => eprintln!("database schema created ({backend})"),
                (b, a) if a > b => {
                    eprintln!(
                        "database schema updated: {} migration(s) applied ({backend})",
                        a - b
                    )
                }
                _ => eprintln!("database schema is up to date ({backend})"),
            }
            if args.partition_events {
                match store.partition_events().await? {
                    true => eprintln!("events partitioned by month"),
                    false => eprintln!("events were already partitioned by month"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(args) => import(g, args).await,
        Command::Rules(cmd) => rules_command(g, cmd).await,
        Command::Run(args) => run(g, args).await,
        Command::Sync(args) => sync(g, args).await,
        Command::Retention(args) => retention::retention(g, args).await,
        Command::Demo(args) => demo(g, args).await,
        Command::Report(args) => reports::report(g, args).await,
        Command::Runs(cmd) => reports::runs(g, cmd).await,
        Command::Pii(PiiCommand::Reveal { tokens }) => pii::reveal(g, &tokens).await,
        Command::Exceptions(cmd) => reports::exceptions_command(g, cmd).await,
        Command::Keys(KeysCommand::Public { private_key }) => {
            evidence::public(g, private_key.as_deref())
        }
        Command::Config(ConfigCommand::Check) => config_check(g).await,
        Command::Reviews(cmd) => reviews::command(g, cmd).await,
        Command::People(cmd) => people::command(g, cmd).await,
        Command::Serve => bail!("`serve` is the daemon's: main starts it"),
        Command::Schema
        | Command::Completions { .. }
        | Command::Man
        | Command::Verify(_)
        | Command::Keys(KeysCommand::Generate { .. }) => {
            Ok(ExitCode::SUCCESS) // answered above, before the settings
        }
    }
}

/// `config check`: everything a run starts from, and the scan role.
async fn config_check(g: &Settings) -> Result<ExitCode> {
    let loaded = Loaded::from_settings(g.clone())?;
    let file = g
        .config_file
        .as_ref()
        .map_or("the embedded default".to_string(), |p| {
            p.display().to_string()
        });
    println!(
        "config: {file}: {} rule(s), {} job(s), {} source(s), {} schedule(s): ok",
        loaded.rules.rules.len(),
        g.config.jobs.len(),
        g.config.sources.len(),
        loaded.schedules.len()
    );
    println!("identity: {}", g.config.identity.describe());
    let deployment = g.config.deployment();
    let applications: Vec<String> = g
        .config
        .applications
        .iter()
        .map(|(name, a)| {
            let mut facts = vec![a.criticality.as_str().to_string()];
            if let Some(owner) = &a.owner {
                facts.push(format!("owner {owner}"));
            }
            if deployment.directories.contains(name) {
                facts.push("directory".into());
            }
            format!("{name} ({})", facts.join(", "))
        })
        .collect();
    if !applications.is_empty() {
        println!("applications: {}", applications.join("; "));
    }
    match &loaded.signing_key {
        Some(key) => println!(
            "report signing: Ed25519, public key {}",
            key.public().fingerprint()
        ),
        None => println!("report signing: off (no report.signing_key_file or signing_key_env)"),
    }
    let store = open_store(g).await?;
    println!(
        "database: {} ({}), schema up to date",
        store.backend().name(),
        crate::store::redact_url(&g.database)
    );
    let p = store.scan_privileges().await?;
    match &p.role {
        None => println!(
            "scans: a read-only connection that may read the canonical tables only (SQLite)"
        ),
        Some(role) if p.own_role => println!("scans: role `{role}`, apart from the writes"),
        Some(role) => println!("scans: role `{role}`, the same role that writes"),
    }
    let (excess, missing) = (p.excess(), p.missing());
    for line in excess.iter().chain(&missing) {
        println!("warning: {line}");
    }
    let sources_refused = check_sources(g).await;
    let refused = g.require_least_privilege && !excess.is_empty();
    if excess.is_empty() {
        println!("least privilege: ok");
    } else if refused {
        println!(
            "least privilege: {} excess privilege(s), refused (require_least_privilege: true)",
            excess.len()
        );
    } else {
        println!(
            "least privilege: {} excess privilege(s) (set require_least_privilege: true to refuse)",
            excess.len()
        );
    }
    Ok(if refused || !missing.is_empty() || sources_refused {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Asks every source what its account may write, printing one line each;
/// true when a source cannot be reached or can write under
/// `require_read_only: true`.
async fn check_sources(g: &Settings) -> bool {
    use crate::collect::readers::sql::WriteCheck;
    let mut refused = false;
    for (name, source) in &g.config.sources {
        match crate::collect::sync::write_check(name, source).await {
            Ok(WriteCheck::CanWrite { what }) if source.require_read_only => {
                refused = true;
                println!(
                    "source {name}: its account CAN WRITE ({}): refused (require_read_only: true)",
                    what.join("; ")
                );
            }
            Ok(WriteCheck::CanWrite { what }) => println!(
                "warning: source {name}: its account can write ({}): give it SELECT only, \
                 or set require_read_only: true to refuse it",
                what.join("; ")
            ),
            Ok(check) => println!("source {name}: {check}"),
            Err(e) => {
                refused = true;
                println!("source {name}: cannot be checked: {e}");
            }
        }
    }
    refused
}

async fn sync(g: &Settings, args: SyncArgs) -> Result<ExitCode> {
    use crate::collect::sync;
    let sources = &g.config.sources;
    if sources.is_empty() {
        bail!(
            "no sources are configured: add `sources:` to the configuration file (see docs/MAPPINGS.md)"
        );
    }
    for name in &args.sources {
        if !sources.contains_key(name) {
            bail!(
                "no source `{name}`; configured sources: {}",
                sources.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    let store = g.create_store().await?;
    let mut failed = 0;
    for (name, source) in sources {
        if !args.sources.is_empty() && !args.sources.contains(name) {
            continue;
        }
        let progress = crate::support::progress::spinner(format!("syncing {name}"));
        let synced = sync::sync_source(&store, name, source, chrono::Utc::now()).await;
        progress.finish_and_clear();
        match synced {
            Ok(report) => {
                for f in &report.feeds {
                    let counted = f
                        .source_count
                        .map_or_else(|| "not counted".to_string(), |n| n.to_string());
                    eprintln!(
                        "{name}: {} → {}: read {} (the source counts {counted}), kept {}, written {}, removed {}, granted {}, revoked {}",
                        f.feed,
                        f.table,
                        f.fetched,
                        f.read,
                        f.written,
                        f.removed,
                        f.granted,
                        f.revoked
                    );
                    if !f.reconciles() {
                        eprintln!(
                            "warning: {name}: feed `{}` read {} row(s) but the source counts {counted}: \
                             they do not reconcile (the reports say so until a sync does)",
                            f.feed, f.fetched
                        );
                    }
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: source {name}: {e}\nnothing of this source was written");
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub(crate) async fn open_store(g: &Settings) -> Result<Store> {
    g.open_store().await
}

pub(crate) fn load_rules(g: &Settings) -> Result<RuleSet> {
    rules::load(&g.rules_dirs, g.builtin_rules)
        .map_err(|e| anyhow::anyhow!("{e}\nno rule was run: fix the rule files above"))
}

async fn import(g: &Settings, args: ImportArgs) -> Result<ExitCode> {
    let Some(table) = tables::table(&args.table) else {
        let names: Vec<&str> = tables::ALL.iter().map(|t| t.name).collect();
        bail!(
            "unknown table `{}`; import into one of: {}",
            args.table,
            names.join(", ")
        );
    };
    let store = g.create_store().await?;
    let started = std::time::Instant::now();
    let options = csv_import::ImportOptions {
        delimiter: args.delimiter,
        timezone: args.timezone.unwrap_or(chrono_tz::UTC),
        extra_actions: g.config.actions.clone(),
        namespace: match &args.application {
            Some(name) => {
                crate::model::application::check_name(name)
                    .map_err(|e| anyhow::anyhow!("--application: {e}"))?;
                Namespace::named(name)
            }
            None => Namespace::as_given(),
        },
    };
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let size = file.metadata().ok().map(|m| m.len());
    let progress =
        crate::support::progress::bytes(size.unwrap_or(0), format!("importing {}", table.name));
    let summary = csv_import::import_reader_with(
        &store,
        table,
        &args.file,
        progress.wrap_read(file),
        size,
        &options,
    )
    .await;
    progress.finish_and_clear();
    let summary = summary?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "imported {} row(s) into {} from {} in {:.2}s",
        summary.rows,
        summary.table,
        args.file.display(),
        secs
    );
    if summary.repeated_keys > 0 {
        eprintln!(
            "warning: {} row(s) repeat the key of an earlier row of {} (the later row was kept):",
            summary.repeated_keys,
            args.file.display()
        );
        for (line, earlier, key) in &summary.repeated_examples {
            eprintln!("  line {line} repeats line {earlier}: {key}");
        }
    }
    if !summary.unknown_actions.is_empty() {
        let listed: Vec<String> = summary
            .unknown_actions
            .iter()
            .map(|(action, n)| format!("`{}` ({n})", output::printable(action)))
            .collect();
        eprintln!(
            "warning: action(s) that no rule reads: {}; known: {}. If they are meant, list them \
             under `actions:` in the configuration file; if they are another spelling of a known \
             one, translate them in the source (a mapping's `codes:`)",
            listed.join(", "),
            crate::model::KNOWN_ACTIONS.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn rules_command(g: &Settings, cmd: RulesCommand) -> Result<ExitCode> {
    match cmd {
        RulesCommand::List { format } => {
            let set = load_rules(g)?;
            if format == ListFormat::Json {
                return print_json(&set.rules);
            }
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:<24} {:<9} {:<22} {:<8} CONTROLS",
                "ID", "SEVERITY", "KIND", "ENABLED"
            )?;
            for r in &set.rules {
                let controls: Vec<String> = r.controls.iter().map(|c| c.to_string()).collect();
                writeln!(
                    out,
                    "{:<24} {:<9} {:<22} {:<8} {}",
                    r.id,
                    r.severity.as_str(),
                    r.kind.name(),
                    if r.enabled { "yes" } else { "no" },
                    controls.join("; ")
                )?;
                if !r.remediation.is_empty() {
                    writeln!(out, "    remediation: {}", one_line(&r.remediation))?;
                }
                if !r.references.is_empty() {
                    writeln!(out, "    references: {}", r.references.join("; "))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Validate { paths } => {
            let mut dirs = g.rules_dirs.clone();
            dirs.extend(paths);
            let set = rules::load(&dirs, g.builtin_rules).map_err(|e| anyhow::anyhow!("{e}"))?;
            // Rule tests beside the rules are checked too (their form, and
            // that their rule exists); `rules test` runs them.
            let tests = rules::read_files(&dirs, rules::is_test_file)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut problems = Vec::new();
            for file in &tests {
                match engine::testing::parse(&file.path, &file.text) {
                    Ok(t) if set.get(&t.rule.value).is_none() => problems.push(format!(
                        "{}:{}:{}: field `rule`: no rule `{}` is loaded",
                        file.path.display(),
                        t.rule.referenced.line(),
                        t.rule.referenced.column(),
                        t.rule.value
                    )),
                    Ok(_) => {}
                    Err(e) => problems.push(e.to_string()),
                }
            }
            problems.extend(probe_rules(g, &set).await?);
            if !problems.is_empty() {
                bail!("{}", problems.join("\n"));
            }
            eprintln!(
                "{} rule(s) and {} rule test file(s) valid",
                set.rules.len(),
                tests.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Test { paths } => rules_test(g, paths).await,
    }
}

async fn rules_test(g: &Settings, paths: Vec<PathBuf>) -> Result<ExitCode> {
    let set = load_rules(g)?;
    let files = if paths.is_empty() {
        rules::layered(&g.rules_dirs, g.builtin_rules, rules::is_test_file)
    } else {
        rules::read_files(&paths, rules::is_test_file)
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if files.is_empty() {
        bail!("no rule tests (*.test.yaml) found");
    }
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let url = format!(
        "sqlite://{}",
        scratch.path().join("rules-test.db").display()
    );
    let store = Store::open(&url, StoreOptions::default()).await?;
    let (mut passed, mut failed) = (0, 0);
    let mut out = std::io::stdout().lock();
    for file in &files {
        let results = engine::testing::run_file(&store, &set, &file.path, &file.text)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for r in results {
            if r.passed() {
                passed += 1;
                writeln!(out, "ok     {} :: {}", r.rule, r.case)?;
            } else {
                failed += 1;
                writeln!(
                    out,
                    "FAILED {} :: {} ({})",
                    r.rule,
                    r.case,
                    r.file.display()
                )?;
                for f in &r.failures {
                    writeln!(out, "         {f}")?;
                }
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run(g: &Settings, args: RunArgs) -> Result<ExitCode> {
    if args.excel && args.format != OutputFormat::Csv {
        bail!("--excel applies to --format csv only");
    }
    let loaded = Loaded::from_settings(g.clone())?;
    let selected = loaded.rules_for(args.job.as_deref(), &args.rules)?;
    let store = open_store(g).await?;
    g.check_scan_privileges(&store).await?;
    if !store.has_accounts().await? {
        bail!(
            "the store holds no accounts (table principals is empty): there is nothing to audit \
             and no rule was run; import or sync the accounts first"
        );
    }
    let as_of = args.as_of.unwrap_or_else(chrono::Utc::now);
    // An auditor's rerun may leave no trace, and a read-only copy of the
    // database cannot take one: such a run is recorded in a scratch store
    // that goes away with it.
    let no_record = args.no_record || store.is_read_only();
    let scratch = match no_record {
        true => Some(ScratchStore::new().await?),
        false => None,
    };
    let record = scratch.as_ref().map_or(&store, |s| &s.store);
    let progress =
        crate::support::progress::spinner(format!("evaluating {} rule(s)", selected.len()));
    let summary = loaded
        .run(&store, record, &selected, as_of, args.job.as_deref())
        .await;
    progress.finish_and_clear();
    let summary = summary?;
    if args.excel {
        std::io::stdout().write_all("\u{feff}".as_bytes())?;
    }
    let stores = output::RunStores {
        source: &store,
        record,
        recorded: !no_record,
    };
    let standing = print_run(stores, &summary, format(args.format)).await?;
    if no_record {
        eprintln!(
            "note: this run was not recorded ({}): it has no run id, and its findings are all `new`",
            if args.no_record {
                "--no-record"
            } else {
                "the database is read-only"
            }
        );
    } else if let Some(job) = &args.job {
        eprintln!(
            "run {} of job {job}; its report: accessaudit report --run {}",
            summary.run_id, summary.run_id
        );
    }
    if let Some(scratch) = scratch {
        scratch.store.close().await;
    }
    Ok(run_exit_code(
        &summary,
        &standing,
        args.fail_on,
        args.allow_skipped,
    ))
}

/// Each rule's own database checks (a `sql` rule's query prepared over the
/// canonical tables), on the configured PostgreSQL database, or on a
/// scratch SQLite store with the canonical schema.
async fn probe_rules(g: &Settings, set: &RuleSet) -> Result<Vec<String>> {
    let scratch;
    let store = if g.database.starts_with("postgres") {
        g.open_store().await?
    } else {
        scratch = ScratchStore::new().await?;
        scratch.store.clone()
    };
    let rules: Vec<&engine::Rule> = set.rules.iter().collect();
    let refused = engine::probe(&store, &rules, chrono::Utc::now()).await?;
    Ok(refused
        .into_iter()
        .map(|(rule, e)| {
            let file = rule
                .sources
                .last()
                .map_or_else(String::new, |p| p.display().to_string());
            format!(
                "{file}: rule `{}`: field `params.query`: {e} (checked on {})",
                rule.id,
                store.backend().name()
            )
        })
        .collect())
}

/// A list for scripts (`--format json`): one pretty-printed JSON value.
fn print_json(value: &impl serde::Serialize) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

/// A store of its own in a temporary directory, for what must not be
/// recorded in the deployment's; removed when dropped.
struct ScratchStore {
    store: Store,
    _dir: tempfile::TempDir,
}

impl ScratchStore {
    async fn new() -> Result<ScratchStore> {
        let dir = tempfile::tempdir().context("creating a scratch directory")?;
        let url = format!("sqlite://{}", dir.path().join("scratch.db").display());
        let store = Store::open(&url, StoreOptions::default()).await?;
        Ok(ScratchStore { store, _dir: dir })
    }
}

/// `text` with its line breaks and runs of spaces folded into single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A run that could not check everything says so before anything else; then
/// `--fail-on` over the findings no exception accepts.
fn run_exit_code(
    summary: &engine::RunSummary,
    standing: &output::Standing,
    fail_on: Option<crate::model::Severity>,
    allow_skipped: bool,
) -> ExitCode {
    use crate::store::runs::OutcomeStatus;
    let incomplete = summary.outcomes.iter().any(|o| match o.status {
        OutcomeStatus::Failed => true,
        OutcomeStatus::Skipped | OutcomeStatus::NotApplicable => !allow_skipped,
        OutcomeStatus::Ok => false,
    });
    if incomplete {
        let n = summary
            .outcomes
            .iter()
            .filter(|o| o.status != OutcomeStatus::Ok)
            .count();
        eprintln!(
            "error: {n} of {} rule(s) not evaluated: this run is incomplete (exit {EXIT_INCOMPLETE}{})",
            summary.outcomes.len(),
            if allow_skipped {
                ""
            } else {
                "; --allow-skipped accepts skipped and not applicable rules"
            }
        );
        return ExitCode::from(EXIT_INCOMPLETE);
    }
    match (fail_on, standing.max_unaccepted) {
        (Some(threshold), Some(max)) if max >= threshold => ExitCode::from(EXIT_FINDINGS),
        _ => ExitCode::SUCCESS,
    }
}

/// Prints the findings of a run on stdout, and its skipped or failed rules on stderr.
async fn print_run(
    stores: output::RunStores<'_>,
    summary: &engine::RunSummary,
    format: output::Format,
) -> Result<output::Standing> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let standing = output::write_run(stores, summary, format, &mut out).await?;
    out.flush()?;
    report_outcomes(summary);
    Ok(standing)
}

/// Skipped and failed rules go to stderr whatever the format, so that a
/// script reading JSON on stdout still learns of them.
fn report_outcomes(summary: &engine::RunSummary) {
    use crate::store::runs::OutcomeStatus;
    for o in &summary.outcomes {
        match o.status {
            OutcomeStatus::Skipped => eprintln!(
                "warning: rule {} skipped: {}",
                o.rule_id,
                o.reason.as_deref().unwrap_or("")
            ),
            OutcomeStatus::NotApplicable => eprintln!(
                "warning: rule {} not applicable: {}",
                o.rule_id,
                o.reason.as_deref().unwrap_or("")
            ),
            OutcomeStatus::Failed => eprintln!(
                "error: rule {} failed: {}",
                o.rule_id,
                o.reason.as_deref().unwrap_or("")
            ),
            OutcomeStatus::Ok => {
                if let Some(note) = &o.reason {
                    eprintln!("note: rule {}: {note}", o.rule_id);
                }
            }
        }
    }
}

/// The demo's access-review campaign.
const DEMO_REVIEW: &str = "demo-quarterly";

async fn demo(g: &Settings, args: DemoArgs) -> Result<ExitCode> {
    let mut g = g.clone();
    let loaded = Loaded::from_settings(g.clone())?;
    if args.path.exists() {
        std::fs::remove_file(&args.path)
            .with_context(|| format!("replacing {}", args.path.display()))?;
        for suffix in ["-wal", "-shm"] {
            let mut side = args.path.clone().into_os_string();
            side.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(side));
        }
    }
    let url = format!("sqlite://{}", args.path.display());
    let store = Store::open(&url, StoreOptions::default()).await?;
    let org = crate::demo::build(&store, args.seed).await?;
    eprintln!(
        "demo organisation in {}: {} people, {} accounts, {} roles, {} grants, {} events; as of {}",
        args.path.display(),
        org.people,
        org.principals,
        org.roles,
        org.grants,
        org.events,
        crate::model::format_instant(org.as_of)
    );
    // The demo's applications, unless the configuration names its own.
    if g.config.applications.is_empty() {
        for (name, description, owner, directory) in &org.applications {
            g.config.applications.insert(
                name.to_string(),
                crate::config::ApplicationConfig {
                    description: Some(description.to_string()),
                    owner: Some(owner.clone()),
                    criticality: crate::config::Criticality::High,
                    directory: *directory,
                },
            );
        }
    }
    let loaded = Loaded {
        settings: g.clone(),
        ..loaded
    };
    let set = &loaded.rules;
    let g = &g;
    let rules = loaded.rules_for(Some(DEMO_JOB), &[])?;
    // Earlier runs of the job first, so that the report shows what is new,
    // still open and resolved, and its chart has a history. (45 days: the
    // planted cases are recent, and one of them resolves in that time.)
    for days in [90, 45] {
        let earlier = org.as_of - chrono::Duration::days(days);
        loaded
            .run(&store, &store, &rules, earlier, Some(DEMO_JOB))
            .await?;
    }
    // Accepted risks, as a versioned file would hold them: one live, one expired.
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let exceptions_file = args.out.join("exceptions.yaml");
    atomic_file::write(&exceptions_file, DEMO_EXCEPTIONS.as_bytes())
        .with_context(|| format!("writing {}", exceptions_file.display()))?;
    let entries = crate::report::exceptions::parse_file(&exceptions_file, DEMO_EXCEPTIONS, |r| {
        set.get(r).is_some()
    })?;
    crate::report::exceptions::replace_from_file(&store, &entries, org.as_of).await?;
    let summary = loaded
        .run(&store, &store, &rules, org.as_of, Some(DEMO_JOB))
        .await?;
    print_run(
        output::RunStores::recorded(&store),
        &summary,
        format(args.format),
    )
    .await?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (name, format) in [
        ("findings.json", output::Format::Json),
        ("findings.csv", output::Format::Csv),
    ] {
        let mut buffer = Vec::new();
        output::write_run(
            output::RunStores::recorded(&store),
            &summary,
            format,
            &mut buffer,
        )
        .await?;
        let path = args.out.join(name);
        atomic_file::write(&path, &buffer)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "findings written to {}/findings.json and findings.csv",
        args.out.display()
    );
    let report = app::reports::render_and_archive(&store, &loaded, summary.run_id).await?;
    let files = app::reports::write_files(&report, None, &args.out)?;
    let c = report.counts;
    eprintln!(
        "monthly report ({} new, {} open, {} resolved, {} accepted) written to {}; open the .html in a browser or the .eml in a mail client",
        c.new,
        c.open,
        c.resolved,
        c.accepted,
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "verify its archived copy: accessaudit --database {url} runs verify {}",
        summary.run_id
    );
    // An access review of the demo's sensitive access, as a quarterly
    // campaign would open it: each holder's manager reviews.
    let mut review_config = g.config.clone();
    review_config.reviews.insert(
        DEMO_REVIEW.to_string(),
        crate::config::ReviewConfig {
            schedule: None,
            scope: crate::config::ReviewScope {
                sensitive_only: true,
                ..Default::default()
            },
            reviewer: crate::config::ReviewerRule::Manager,
            fallback: "compliance".into(),
            duration: crate::model::Span::days(14),
            reminders: vec![crate::model::Span::days(3)],
            escalation: None,
            at_deadline: crate::config::DeadlineAction::None,
            justification: crate::config::JustificationRule::Sensitive,
            remediation_sla: crate::model::Span::days(7),
            unchanged: crate::config::DeltaPolicy::Prefill,
            recipients: vec!["compliance".into()],
            revocations_to: vec!["it".into()],
            findings_from: DEMO_JOB.into(),
        },
    );
    let now = chrono::Utc::now();
    if let Some(opened) =
        crate::review::open::open(&store, &review_config, DEMO_REVIEW, org.as_of, None, now).await?
    {
        let busiest = opened
            .reviewers
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(k, _)| k.trim_start_matches("person:").to_string())
            .unwrap_or_default();
        eprintln!(
            "access review {} opened: {} items of sensitive access for {} reviewers; review them in a browser: accessaudit --database {url} reviews page {} --reviewer {busiest}",
            opened.campaign_id,
            opened.items,
            opened.reviewers.len(),
            opened.campaign_id
        );
    }
    eprintln!(
        "explore it: accessaudit --database {url} run --as-of {} --format json",
        crate::model::format_instant(org.as_of)
    );
    // The file alone holds the demo (no -wal beside it): it can be copied.
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The demo's runs belong to the monthly job of the embedded configuration.
const DEMO_JOB: &str = "monthly";

/// The demo's accepted risks (written beside the report as exceptions.yaml).
const DEMO_EXCEPTIONS: &str = include_str!("../examples/demo-exceptions.yaml");
