//! Running what is measured as child processes: the `accessaudit` binary and
//! the databases' own clients (`sqlite3`, `psql`). Each child is timed by the
//! wall clock and its peak resident memory read by `/usr/bin/time` (see
//! [`measure`]), so the figures are what a user of each tool would see,
//! start-up included.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use accessaudit::model::format_instant;
use accessaudit::store::Backend;

/// One measured child process.
#[derive(Debug, Clone)]
pub struct Measured {
    pub wall: Duration,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
    pub stdout: String,
}

/// A finding as both sides print it: `subject_type|subject_id|severity`.
pub type FindingKeys = BTreeSet<String>;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("starting {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: String,
        status: String,
        stderr: String,
    },
    #[error("reading the output of {program}: {message}")]
    Output { program: String, message: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("unsupported database URL for the benchmark (sqlite:// or postgres://)")]
    Url,
}

pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// Runs `cmd` to completion with stdout and stderr in temporary files (no
/// pipe can fill up) and measures it.
///
/// Peak RSS comes from `/usr/bin/time -f %M` around the command, not from
/// our own `wait4`: Linux carries the RSS high-water mark of the image
/// before `execve` into the child's `ru_maxrss`, so a child spawned from a
/// large benchmark process would report the benchmark's memory (seen: 2.5 GB
/// for a 15 MB scan). `time` is small, so its child's figure is the child's.
pub fn measure(cmd: Command, stdin: Option<&Path>) -> Result<Measured> {
    let rss_file = tempfile::NamedTempFile::new()?;
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M", "-o"])
        .arg(rss_file.path())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut m = measure_direct(timed, stdin).map_err(|e| match e {
        HarnessError::Failed { status, stderr, .. } => HarnessError::Failed {
            program: program.clone(),
            status,
            stderr,
        },
        e => e,
    })?;
    let reported = std::fs::read_to_string(rss_file.path())?;
    m.max_rss_kib = reported
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .ok_or_else(|| HarnessError::Output {
            program: "/usr/bin/time".into(),
            message: format!("no peak RSS in {reported:?}"),
        })?;
    Ok(m)
}

/// Runs `cmd` and reads its usage from `wait4` directly.
fn measure_direct(mut cmd: Command, stdin: Option<&Path>) -> Result<Measured> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = tempfile::tempfile()?;
    let err = tempfile::tempfile()?;
    cmd.stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(err.try_clone()?));
    match stdin {
        Some(path) => cmd.stdin(Stdio::from(std::fs::File::open(path)?)),
        None => cmd.stdin(Stdio::null()),
    };
    let start = Instant::now();
    let child = cmd.spawn().map_err(|source| HarnessError::Spawn {
        program: program.clone(),
        source,
    })?;
    let (status, rss) = wait_with_rusage(child.id())?;
    let wall = start.elapsed();
    let read = |mut f: std::fs::File| -> std::io::Result<String> {
        use std::io::{Read, Seek};
        f.rewind()?;
        let mut s = String::new();
        f.read_to_string(&mut s)?;
        Ok(s)
    };
    let stdout = read(out)?;
    if status != 0 {
        let stderr = read(err)?;
        return Err(HarnessError::Failed {
            program,
            status: format!("wait status {status}"),
            stderr: stderr.trim().chars().take(4000).collect(),
        });
    }
    Ok(Measured {
        wall,
        max_rss_kib: rss,
        stdout,
    })
}

/// Waits for `pid` and returns its raw wait status (0 = exit code 0) and its
/// peak RSS in KiB (Linux reports `ru_maxrss` in KiB).
fn wait_with_rusage(pid: u32) -> Result<(i32, u64)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; pid is our child's.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; the child was spawned by us and is
        // not waited for anywhere else (std's Child is dropped unwaited).
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if r == pid as libc::pid_t {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e.into());
        }
    }
    Ok((status, usage.ru_maxrss.max(0) as u64))
}

/// How to reach the benchmark's database from outside: the engine's URL and
/// what the database's own client needs.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub backend: Backend,
}

