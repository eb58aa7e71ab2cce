//! The command line (clap): what a person or a script types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::model::Severity;

/// accessaudit: periodic access review and compliance auditing.
///
/// Loads audit rules (YAML), scans the account, grant and log tables of an
/// application as of an instant, and reports what it finds.
#[derive(Debug, Parser)]
#[command(name = "accessaudit", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options (every command)")]
pub struct GlobalArgs {
    /// The configuration file (database, rules, templates, mail, jobs);
    /// without one, the embedded default (examples/embedded.yaml).
    #[arg(long, global = true, env = "ACCESSAUDIT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Database URL: sqlite://PATH or postgres://… (only migrate, import,
    /// sync, demo and serve create a missing SQLite file)
    /// [default: the config file's, else sqlite://accessaudit.db]
    #[arg(
        long,
        global = true,
        env = "ACCESSAUDIT_DATABASE_URL",
        hide_env_values = true
    )]
    pub database: Option<String>,

    /// PostgreSQL: the URL scans connect with, as a role that may only read
    /// the canonical tables [default: the config file's, else the database
    /// URL's role].
    #[arg(
        long,
        global = true,
        env = "ACCESSAUDIT_SCAN_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub scan_database: Option<String>,

    /// A directory (or file) of the deployment's own rules and overrides,
    /// loaded after the shipped rules; repeat for several.
    #[arg(
        long = "rules",
        id = "rules_dirs",
        value_name = "DIR",
        global = true,
        env = "ACCESSAUDIT_RULES",
        value_delimiter = ','
    )]
    pub rules: Vec<PathBuf>,

    /// Do not load the shipped rules, only those given with --rules.
    #[arg(long, global = true)]
    pub no_builtin_rules: bool,

    /// The longest one scan statement may run, e.g. 5m [default: the
    /// config file's, else 5m].
    #[arg(long, global = true, value_parser = humantime::parse_duration)]
    pub statement_timeout: Option<std::time::Duration>,

    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "ACCESSAUDIT_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
}

/// How `run` and `demo` print findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for a person at a terminal.
    Table,
    /// `{run_id, as_of, rules, findings}`: the JSON contract (docs/CANONICAL.md).
    Json,
    /// One finding per row, with the evidence as JSON.
    Csv,
}

/// How lists (`rules list`, `runs list`, `exceptions list`) are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ListFormat {
    /// Aligned columns for a person.
    #[default]
    Table,
    /// One JSON array, for scripts.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `accessaudit migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// PostgreSQL: partition `events` by month, so that `retention` drops
    /// whole months (every row is copied once, in one transaction). Rules
    /// that look for an account's last event of any age read one index per
    /// month: measured 1.6-2.1x slower at 19 months (README, "Retention").
    #[arg(long)]
    pub partition_events: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the database schema.
    Migrate(MigrateArgs),
    /// Import a CSV file into a canonical table (all rows or none).
    Import(ImportArgs),
    /// List, validate or test rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Evaluate rules now (or as of a past instant) and print the findings.
    Run(RunArgs),
    /// Read the configured sources (foreign systems) into the canonical
    /// tables through their mappings: all of a source or nothing.
    Sync(SyncArgs),
    /// Build a demo CRM organisation in SQLite, run every rule on it, print the
    /// findings and leave its monthly report (.eml, .html, .csv).
    Demo(DemoArgs),
    /// Remove events older than --keep: on PostgreSQL whole months are
    /// dropped (the month the cutoff falls in is kept whole); on SQLite the
    /// rows are deleted in short batches and the space handed back. Every
    /// run is recorded: a later `run --as-of` that would read removed events
    /// skips the rule and says why.
    Retention(RetentionArgs),
    /// Run as a service: scheduled jobs, mail delivery, /healthz and /metrics
    /// (configured by --config; SIGHUP reloads, SIGTERM stops).
    Serve,
    /// Render the report of a run into files (.eml, .html, .csv) and archive it.
    Report(ReportArgs),
    /// Recorded runs: list them, verify their archived reports.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Signing keys of reports (Ed25519).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check a signed report offline, with no database: its signature with
    /// the public key, and every part against the signed manifest. Exit 0
    /// when intact, 1 with the reason when not (changed, wrong key, unsigned).
    Verify(VerifyArgs),
    /// Accepted risks: findings reported as accepted instead of open.
    #[command(subcommand)]
    Exceptions(ExceptionsCommand),
    /// Access reviews: open a campaign, decide items, export and import
    /// decisions, close it with its evidence report.
    #[command(subcommand)]
    Reviews(ReviewsCommand),
    /// Check the configuration and what the database roles may do.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// People: one person's accounts, roles, permissions and findings
    /// across every application.
    #[command(subcommand)]
    People(PeopleCommand),
    /// Personal data in masked reports: re-identify pseudonyms (auditors,
    /// with the key of `pii.key_file`/`pii.key_env`).
    #[command(subcommand)]
    Pii(PiiCommand),
    /// Print the canonical model: every table, column, type and allowed
    /// value, what each rule reads, and the output contract (docs/CANONICAL.md).
    Schema,
    /// Print a shell completion script (e.g. `accessaudit completions bash
    /// > /etc/bash_completion.d/accessaudit`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; `accessaudit man | man -l -`).
    Man,
}

