//! `accessaudit-bench`: the benchmark of BENCHMARKS.md.
//!
//! ```text
//! accessaudit-bench generate --database URL --scale 1      # 1M accounts, 3M grants, 50M events
//! accessaudit-bench compare  --database URL --runs 3       # every rule vs its reference SQL, + monthly job
//! accessaudit-bench alert    --database URL --new-events 10000
//! accessaudit-bench import   --database URL --rows 1000000 # CSV import against the own loader
//! accessaudit-bench floor    --database URL --runs 3       # what storing the findings costs the database itself
//! accessaudit-bench reference --database URL --rule idle-accounts  # print its reference SQL
//! ```
//!
//! The engine is the `accessaudit` binary beside this one (or `--accessaudit`),
//! run as a child process like a user would; the references run in `sqlite3`
//! or `psql`. Build both with `cargo build --release --workspace`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

use accessaudit::store::{Store, StoreOptions};
use accessaudit_bench::generate::{self, GenerateOptions};
use accessaudit_bench::harness::{self, Engine, Target};
use accessaudit_bench::reference::{self, RULES};

#[derive(Debug, Parser)]
#[command(name = "accessaudit-bench", about = "Benchmarks accessaudit at scale")]
struct Cli {
    /// sqlite://PATH or postgres://… (PostgreSQL: options[search_path]=SCHEMA picks a schema).
    #[arg(long, env = "ACCESSAUDIT_BENCH_DATABASE", hide_env_values = true)]
    database: String,
    /// The accessaudit binary [default: beside this one].
    #[arg(long)]
    accessaudit: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Fill an empty database with a generated organisation.
    Generate {
        /// 1.0 = 1,000,000 accounts and ~3,000,000 grants.
        #[arg(long, default_value_t = 0.01)]
        scale: f64,
        /// Mean events per account over the 18 months (50 → 50M events at scale 1).
        #[arg(long, default_value_t = 50.0)]
        events_per_account: f64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Every shipped rule: engine vs reference SQL (median of --runs), then
    /// the monthly job (all rules) unless --rules-only.
    Compare {
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Only these rules.
        #[arg(long = "rule")]
        rules: Vec<String>,
        /// Only the rules: skip the all-rules run and the monthly job.
        #[arg(long)]
        rules_only: bool,
        /// Untimed runs of each rule and its reference before the timed
        /// ones: a rule measured right after others that read other parts
        /// of the events table would otherwise read from disk.
        #[arg(long, default_value_t = 1)]
        warmup: usize,
    },
    /// Per rule: what storing and reading back the engine's findings costs
    /// the database alone (its own client, rolled back), beside the
    /// reference and the engine: the least any engine that records and
    /// prints its findings can take.
    Floor {
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Only these rules.
        #[arg(long = "rule")]
        rules: Vec<String>,
        #[arg(long, default_value_t = 1)]
        warmup: usize,
    },
    /// Append new events after the audit instant (replacing those of an
    /// earlier run of this command) and time the export-alert scan over just
    /// them (bulk-export with the lookback of the alert job).
    Alert {
        #[arg(long, default_value_t = 10_000)]
        new_events: u64,
        /// The span the new events cover, and the alert job's lookback.
        #[arg(long, default_value_t = 10)]
        minutes: i64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// The --scale the data set was generated with (which accounts exist).
        #[arg(long, default_value_t = 0.01)]
        scale: f64,
    },
    /// Print a rule's reference query, as `compare` runs it in `sqlite3` or
    /// `psql` against this database's backend (to time or explain by hand).
    Reference {
        #[arg(long)]
        rule: String,
    },
    /// CSV import throughput of events into the (empty) events table,
    /// alternately with the database's own loader on the same file.
    Import {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let binary = match cli.accessaudit {
        Some(b) => b,
        None => std::env::current_exe()
            .context("locating this binary")?
            .with_file_name("accessaudit"),
    };
    let engine = Engine { binary };
    let target = Target::new(&cli.database)?;
    let rt = tokio::runtime::Runtime::new()?;
    let open = || {
        rt.block_on(Store::open(&cli.database, StoreOptions::default()))
            .context("opening the benchmark database")
    };
    match cli.command {
        Cmd::Generate {
            scale,
            events_per_account,
            seed,
        } => {
            let store = open()?;
            let opts = GenerateOptions {
                scale,
                events_per_account,
                seed,
            };
            let start = Instant::now();
            // A progress line on a terminal only.
            let progress =
                accessaudit::support::progress::spinner("generating the data set".into());
            let made = rt.block_on(generate::generate(&store, &opts));
            progress.finish_and_clear();
            let made = made?;
            let secs = start.elapsed().as_secs_f64();
            let rows = made.people + made.principals + made.grants + made.events;
            println!(
                "generated {} people, {} accounts, {} grants, {} events in {secs:.1} s ({:.0} rows/s, indexes and ANALYZE included)",
                made.people,
                made.principals,
                made.grants,
                made.events,
                rows as f64 / secs
            );
        }
        Cmd::Compare {
            runs,
            rules,
            rules_only,
            warmup,
        } => {
            let t = generate::as_of();
            let selected = selected_rules(&rules);
            println!(
                "| rule | findings | accessaudit (median of {runs}) | reference {} | ratio | accessaudit peak RSS | same findings |",
                match target.backend {
                    accessaudit::store::Backend::Sqlite => "sqlite3",
                    accessaudit::store::Backend::Postgres => "psql",
                }
            );
            println!("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
            let every_rule = selected.len() == RULES.len();
            let mut disagree = Vec::new();
            let mut references = std::time::Duration::ZERO;
            for rule in selected {
                harness::warm_up(&engine, &target, rule, t, warmup)?;
                let c = harness::compare_rule(&engine, &target, rule, t, runs)?;
                references += c.reference_median();
                println!(
                    "| {rule} | {} | {:.3} s | {:.3} s | {:.2}x | {:.1} MB | {} |",
                    c.findings,
                    c.engine_median().as_secs_f64(),
                    c.reference_median().as_secs_f64(),
                    c.ratio(),
                    c.engine_max_rss_kib() as f64 / 1024.0,
                    if c.agree() { "yes" } else { "NO" }
                );
                if !c.agree() {
                    disagree.push(format!(
                        "{rule}: only accessaudit {:?}…; only the reference {:?}…",
                        &c.only_engine[..c.only_engine.len().min(5)],
                        &c.only_reference[..c.only_reference.len().min(5)]
                    ));
                }
            }
            if !rules_only {
                // The job's target is against the sum of every rule's reference.
                compare_jobs(&engine, &target, t, runs, every_rule.then_some(references))?;
            }
            if !disagree.is_empty() {
                bail!("findings differ:\n{}", disagree.join("\n"));
            }
        }
        Cmd::Floor {
            runs,
            rules,
            warmup,
        } => {
            let t = generate::as_of();
            println!(
                "| rule | findings | reference (median of {runs}) | store | read back | floor: max(reference, store) + read back | floor / reference | accessaudit | accessaudit / reference |"
            );
            println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            for rule in selected_rules(&rules) {
                harness::warm_up(&engine, &target, rule, t, warmup)?;
                let f = harness::floor_rule(&engine, &target, rule, t, runs)?;
                let secs = |d: std::time::Duration| d.as_secs_f64();
                let floor = f.reference.max(f.store) + f.read_back;
                println!(
                    "| {rule} | {} | {:.3} s | {:.3} s | {:.3} s | {:.3} s | {:.2}x | {:.3} s | {:.2}x |",
                    f.findings,
                    secs(f.reference),
                    secs(f.store),
                    secs(f.read_back),
                    secs(floor),
                    secs(floor) / secs(f.reference),
                    secs(f.engine),
                    secs(f.engine) / secs(f.reference),
                );
            }
        }
        Cmd::Alert {
            new_events,
            minutes,
            runs,
            scale,
        } => {
            let store = open()?;
            let opts = GenerateOptions {
                scale,
                ..GenerateOptions::default()
            };
            let t = rt.block_on(generate::append_events(&store, &opts, new_events, minutes))?;
            // The alert job: bulk-export over what arrived since the last scan.
            let dir = tempfile::tempdir()?;
            std::fs::write(
                dir.path().join("bulk-export-alert.yaml"),
                format!("override: bulk-export\nparams:\n  lookback: {minutes}m\n"),
            )?;
            let mut scans = harness::Series::default();
            let mut findings = 0;
            for _ in 0..runs.max(1) {
                let m = engine.run(&target, t, &["bulk-export"], &[dir.path()])?;
                findings = harness::engine_findings(&m.stdout, "bulk-export")?.len();
                scans.push(&m);
            }
            println!(
                "export-alert scan of {new_events} new events ({minutes} min): {:.3} s median of {runs}, {findings} findings, peak RSS {:.1} MB",
                scans.median_secs(),
                scans.peak_mb()
            );
        }
        Cmd::Reference { rule } => {
            let sql =
                reference::sql(&rule, target.backend, generate::as_of()).with_context(|| {
                    format!(
                        "no reference query for {rule}; the rules: {}",
                        RULES.join(", ")
                    )
                })?;
            println!("{sql}");
        }
        Cmd::Import { rows, runs } => {
            let store = open()?; // migrated, so the import times only the load
            let dir = tempfile::tempdir()?;
            let file = dir.path().join("events.csv");
            let written = generate::write_events_csv(&file, &GenerateOptions::default(), rows)?;
            let mb = std::fs::metadata(&file)?.len() as f64 / 1e6;
            let table = accessaudit::collect::tables::EVENTS.name;
            let columns: Vec<&str> = accessaudit::collect::tables::EVENTS
                .columns
                .iter()
                .map(|c| c.name)
                .collect();
            let indexes: Vec<(String, String)> = rt
                .block_on(async {
                    let mut tx = store.begin().await?;
                    let found = tx.secondary_indexes(table).await;
                    tx.rollback().await?;
                    found
                })?
                .into_iter()
                .map(|i| (i.name, i.create_sql))
                .collect();
            // Each load starts from an empty table (on SQLite the freed pages
            // stay in the file, for both sides alike).
            let empty = || -> anyhow::Result<()> {
                rt.block_on(async {
                    match target.backend {
                        accessaudit::store::Backend::Sqlite => {
                            store.execute(&format!("DELETE FROM {table}"), &[]).await?;
                        }
                        accessaudit::store::Backend::Postgres => {
                            store.execute(&format!("TRUNCATE {table}"), &[]).await?;
                        }
                    }
                    Ok::<_, accessaudit::store::StoreError>(())
                })?;
                Ok(())
            };
            let mut ours = harness::Series::default();
            let mut theirs = harness::Series::default();
            for run in 0..runs.max(1) {
                empty()?;
                let m = engine.import(&target, table, &file)?;
                println!(
                    "run {}: accessaudit import {:.2} s",
                    run + 1,
                    m.wall.as_secs_f64()
                );
                ours.push(&m);
                empty()?;
                let m = target.load_with_own_client(table, &columns, &file, &indexes)?;
                println!("run {}: own loader {:.2} s", run + 1, m.wall.as_secs_f64());
                theirs.push(&m);
            }
            let (a, b) = (ours.median_secs(), theirs.median_secs());
            println!(
                "imported {written} events ({mb:.0} MB CSV), median of {runs}: accessaudit {a:.2} s \
                 ({:.0} rows/s, peak RSS {:.1} MB), the database's own loader {b:.2} s ({:.0} rows/s): \
                 {:.2}x",
                written as f64 / a,
                ours.peak_mb(),
                written as f64 / b,
                a / b
            );
        }
    }
    Ok(())
}

/// The rules named by `--rule`, or every rule the benchmark knows.
fn selected_rules(named: &[String]) -> Vec<&str> {
    if named.is_empty() {
        RULES.to_vec()
    } else {
        named.iter().map(String::as_str).collect()
    }
}

/// The whole-run rows of `compare`: all rules in one run, then the monthly
/// job's run and report, and (given the sum of every rule's reference
/// median) the whole job against that sum.
fn compare_jobs(
    engine: &Engine,
    target: &Target,
    t: chrono::DateTime<chrono::Utc>,
    runs: usize,
    references: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let mut all_rules = harness::Series::default();
    for _ in 0..runs.max(1) {
        all_rules.push(&harness::run_and_forget(engine, target, t, &[])?);
    }
    println!("{}", all_rules.row("all rules, one run"));
    // The monthly job as the daemon runs it: the job's run (first-seen
    // carried from the run a month before) and its report. Each
    // report compares with a run a month earlier, made just before
    // it (the job's runs from that month on are forgotten first):
    // against a run of the same instant nothing would be new or
    // resolved, and the report would list far fewer findings.
    let before = t - chrono::Duration::days(30);
    let out = tempfile::tempdir()?;
    let (mut job_runs, mut reports) = (harness::Series::default(), harness::Series::default());
    for _ in 0..runs.max(1) {
        target.forget_runs("monthly", &reference::at(target.backend, before))?;
        engine.run_job(target, before, "monthly")?;
        job_runs.push(&engine.run_job(target, t, "monthly")?);
        reports.push(&engine.report(target, "monthly", out.path())?);
    }
    println!("{}", job_runs.row("monthly job: `run --job monthly`"));
    println!("{}", reports.row("monthly job: `report --job monthly`"));
    if let Some(references) = references {
        let job = job_runs.median_secs() + reports.median_secs();
        let sum = references.as_secs_f64();
        println!(
            "| monthly job: run + report | | {job:.3} s | {sum:.3} s (every rule's reference) | {:.2}x | | |",
            job / sum
        );
    }
    Ok(())
}