impl Target {
    pub fn new(url: &str) -> Result<Target> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(HarnessError::Url);
        };
        Ok(Target {
            url: url.to_string(),
            backend,
        })
    }

    /// The SQLite file of a `sqlite://PATH?…` URL.
    fn sqlite_path(&self) -> String {
        let rest = self
            .url
            .trim_start_matches("sqlite:")
            .trim_start_matches("//");
        rest.split('?').next().unwrap_or(rest).to_string()
    }

    /// libpq does not know sqlx's `options[search_path]=S` parameter: it is
    /// taken out of the URL and handed to psql as `PGOPTIONS`.
    fn psql_url_and_options(&self) -> (String, Option<String>) {
        let Some((base, query)) = self.url.split_once('?') else {
            return (self.url.clone(), None);
        };
        let mut kept = Vec::new();
        let mut schema = None;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("options[search_path]", s)) => schema = Some(s.to_string()),
                _ => kept.push(pair),
            }
        }
        let url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (url, schema.map(|s| format!("-c search_path={s}")))
    }

    /// Loads the CSV `file` (a header, then `table`'s columns in order) with
    /// the database's own loader, as the engine's bulk import does: in one
    /// transaction, the secondary `indexes` (name, CREATE statement) dropped
    /// first and built after. SQLite `.import`, PostgreSQL `\copy`.
    pub fn load_with_own_client(
        &self,
        table: &str,
        columns: &[&str],
        file: &Path,
        indexes: &[(String, String)],
    ) -> Result<Measured> {
        let drops: String = indexes
            .iter()
            .map(|(name, _)| format!("DROP INDEX \"{name}\";\n"))
            .collect();
        let creates: String = indexes.iter().map(|(_, sql)| format!("{sql};\n")).collect();
        let load = match self.backend {
            // `.import` adds to the open transaction (it begins one only in
            // autocommit mode).
            Backend::Sqlite => format!(".import --csv --skip 1 {} {table}\n", file.display()),
            Backend::Postgres => format!(
                "\\copy {table} ({}) FROM '{}' WITH (FORMAT csv, HEADER true)\n\
                 SET LOCAL maintenance_work_mem = '256MB';\n",
                columns.join(", "),
                file.display()
            ),
        };
        self.client(&format!("BEGIN;\n{drops}{load}{creates}COMMIT;\n"), false)
    }

    /// Runs `sql` with the database's own client and returns its output lines.
    pub fn run_client(&self, sql: &str) -> Result<Measured> {
        self.client(sql, true)
    }

    /// Forgets the runs of `job` as of `from` or later, with their
    /// findings and reports, so that the next run of the job at an
    /// instant after `from` has no earlier run of its own instant to be
    /// compared with.
    pub fn forget_runs(&self, job: &str, from: &str) -> Result<Measured> {
        self.forget(&format!(
            "SELECT id FROM runs WHERE job = '{job}' AND as_of >= {from}"
        ))
    }

    /// Forgets the run `id` that a measurement made, with its findings:
    /// each measurement then starts from the same findings table, instead
    /// of one grown by every run measured before it (a `compare` of every
    /// rule once added 0.9M findings at 1M accounts, and sessions of them
    /// left 20M that slowed the writer's index).
    pub fn forget_run(&self, id: i64) -> Result<Measured> {
        self.forget(&id.to_string())
    }

    /// Deletes the runs the query `runs` selects, with their reports and
    /// findings.
    fn forget(&self, runs: &str) -> Result<Measured> {
        let delete = format!(
            "DELETE FROM reports WHERE run_id IN ({runs});
             DELETE FROM runs WHERE id IN ({runs});"
        );
        self.client(
            &match self.backend {
                // The findings go with their run (ON DELETE CASCADE).
                Backend::Sqlite => format!("PRAGMA foreign_keys = ON;\n{delete}"),
                // The findings go by trigger (migration 0019). Vacuumed
                // now, not by autovacuum in the middle of the next
                // measurement (seen: idle-accounts 5.4 s against 3.6 s).
                Backend::Postgres => format!("{delete}\nVACUUM (ANALYZE) findings;"),
            },
            false,
        )
    }

    /// What the findings of run `id` cost the database alone, timed by its
    /// own client (`.timer` / `\timing`, the statements only) inside a
    /// transaction rolled back: storing them again as a new run's, in the
    /// order the engine wrote them, their evidence parsed on PostgreSQL as
    /// the engine's insert parses it (`store`); then reading them in the
    /// stable order a run prints (`read_back`). No engine does less for a
    /// rule whose findings it must record and print.
    pub fn storage_cost(&self, id: i64) -> Result<StorageCost> {
        const COLUMNS: &str =
            "rule, severity, subject_type, subject_id, title, evidence, first_seen_at";
        const ORDER: &str = accessaudit::store::runs::FINDINGS_ORDER;
        let sql = match self.backend {
            Backend::Sqlite => format!(
                "PRAGMA foreign_keys = ON;
                 BEGIN;
                 CREATE TEMP TABLE floor_stage AS
                   SELECT {COLUMNS} FROM findings WHERE run_id = {id} ORDER BY rowid;
                 INSERT INTO runs (job, as_of, started_at, status) VALUES (NULL, 0, 0, 'running');
                 .timer on
                 INSERT INTO findings (run_id, {COLUMNS})
                   SELECT (SELECT MAX(id) FROM runs), {COLUMNS} FROM floor_stage ORDER BY rowid;
                 .output /dev/null
                 SELECT {COLUMNS} FROM findings WHERE run_id = (SELECT MAX(id) FROM runs) {ORDER};
                 .output
                 .timer off
                 ROLLBACK;"
            ),
            Backend::Postgres => format!(
                "BEGIN;
                 CREATE TEMP TABLE floor_stage ON COMMIT DROP AS
                   SELECT rule, severity, subject_type, subject_id, title, evidence::text AS evidence,
                          first_seen_at
                     FROM findings WHERE run_id = {id} ORDER BY ctid;
                 INSERT INTO runs (job, as_of, started_at, status) VALUES (NULL, now(), now(), 'running')
                   RETURNING id AS floor_run \\gset
                 \\timing on
                 INSERT INTO findings (run_id, {COLUMNS})
                   SELECT :floor_run, rule, severity, subject_type, subject_id, title, evidence::jsonb,
                          first_seen_at
                     FROM floor_stage;
                 \\o /dev/null
                 SELECT {COLUMNS} FROM findings WHERE run_id = :floor_run {ORDER};
                 \\o
                 \\timing off
                 ROLLBACK;"
            ),
        };
        // Dot- and backslash commands start their line.
        let sql: Vec<&str> = sql.lines().map(str::trim_start).collect();
        let m = self.client(&sql.join("\n"), false)?;
        match statement_times(&m.stdout)[..] {
            [store, read_back] => Ok(StorageCost { store, read_back }),
            _ => Err(HarnessError::Output {
                program: "storage cost".into(),
                message: format!("expected two statement times in {:?}", m.stdout),
            }),
        }
    }

    fn client(&self, sql: &str, read_only: bool) -> Result<Measured> {
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), sql)?;
        let cmd = match self.backend {
            Backend::Sqlite => {
                let mut c = Command::new("sqlite3");
                c.args(["-bail", "-batch"]);
                if read_only {
                    c.arg("-readonly");
                }
                c.arg(self.sqlite_path())
                    // The same page cache the engine's connections use.
                    .arg("PRAGMA cache_size = -16384;")
                    .arg(format!(".read {}", file.path().display()));
                c
            }
            Backend::Postgres => {
                let (url, options) = self.psql_url_and_options();
                let mut c = Command::new("psql");
                c.args([
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    &url,
                    "-f",
                ])
                .arg(file.path());
                if let Some(o) = options {
                    c.env("PGOPTIONS", o);
                }
                c
            }
        };
        measure(cmd, None)
    }
}