#[derive(Debug, Subcommand)]
pub enum PeopleCommand {
    /// A person's accounts in every application (how each is linked to
    /// them), each account's live roles with what they permit, and the
    /// findings about them in the latest succeeded run at or before T.
    /// Exit 1 when no person has that id or email.
    Show {
        /// The person: a `people.id`, or an email (ignoring case).
        who: String,
        /// The instant (RFC 3339 or a date; default now).
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
        /// Output format (JSON: README, "people show").
        #[arg(long, value_enum, default_value = "text")]
        format: PeopleFormat,
    },
}

/// How `people show` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PeopleFormat {
    /// Lines for a person.
    #[default]
    Text,
    /// JSON, for scripts.
    Json,
}

/// How `reviews` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReviewFormat {
    /// Aligned columns for a person.
    #[default]
    Table,
    /// JSON, for scripts.
    Json,
    /// CSV, for a spreadsheet (`import-decisions` reads it back).
    Csv,
}

/// keep or revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DecisionArg {
    Keep,
    Revoke,
}

#[derive(Debug, Subcommand)]
pub enum ReviewsCommand {
    /// Open a campaign of `reviews:` now: its population frozen as of
    /// --as-of (default now), every reviewer invited through the outbox.
    Open {
        /// The campaign's name in `reviews:`.
        name: String,
        /// The instant whose live grants are reviewed (RFC 3339 or a date).
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Every campaign, the newest first, with its progress.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: ReviewFormat,
    },
    /// One campaign: its items with reviewer, decision and context, and the
    /// state of its revocations (done / pending / overdue).
    Show {
        /// The campaign id.
        id: i64,
        /// Only the items of this reviewer (address or people id).
        #[arg(long)]
        reviewer: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: ReviewFormat,
    },
    /// Decide items (all or none): keep or revoke, as their reviewer.
    Decide {
        /// The campaign id.
        id: i64,
        /// Item ids.
        #[arg(required = true)]
        items: Vec<i64>,
        /// keep or revoke.
        #[arg(long, value_enum)]
        decision: DecisionArg,
        /// Who decides: the items' reviewer (address or people id).
        #[arg(long)]
        by: String,
        /// Why (required where the campaign asks for it).
        #[arg(long)]
        justification: Option<String>,
    },
    /// Hand items over to another reviewer (recorded; they are told).
    Delegate {
        id: i64,
        #[arg(required = true)]
        items: Vec<i64>,
        /// The items' reviewer handing them over.
        #[arg(long)]
        by: String,
        /// The new reviewer: a people id, an address or a recipient group.
        #[arg(long)]
        to: String,
    },
    /// Record the decisions of a CSV file (`export --format csv`, filled
    /// in): all or nothing, errors by line and column.
    ImportDecisions {
        id: i64,
        file: PathBuf,
        /// Who decides every row [default: each row's `reviewer`].
        #[arg(long)]
        by: Option<String>,
    },
    /// Print a campaign's items for a spreadsheet or a script.
    Export {
        id: i64,
        #[arg(long, value_enum, default_value = "csv")]
        format: ReviewFormat,
    },
    /// Close a campaign now: the deadline's action on undecided items, the
    /// revocations to IT, the evidence report archived and sent.
    Close {
        id: i64,
        /// Also write the evidence report into this directory (.eml).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Issue a new personal link for a reviewer and print it.
    Link {
        id: i64,
        /// The reviewer (address, people id or recipient group).
        #[arg(long)]
        reviewer: String,
    },
    /// Serve one reviewer's page from this machine and print its link,
    /// until interrupted (Ctrl-C): a try-out, or reviews without the daemon.
    Page {
        id: i64,
        /// The reviewer (address, people id or recipient group).
        #[arg(long)]
        reviewer: String,
        /// The local address to listen on.
        #[arg(long, default_value = "127.0.0.1:8089")]
        listen: std::net::SocketAddr,
    },
    /// Revoke the links of a reviewer (or every link of the campaign).
    RevokeLinks {
        id: i64,
        #[arg(long)]
        reviewer: Option<String>,
    },
    /// Remind every reviewer with undecided items now.
    Remind { id: i64 },
    /// Move undecided items to the reviewers' managers (or the fallback) now.
    Escalate { id: i64 },
    /// Recompute the SHA-256 of a closed campaign's archived evidence
    /// report (and of a received copy with --file); exit 1 on a mismatch.
    Verify {
        id: i64,
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PiiCommand {
    /// Print the account or person each pseudonym (`pii-…`) stands for,
    /// found by hashing the store's logins, emails, names and ids again
    /// with the key; exit 1 when one is not found.
    Reveal {
        /// Pseudonyms as a pseudonymised report shows them.
        #[arg(required = true)]
        tokens: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load the configuration with its rules, templates and schedules, open
    /// the database, and measure the privileges of the role scans run as:
    /// exits non-zero when something is wrong, or when the scan role may do
    /// more than read the canonical tables and `require_least_privilege` is
    /// set.
    Check,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["run", "job"])))]
pub struct ReportArgs {
    /// The run to report.
    #[arg(long)]
    pub run: Option<i64>,
    /// Report the latest run of this job.
    #[arg(long)]
    pub job: Option<String>,
    /// Directory of the files [default: the config's reports_dir, else the
    /// working directory].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the messages routing makes of the run, as the daemon
    /// queues them: each manager's digest, the fallback's, and the report
    /// pseudonymised or masked for recipient groups (`jobs.NAME.digests`,
    /// `pii.groups`); files `JOB-runID-TAG.eml`, `.html`, `-findings.csv`.
    #[arg(long)]
    pub routed: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// The recorded runs, the most recently started first, with their
    /// archived reports.
    List {
        /// Only the runs of this job.
        #[arg(long)]
        job: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Recompute the SHA-256 of a run's archived reports and compare; with
    /// --chain, walk the whole ledger. Exit 1 on any mismatch.
    Verify {
        /// The run id (optional with --chain).
        #[arg(required_unless_present = "chain")]
        id: Option<i64>,
        /// Also check that this .eml file is byte for byte an archived report of the run.
        #[arg(long, requires = "id")]
        file: Option<PathBuf>,
        /// Walk the whole ledger: every entry chained to the one before, no
        /// gap, every archived report as recorded and none unrecorded; name
        /// the first entry changed, removed or inserted.
        #[arg(long)]
        chain: bool,
    },
    /// Write a file archived with a report by its SHA-256: the CSV of
    /// findings a report's message names instead of attaching it (larger
    /// than `report.max_attachment_bytes`). Exit 1 if the archived bytes
    /// no longer have that SHA-256.
    File {
        /// The SHA-256 the message names.
        sha256: String,
        /// Write here (atomically); default: the file's own name in the
        /// current directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a recorded run for other tools: `--format oscal`, NIST OSCAL
    /// 1.0.6 assessment results (JSON) with the run's findings,
    /// observations with their evidence, and the controls its rules name.
    Export {
        /// The run id.
        id: i64,
        /// The format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Write to this file (atomically) instead of standard output; with
        /// a report signing key configured, its Ed25519 signature beside it
        /// (FILE.sig).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// What `runs export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// OSCAL 1.0.6 assessment results, JSON.
    Oscal,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new Ed25519 key pair for signing reports: the private key
    /// (PKCS#8 PEM, mode 0600) and the public key (PEM) beside it; prints
    /// the public key. Never overwrites a file.
    Generate {
        /// The private key file to write (point `report.signing_key_file` at it).
        private_key: PathBuf,
        /// The public key file [default: PRIVATE_KEY.pub].
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Print the public key (PEM) and fingerprint of a private key file, or
    /// of the configured `report.signing_key_file`/`signing_key_env`.
    Public {
        /// A private key file [default: the configured signing key].
        private_key: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A received report: the .eml (self-contained), or its .html or
    /// -findings.csv file with the manifest and signature beside it; or an
    /// OSCAL export (.json) with its signature (FILE.sig) beside it.
    pub file: PathBuf,
    /// The public key of the deployment that signed it (PEM).
    #[arg(long, value_name = "KEY")]
    pub public_key: PathBuf,
    /// The manifest (`….manifest.json`, its `.sig` beside it) of a file
    /// that is no .eml [default: the one beside FILE].
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ExceptionsCommand {
    /// Accept a risk: a rule and a subject (or pattern), with reason, approver, expiry.
    Add {
        /// The rule id.
        #[arg(long)]
        rule: String,
        /// A subject id, or a pattern: `*` any characters, `?` one.
        #[arg(long)]
        subject: String,
        /// Why the risk is accepted (required).
        #[arg(long)]
        reason: String,
        /// Who approved it (required).
        #[arg(long)]
        approved_by: String,
        /// When it stops covering (RFC 3339 or a date; required, in the future).
        #[arg(long, value_parser = parse_as_of)]
        expires: chrono::DateTime<chrono::Utc>,
    },
    /// List every exception, live and expired.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Remove an exception by id.
    Remove {
        /// The exception's id (`exceptions list` shows it).
        id: i64,
    },
    /// Load the exceptions of a versioned YAML file, replacing those loaded
    /// from a file before (those added with `add` stay).
    Load {
        /// The YAML file (`exceptions: [{rule, subject, reason, approved_by, expires}]`).
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// people, principals, roles, role_permissions, grants or events.
    pub table: String,
    /// A CSV file whose header names the columns (any order).
    pub file: PathBuf,
    /// The field separator: one character, or `tab` [default: ,].
    #[arg(long, value_parser = parse_delimiter, default_value = ",")]
    pub delimiter: u8,
    /// The IANA time zone of times without an offset (`2026-11-01
    /// 08:00:00`, a date alone), e.g. Asia/Shanghai [default: UTC].
    #[arg(long, value_parser = parse_timezone)]
    pub timezone: Option<chrono_tz::Tz>,
    /// The application the file's accounts and roles are in: every
    /// account, role, grant and event id (and `principal_id`, `role_id`)
    /// is stored as APPLICATION:ID, so applications whose ids collide
    /// coexist. Without it: the file's `application` column, else
    /// `default`, and ids as given.
    #[arg(long, value_name = "NAME")]
    pub application: Option<String>,
}

fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(format!("`{s}` is not one ASCII character (or `tab`)")),
    }
}

fn parse_timezone(s: &str) -> Result<chrono_tz::Tz, String> {
    s.parse().map_err(|_| {
        format!("`{s}` is not an IANA time zone (e.g. Asia/Shanghai, Europe/Berlin, UTC)")
    })
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the loaded rules.
    List {
        /// Output format (JSON: each rule whole, with its parameters).
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Check rule files; with no PATH, the loaded rules.
    Validate {
        /// Rule files or directories to check (after the shipped rules).
        paths: Vec<PathBuf>,
    },
    /// Run rule tests (`*.test.yaml`) on a scratch SQLite database.
    Test {
        /// Test files or directories; with none, the shipped tests and those
        /// in the --rules directories.
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run only this rule; repeat for several.
    #[arg(long = "rule")]
    pub rules: Vec<String>,
    /// Evaluate as of this instant (RFC 3339; a date, or a time without an
    /// offset such as `2026-11-01 08:00:00`, in UTC).
    #[arg(long, value_parser = parse_as_of)]
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Exit with status 3 when a finding that no exception accepts is at or
    /// above this severity.
    #[arg(long, value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// Exit 0 (or 3) even when a rule was skipped (e.g. a stale event feed);
    /// a failed rule still exits 4.
    #[arg(long)]
    pub allow_skipped: bool,
    /// Evaluate without recording the run (an auditor's rerun): nothing is
    /// written to the database. Automatic on a database this process may
    /// not write.
    #[arg(long)]
    pub no_record: bool,
    /// With --format csv: start with a UTF-8 byte-order mark, so that Excel
    /// shows non-ASCII text (Chinese names) correctly.
    #[arg(long)]
    pub excel: bool,
    /// Run as this job: a job of the config file runs its own rules and is
    /// what new / open / resolved compare within; another name records an
    /// ad-hoc job (all enabled rules, or those given with --rule).
    #[arg(long)]
    pub job: Option<String>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Sync only this source (a name under `sources:`); repeat for several.
    #[arg(long = "source")]
    pub sources: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RetentionArgs {
    /// How much event history to keep, back from now: e.g. 18mo (a month
    /// is 30.44 days), 540d, 2y.
    #[arg(long, value_name = "SPAN", value_parser = parse_keep)]
    pub keep: Keep,
    /// Print what would be removed (per month on PostgreSQL, rows and their
    /// span on SQLite) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep less history than a configured rule reads (its lookback or
    /// window): that rule then judges on partial history.
    #[arg(long)]
    pub force: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: RetentionFormat,
}

/// `--keep`: the span, and the text it was written as (recorded).
#[derive(Debug, Clone)]
pub struct Keep {
    pub text: String,
    pub span: crate::model::Span,
}

fn parse_keep(s: &str) -> Result<Keep, String> {
    Ok(Keep {
        text: s.trim().to_string(),
        span: s.parse()?,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RetentionFormat {
    Text,
    /// One JSON object, for scripts.
    Json,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The SQLite file to build (replaced when it exists).
    #[arg(long, default_value = "accessaudit-demo.db")]
    pub path: PathBuf,
    /// Output format of the findings.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Random seed of the generated organisation.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Directory the findings (findings.json, findings.csv) and the monthly
    /// report (.eml, .html, .csv) are written to.
    #[arg(long, default_value = "accessaudit-demo")]
    pub out: PathBuf,
}

fn parse_as_of(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    crate::model::parse_instant(s)
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse::<Severity>().map_err(|e| e.to_string())
}