/// The database's own cost of a run's findings (`Target::storage_cost`).
#[derive(Debug, Clone, Copy)]
pub struct StorageCost {
    pub store: Duration,
    pub read_back: Duration,
}

/// The statement times a client printed: `sqlite3`'s `Run Time: real S …`
/// and `psql`'s `Time: MS ms …`, in order.
fn statement_times(stdout: &str) -> Vec<Duration> {
    stdout
        .lines()
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix("Run Time: real ") {
                rest.split_whitespace().next()?.parse().ok()
            } else {
                let ms: f64 = l
                    .strip_prefix("Time: ")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()?;
                Some(ms / 1000.0)
            }
        })
        .map(Duration::from_secs_f64)
        .collect()
}

/// The accessaudit binary under test.
#[derive(Debug, Clone)]
pub struct Engine {
    pub binary: PathBuf,
}

impl Engine {
    /// `accessaudit run` as of `t`, JSON, with the given rules (all when
    /// empty) and extra rule directories.
    pub fn run(
        &self,
        target: &Target,
        t: DateTime<Utc>,
        rules: &[&str],
        rule_dirs: &[&Path],
    ) -> Result<Measured> {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--database")
            .arg(&target.url)
            .arg("--statement-timeout")
            .arg("2h");
        for dir in rule_dirs {
            cmd.arg("--rules").arg(dir);
        }
        cmd.args(["run", "--format", "json", "--as-of", &format_instant(t)]);
        for r in rules {
            cmd.args(["--rule", r]);
        }
        cmd.env("RUST_LOG", "warn").env_remove("ACCESSAUDIT_CONFIG");
        measure(cmd, None)
    }

    /// `accessaudit run --job JOB` as of `t` (the embedded configuration's
    /// jobs), its findings printed as JSON.
    pub fn run_job(&self, target: &Target, t: DateTime<Utc>, job: &str) -> Result<Measured> {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--database")
            .arg(&target.url)
            .arg("--statement-timeout")
            .arg("2h")
            .args(["run", "--job", job, "--format", "json", "--as-of"])
            .arg(format_instant(t));
        cmd.env("RUST_LOG", "warn").env_remove("ACCESSAUDIT_CONFIG");
        measure(cmd, None)
    }

    /// `accessaudit report --job JOB --out DIR`: the latest run's report
    /// (lifecycle against the run before, HTML, text, chart, CSV, .eml).
    pub fn report(&self, target: &Target, job: &str, out: &Path) -> Result<Measured> {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--database")
            .arg(&target.url)
            .args(["report", "--job", job, "--out"])
            .arg(out);
        cmd.env("RUST_LOG", "warn").env_remove("ACCESSAUDIT_CONFIG");
        measure(cmd, None)
    }

    /// `accessaudit import TABLE FILE`.
    pub fn import(&self, target: &Target, table: &str, file: &Path) -> Result<Measured> {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--database")
            .arg(&target.url)
            .arg("import")
            .arg(table)
            .arg(file)
            .env("RUST_LOG", "warn")
            .env_remove("ACCESSAUDIT_CONFIG");
        measure(cmd, None)
    }
}

/// The id of the run `accessaudit run --format json` printed.
pub fn run_id(json: &str) -> Result<i64> {
    #[derive(serde::Deserialize)]
    struct Printed {
        run_id: i64,
    }
    serde_json::from_str::<Printed>(json)
        .map(|p| p.run_id)
        .map_err(|e| HarnessError::Output {
            program: "accessaudit".into(),
            message: format!("no run id: {e}"),
        })
}

/// The findings of `rule` in the engine's JSON output, as comparable keys.
pub fn engine_findings(json: &str, rule: &str) -> Result<FindingKeys> {
    let err = |message: String| HarnessError::Output {
        program: "accessaudit".into(),
        message,
    };
    let doc: serde_json::Value = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
    let findings = doc
        .get("findings")
        .and_then(|f| f.as_array())
        .ok_or_else(|| err("no findings array".into()))?;
    let field = |f: &serde_json::Value, k: &str| {
        f.get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| err(format!("a finding without {k}")))
    };
    let mut keys = FindingKeys::new();
    for f in findings {
        if field(f, "rule")? == rule {
            keys.insert(format!(
                "{}|{}|{}",
                field(f, "subject_type")?,
                field(f, "subject_id")?,
                field(f, "severity")?
            ));
        }
    }
    Ok(keys)
}

/// The reference client's output lines as keys.
pub fn client_findings(stdout: &str) -> FindingKeys {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// One rule measured on both sides.
#[derive(Debug, Clone)]
pub struct RuleComparison {
    pub rule: String,
    pub findings: usize,
    pub engine: Vec<Measured>,
    pub reference: Vec<Measured>,
    /// Keys found by only one side (empty when they agree).
    pub only_engine: Vec<String>,
    pub only_reference: Vec<String>,
}

impl RuleComparison {
    pub fn agree(&self) -> bool {
        self.only_engine.is_empty() && self.only_reference.is_empty()
    }
    pub fn engine_median(&self) -> Duration {
        median(self.engine.iter().map(|m| m.wall).collect())
    }
    pub fn reference_median(&self) -> Duration {
        median(self.reference.iter().map(|m| m.wall).collect())
    }
    pub fn ratio(&self) -> f64 {
        self.engine_median().as_secs_f64() / self.reference_median().as_secs_f64().max(1e-9)
    }
    pub fn engine_max_rss_kib(&self) -> u64 {
        self.engine.iter().map(|m| m.max_rss_kib).max().unwrap_or(0)
    }
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Repeated measurements of one command: median wall time, peak RSS.
#[derive(Debug, Default)]
pub struct Series {
    walls: Vec<Duration>,
    max_rss_kib: u64,
}

impl Series {
    pub fn push(&mut self, m: &Measured) {
        self.walls.push(m.wall);
        self.max_rss_kib = self.max_rss_kib.max(m.max_rss_kib);
    }

    pub fn median_secs(&self) -> f64 {
        median(self.walls.clone()).as_secs_f64()
    }

    pub fn peak_mb(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }

    /// A row of the compare table for something without a reference.
    pub fn row(&self, label: &str) -> String {
        format!(
            "| {label} | | {:.3} s | | | {:.1} MB | |",
            self.median_secs(),
            self.peak_mb()
        )
    }
}

/// `accessaudit run` of `rules` (all when empty) as of `t`, measured, then
/// forgotten (`Target::forget_run`): the next measurement meets the same
/// findings table.
pub fn run_and_forget(
    engine: &Engine,
    target: &Target,
    t: DateTime<Utc>,
    rules: &[&str],
) -> Result<Measured> {
    let m = engine.run(target, t, rules, &[])?;
    target.forget_run(run_id(&m.stdout)?)?;
    Ok(m)
}

/// `rule`'s reference query for `target`'s backend.
fn reference_sql(target: &Target, rule: &str, t: DateTime<Utc>) -> Result<String> {
    super::reference::sql(rule, target.backend, t).ok_or_else(|| HarnessError::Output {
        program: "reference".into(),
        message: format!("no reference query for {rule}"),
    })
}

/// Runs `rule` and its reference `runs` times, untimed and unchecked (the
/// engine's runs forgotten): their pages are then in the cache for the
/// measurement, as they are for the reference's alternated runs.
pub fn warm_up(
    engine: &Engine,
    target: &Target,
    rule: &str,
    t: DateTime<Utc>,
    runs: usize,
) -> Result<()> {
    let sql = reference_sql(target, rule, t)?;
    for _ in 0..runs {
        run_and_forget(engine, target, t, &[rule])?;
        target.run_client(&sql)?;
    }
    Ok(())
}

/// Runs `rule` `runs` times through the engine and through its reference
/// query, alternating, and compares the findings of the first run.
pub fn compare_rule(
    engine: &Engine,
    target: &Target,
    rule: &str,
    t: DateTime<Utc>,
    runs: usize,
) -> Result<RuleComparison> {
    let sql = reference_sql(target, rule, t)?;
    let mut e_runs = Vec::new();
    let mut r_runs = Vec::new();
    for i in 0..runs.max(1) {
        let mut e = run_and_forget(engine, target, t, &[rule])?;
        let mut r = target.run_client(&sql)?;
        if i > 0 {
            // Only the first run's output is compared: keep the benchmark small.
            e.stdout.clear();
            r.stdout.clear();
        }
        e_runs.push(e);
        r_runs.push(r);
    }
    let mine = engine_findings(&e_runs[0].stdout, rule)?;
    let theirs = client_findings(&r_runs[0].stdout);
    Ok(RuleComparison {
        rule: rule.to_string(),
        findings: mine.len(),
        only_engine: mine.difference(&theirs).cloned().collect(),
        only_reference: theirs.difference(&mine).cloned().collect(),
        engine: e_runs,
        reference: r_runs,
    })
}

/// One rule's `floor` row: medians of each part.
#[derive(Debug, Clone)]
pub struct RuleFloor {
    pub findings: usize,
    pub engine: Duration,
    pub reference: Duration,
    pub store: Duration,
    pub read_back: Duration,
}

/// Runs `rule` through the engine and its reference `runs` times,
/// alternating, and after each engine run times what its findings cost the
/// database alone (`Target::storage_cost`) before forgetting the run.
pub fn floor_rule(
    engine: &Engine,
    target: &Target,
    rule: &str,
    t: DateTime<Utc>,
    runs: usize,
) -> Result<RuleFloor> {
    let sql = reference_sql(target, rule, t)?;
    let (mut e, mut r, mut s, mut b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut findings = 0;
    for i in 0..runs.max(1) {
        let m = engine.run(target, t, &[rule], &[])?;
        let id = run_id(&m.stdout)?;
        if i == 0 {
            findings = engine_findings(&m.stdout, rule)?.len();
        }
        let cost = target.storage_cost(id);
        target.forget_run(id)?;
        let cost = cost?;
        e.push(m.wall);
        s.push(cost.store);
        b.push(cost.read_back);
        r.push(target.run_client(&sql)?.wall);
    }
    Ok(RuleFloor {
        findings,
        engine: median(e),
        reference: median(r),
        store: median(s),
        read_back: median(b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_times_of_both_clients_are_read_in_order() {
        let sqlite = "Run Time: real 0.983 user 0.567671 sys 0.324927\nx|y\nRun Time: real 0.384 user 0.3 sys 0.0\n";
        assert_eq!(
            statement_times(sqlite),
            [Duration::from_millis(983), Duration::from_millis(384)]
        );
        let psql = "Time: 2204.500 ms (00:02.205)\nTime: 12.000 ms\n";
        assert_eq!(
            statement_times(psql),
            [Duration::from_micros(2_204_500), Duration::from_millis(12)]
        );
        assert!(statement_times("Time: soon\n").is_empty());
    }

    #[test]
    fn the_printed_run_id_is_read_or_missed_loudly() {
        let printed = r#"{"run_id":201,"as_of":"2026-11-01T08:00:00Z","rules":[],"findings":[]}"#;
        assert_eq!(run_id(printed).expect("a run id"), 201);
        assert!(run_id(r#"{"findings":[]}"#).is_err());
    }

    #[test]
    fn psql_gets_the_schema_as_pgoptions() {
        let t = Target::new("postgres://u@h/db?sslmode=disable&options[search_path]=s1")
            .expect("postgres URL");
        let (url, opts) = t.psql_url_and_options();
        assert_eq!(url, "postgres://u@h/db?sslmode=disable");
        assert_eq!(opts.as_deref(), Some("-c search_path=s1"));
    }

    #[test]
    fn sqlite_path_drops_scheme_and_query() {
        let t = Target::new("sqlite:///tmp/x.db?mode=rwc").expect("sqlite URL");
        assert_eq!(t.sqlite_path(), "/tmp/x.db");
    }

    #[test]
    fn measures_a_child_and_reports_failure() {
        let m = measure(Command::new("true"), None).expect("true runs");
        assert!(
            m.max_rss_kib < 50_000,
            "the child's RSS, not ours: {}",
            m.max_rss_kib
        );
        assert!(m.max_rss_kib > 0);
        assert!(matches!(
            measure(Command::new("false"), None),
            Err(HarnessError::Failed { .. })
        ));
    }
}
