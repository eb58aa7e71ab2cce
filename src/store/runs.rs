//! The engine's record: runs, the outcome of each rule in a run, findings.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use super::Store;
use super::backend::Backend;
use super::error::{Result, StoreError};
use super::tx::Tx;
use super::value::{DbRow, SqlValue};
use crate::model::{Finding, Severity, SubjectType};
use crate::support::process;

/// How one rule fared in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeStatus {
    Ok,
    /// Not evaluated, for a stated reason (e.g. a stale event feed).
    Skipped,
    /// Not evaluated because the data cannot carry the rule: no row fills a
    /// column it depends on (e.g. no account records `mfa_enabled`).
    NotApplicable,
    Failed,
}

impl OutcomeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Ok => "ok",
            OutcomeStatus::Skipped => "skipped",
            OutcomeStatus::NotApplicable => "not_applicable",
            OutcomeStatus::Failed => "failed",
        }
    }
}

/// The outcome of one rule in one run.
#[derive(Debug, Clone)]
pub struct RuleOutcome {
    pub rule_id: String,
    pub status: OutcomeStatus,
    pub reason: Option<String>,
    pub finding_count: u64,
    pub duration_ms: u64,
}

/// A run as recorded.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: i64,
    pub job: Option<String>,
    pub as_of: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: String,
    pub finding_count: i64,
}

/// Where the findings of a run take their first-seen instant from: the same
/// key in the job's previous succeeded run, else the run's as-of.
#[derive(Debug, Clone, Copy)]
pub struct FirstSeen {
    pub previous_run: Option<i64>,
    pub as_of: DateTime<Utc>,
}

/// The application of a finding's subject (an account, a role, or a
/// grant through its account), as the store knows it now: an account no
/// longer in `principals` by its last version in `principal_history`. A
/// finding about a person has none. Read, not written with the finding:
/// the run pays nothing for it. `$only` is the store's only application
/// when it has one, `$any` whether any account, role or account version is
/// in one (`Store::applications`): in either case no finding looks
/// its subject up (CASE and COALESCE evaluate lazily on both backends).
macro_rules! finding_application {
    ($only:literal, $any:literal) => {
        concat!(
            "CASE WHEN findings.subject_type = 'person' OR NOT ",
            $any,
            " THEN NULL ELSE COALESCE(CAST(",
            $only,
            " AS TEXT), ",
            finding_application!(),
            ") END AS application"
        )
    };
    () => {
        "CASE findings.subject_type
           WHEN 'principal' THEN COALESCE(
               (SELECT a.application FROM principals a WHERE a.id = findings.subject_id),
               (SELECT MAX(h.application) FROM principal_history h
                 WHERE h.principal_id = findings.subject_id))
           WHEN 'grant' THEN COALESCE(
               (SELECT a.application FROM grants g JOIN principals a ON a.id = g.principal_id
                 WHERE g.id = findings.subject_id),
               (SELECT MAX(h.application) FROM grants g
                  JOIN principal_history h ON h.principal_id = g.principal_id
                 WHERE g.id = findings.subject_id))
           WHEN 'role' THEN (SELECT r.application FROM roles r WHERE r.id = findings.subject_id)
         END"
    };
}

/// The findings of run $1, each saying whether run $2 (the job's previous
/// run, or NULL) had the same key; an ORDER BY follows.
macro_rules! findings_seen_before {
    () => {
        concat!(
            "SELECT rule, severity, subject_type, subject_id, title, evidence, ",
            finding_application!("$3", "$4"),
            ",
            EXISTS (SELECT 1 FROM findings p
                     WHERE p.run_id = $2 AND p.rule = findings.rule
                       AND p.subject_type = findings.subject_type
                       AND p.subject_id = findings.subject_id) AS seen_before,
            first_seen_at
     FROM findings WHERE run_id = $1"
        )
    };
}

/// `findings_seen_before!` in the stable order.
const FINDINGS_SEEN_BEFORE: &str = concat!(findings_seen_before!(), findings_order!());

/// The same for a run whose findings all have one severity: the stable
/// order is then the primary key's, read without sorting (sorting 274k
/// findings with their evidence took 0.25-0.35 s of 0.6-0.7 s on SQLite).
const FINDINGS_SEEN_BEFORE_BY_KEY: &str = concat!(
    findings_seen_before!(),
    " ORDER BY rule, subject_type, subject_id"
);

/// The query that reads run `run_id`'s findings in the stable order: by key
/// alone when they all have one severity (one pass over the run's rows on
/// its primary key decides).
async fn findings_seen_before_query(tx: &mut Tx, run_id: i64) -> Result<&'static str> {
    let range = tx
        .fetch_all(
            "SELECT MIN(severity) AS lo, MAX(severity) AS hi FROM findings WHERE run_id = $1",
            &[SqlValue::int(run_id)],
        )
        .await?;
    let one_severity = range
        .first()
        .map(|r| Ok::<_, StoreError>(r.text("lo")? == r.text("hi")?))
        .transpose()?
        .unwrap_or(true);
    Ok(if one_severity {
        FINDINGS_SEEN_BEFORE_BY_KEY
    } else {
        FINDINGS_SEEN_BEFORE
    })
}

/// The findings of run $1 (the job's previous run) whose key run $2 does
/// not have: those resolved, or not looked at again.
const FINDINGS_GONE: &str = concat!(
    "SELECT rule, severity, subject_type, subject_id, title, evidence, ",
    finding_application!("$3", "$4"),
    ", first_seen_at
     FROM findings WHERE run_id = $1
      AND NOT EXISTS (SELECT 1 FROM findings c
                       WHERE c.run_id = $2 AND c.rule = findings.rule
                         AND c.subject_type = findings.subject_type
                         AND c.subject_id = findings.subject_id)",
    findings_order!()
);

/// One finding as `Store::for_each_lifecycle_chunk` streams it.
#[derive(Debug, Clone)]
pub struct LifecycleRow {
    pub finding: Finding,
    pub first_seen: Option<DateTime<Utc>>,
    /// Whether the previous run had the same key.
    pub seen_before: bool,
    /// A finding of the previous run that this run does not have.
    pub gone: bool,
}

/// The columns `decode_run` reads.
const RUN_COLUMNS: &str = "id, job, as_of, started_at, finished_at, status, finding_count";

/// The stable order of a run's findings: most severe first, then by key.
macro_rules! findings_order {
    () => {
        " ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2
                                WHEN 'low' THEN 3 ELSE 4 END,
                  rule, subject_type, subject_id"
    };
}
use findings_order;

/// The stable order of a run's findings as an `ORDER BY` clause, for SQL
/// written outside this module that must read them as a run prints them
/// (the benchmark's `floor`).
pub const FINDINGS_ORDER: &str = findings_order!();

impl Store {
    /// Records the start of a run and returns its id.
    /// Records what was in force for a run (see migration 0012).
    pub async fn set_run_settings(&self, run_id: i64, settings: &serde_json::Value) -> Result<()> {
        self.execute(
            "UPDATE runs SET settings = $1 WHERE id = $2",
            &[SqlValue::text(settings.to_string()), SqlValue::int(run_id)],
        )
        .await?;
        Ok(())
    }

    /// What was in force for a run, when it was recorded.
    pub async fn run_settings(&self, run_id: i64) -> Result<Option<serde_json::Value>> {
        let rows = self
            .fetch_all(
                "SELECT settings FROM runs WHERE id = $1",
                &[SqlValue::int(run_id)],
            )
            .await?;
        let Some(text) = rows
            .first()
            .map(|r| r.text("settings"))
            .transpose()?
            .flatten()
        else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Decode {
                column: "runs.settings".into(),
                message: e.to_string(),
            })
    }

    pub async fn start_run(&self, job: Option<&str>, as_of: DateTime<Utc>) -> Result<i64> {
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_optional(
                "INSERT INTO runs (job, as_of, started_at, status, host, pid)
                 VALUES ($1, $2, $3, 'running', $4, $5) RETURNING id",
                &[
                    SqlValue::Text(job.map(str::to_string)),
                    SqlValue::time(as_of),
                    SqlValue::time(Utc::now()),
                    SqlValue::text(process::hostname()),
                    SqlValue::int(i64::from(std::process::id())),
                ],
            )
            .await?;
        let id = match row {
            Some(row) => row.i64("id")?,
            None => None,
        };
        tx.commit().await?;
        id.ok_or_else(|| StoreError::Decode {
            column: "runs.id".into(),
            message: "INSERT … RETURNING gave no id".into(),
        })
    }

    /// Marks `abandoned` the runs of this host left `running` by a process
    /// that has ended (killed, crashed, the machine stopped), with the
    /// reason: history says what happened instead of "running" forever.
    /// Runs of other hosts, and of processes that cannot be looked at, are
    /// left alone. Returns the ids it marked.
    pub async fn abandon_dead_runs(&self) -> Result<Vec<i64>> {
        let host = process::hostname();
        let rows = self
            .fetch_all(
                "SELECT id, CAST(pid AS BIGINT) AS pid FROM runs
                  WHERE status = 'running' AND host = $1 AND pid IS NOT NULL",
                &[SqlValue::text(&host)],
            )
            .await?;
        let mut marked = Vec::new();
        for row in rows {
            let (Some(id), Some(pid)) = (row.i64("id")?, row.i64("pid")?) else {
                continue;
            };
            let Ok(pid) = u32::try_from(pid) else {
                continue;
            };
            if process::is_running(pid) != Some(false) {
                continue;
            }
            let reason = format!(
                "abandoned: the process that ran it (pid {pid} on {host}) ended before it finished"
            );
            let n = self
                .execute(
                    "UPDATE runs SET status = 'abandoned', finished_at = $1, error = $2
                      WHERE id = $3 AND status = 'running'",
                    &[
                        SqlValue::time(Utc::now()),
                        SqlValue::text(&reason),
                        SqlValue::int(id),
                    ],
                )
                .await?;
            if n > 0 {
                tracing::warn!(run = id, "{reason}");
                marked.push(id);
            }
        }
        Ok(marked)
    }

    /// Appends findings of a run: on SQLite one prepared statement bound per
    /// finding, on PostgreSQL one statement for them all.
    /// Each takes its first-seen instant from the same key in the job's
    /// previous run (a primary-key seek per finding, inside the insert),
    /// else the run's as-of: no second pass over the run's findings.
    pub async fn record_findings(
        &self,
        run_id: i64,
        first_seen: FirstSeen,
        findings: &[Finding],
    ) -> Result<()> {
        if findings.is_empty() {
            return Ok(());
        }
        let backend = self.backend();
        let mut tx = self.begin().await?;
        if backend == Backend::Sqlite {
            // One statement prepared once and bound per finding on the
            // connection's own handle (`Tx::execute_each`): no statement of
            // 3,500 parameters to parse per batch, nor sqlx's argument
            // buffers.
            let rows: Vec<Vec<SqlValue>> = findings
                .iter()
                .map(|f| {
                    let mut row = Vec::with_capacity(9);
                    row.push(SqlValue::int(run_id));
                    row.extend(finding_texts(f).map(SqlValue::text));
                    row.extend([
                        SqlValue::time(first_seen.as_of),
                        SqlValue::Int(first_seen.previous_run),
                    ]);
                    row
                })
                .collect();
            tx.execute_each(
                "INSERT INTO findings (run_id, rule, severity, subject_type, subject_id, title, evidence, first_seen_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7,
                         COALESCE((SELECT p.first_seen_at FROM findings p
                                    WHERE p.run_id = $9 AND p.rule = $2
                                      AND p.subject_type = $4 AND p.subject_id = $5), $8))",
                9,
                &rows,
            )
            .await?;
            return tx.commit().await;
        }
        // PostgreSQL: one statement whatever the batch's size, each column
        // bound as one array and zipped back into rows by `UNNEST`, instead
        // of 7 parameters per finding. The commit does not wait for its WAL
        // to reach the disk: the run's own closing commit, synchronous,
        // flushes it with everything before, so a crash loses findings
        // only of a run it leaves unfinished (later marked abandoned).
        tx.execute("SET LOCAL synchronous_commit = off", &[])
            .await?;
        let mut columns: [Vec<String>; 6] =
            std::array::from_fn(|_| Vec::with_capacity(findings.len()));
        for f in findings {
            for (column, text) in columns.iter_mut().zip(finding_texts(f)) {
                column.push(text);
            }
        }
        let mut params: Vec<SqlValue> = vec![SqlValue::int(run_id)];
        params.extend(columns.into_iter().map(SqlValue::TextList));
        params.extend([
            SqlValue::time(first_seen.as_of),
            SqlValue::Int(first_seen.previous_run),
        ]);
        tx.execute(
            "INSERT INTO findings (run_id, rule, severity, subject_type, subject_id, title, evidence, first_seen_at)
             SELECT $1, v.rule, v.severity, v.subject_type, v.subject_id, v.title, v.evidence::jsonb,
                    COALESCE(p.first_seen_at, $8)
               FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                    AS v (rule, severity, subject_type, subject_id, title, evidence)
               LEFT JOIN findings p
                 ON p.run_id = $9 AND p.rule = v.rule
                AND p.subject_type = v.subject_type AND p.subject_id = v.subject_id",
            &params,
        )
        .await?;
        tx.commit().await
    }

    pub async fn record_outcome(&self, run_id: i64, outcome: &RuleOutcome) -> Result<()> {
        self.execute(
            "INSERT INTO rule_outcomes (run_id, rule_id, status, reason, finding_count, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                SqlValue::int(run_id),
                SqlValue::text(&outcome.rule_id),
                SqlValue::text(outcome.status.as_str()),
                SqlValue::Text(outcome.reason.clone()),
                SqlValue::int(outcome.finding_count as i64),
                SqlValue::int(outcome.duration_ms as i64),
            ],
        )
        .await
        .map(drop)
    }

    /// Marks a run finished; `error` set means it failed.
    pub async fn finish_run(
        &self,
        run_id: i64,
        finding_count: u64,
        error: Option<&str>,
    ) -> Result<()> {
        let status = if error.is_some() {
            "failed"
        } else {
            "succeeded"
        };
        self.execute(
            "UPDATE runs SET finished_at = $1, status = $2, finding_count = $3, error = $4 WHERE id = $5",
            &[
                SqlValue::time(Utc::now()),
                SqlValue::text(status),
                SqlValue::int(finding_count as i64),
                SqlValue::Text(error.map(str::to_string)),
                SqlValue::int(run_id),
            ],
        )
        .await
        .map(drop)
    }

    /// The run of the same job just before `run_id` (by as-of instant, then
    /// id), among those that succeeded: what new / open / resolved compare with.
    pub async fn previous_run(&self, run_id: i64) -> Result<Option<i64>> {
        let rows = self
            .fetch_all(
                "SELECT p.id FROM runs r
                   JOIN runs p ON p.job = r.job AND p.status = 'succeeded'
                              AND (p.as_of < r.as_of OR (p.as_of = r.as_of AND p.id < r.id))
                  WHERE r.id = $1
                  ORDER BY p.as_of DESC, p.id DESC LIMIT 1",
                &[SqlValue::int(run_id)],
            )
            .await?;
        rows.first()
            .map(|r| r.i64("id"))
            .transpose()
            .map(Option::flatten)
    }

    /// Runs, the most recently started first (at most `limit`), optionally
    /// of one job.
    pub async fn list_runs(&self, job: Option<&str>, limit: i64) -> Result<Vec<RunRecord>> {
        let rows = self
            .fetch_all(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs
                      WHERE ($1 IS NULL OR job = $1)
                      ORDER BY id DESC LIMIT $2"
                ),
                &[
                    SqlValue::Text(job.map(str::to_string)),
                    SqlValue::int(limit),
                ],
            )
            .await?;
        rows.iter().map(decode_run).collect()
    }

    /// The newest succeeded run of a job (by as-of instant, then id).
    pub async fn latest_run_of_job(&self, job: &str) -> Result<Option<i64>> {
        let rows = self
            .fetch_all(
                "SELECT id FROM runs WHERE job = $1 AND status = 'succeeded'
                  ORDER BY as_of DESC, id DESC LIMIT 1",
                &[SqlValue::text(job)],
            )
            .await?;
        rows.first()
            .map(|r| r.i64("id"))
            .transpose()
            .map(Option::flatten)
    }

    pub async fn run_record(&self, run_id: i64) -> Result<Option<RunRecord>> {
        let rows = self
            .fetch_all(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"),
                &[SqlValue::int(run_id)],
            )
            .await?;
        rows.first().map(decode_run).transpose()
    }

    pub async fn rule_outcomes(&self, run_id: i64) -> Result<Vec<RuleOutcome>> {
        let rows = self
            .fetch_all(
                "SELECT rule_id, status, reason, finding_count, duration_ms FROM rule_outcomes
                 WHERE run_id = $1 ORDER BY rule_id",
                &[SqlValue::int(run_id)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let status = match r.req_text("status")?.as_str() {
                    "ok" => OutcomeStatus::Ok,
                    "skipped" => OutcomeStatus::Skipped,
                    "not_applicable" => OutcomeStatus::NotApplicable,
                    _ => OutcomeStatus::Failed,
                };
                Ok(RuleOutcome {
                    rule_id: r.req_text("rule_id")?,
                    status,
                    reason: r.text("reason")?,
                    finding_count: r.i64("finding_count")?.unwrap_or(0) as u64,
                    duration_ms: r.i64("duration_ms")?.unwrap_or(0) as u64,
                })
            })
            .collect()
    }

    /// How many findings of each severity a run recorded (severity text → count).
    pub async fn severity_counts(&self, run_id: i64) -> Result<Vec<(String, i64)>> {
        let rows = self
            .fetch_all(
                "SELECT severity, COUNT(*) AS n FROM findings WHERE run_id = $1 GROUP BY severity",
                &[SqlValue::int(run_id)],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.req_text("severity")?, r.i64("n")?.unwrap_or(0))))
            .collect()
    }

    /// Findings per rule of the last `limit` succeeded runs of `job` up to
    /// run `run_id` (as of `as_of`), oldest first: (run id, as-of, rule, count).
    pub async fn finding_history(
        &self,
        job: &str,
        as_of: DateTime<Utc>,
        run_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, DateTime<Utc>, String, Option<u64>)>> {
        let rows = self
            .fetch_all(
                "SELECT r.id, r.as_of, o.rule_id, o.finding_count, o.status
                   FROM runs r JOIN rule_outcomes o ON o.run_id = r.id
                  WHERE r.id IN (SELECT id FROM runs
                                  WHERE job = $1 AND (status = 'succeeded' OR id = $3)
                                    AND (as_of < $2 OR (as_of = $2 AND id <= $3))
                                  ORDER BY as_of DESC, id DESC LIMIT $4)
                  ORDER BY r.as_of, r.id, o.rule_id",
                &[
                    SqlValue::text(job),
                    SqlValue::time(as_of),
                    SqlValue::int(run_id),
                    SqlValue::int(limit),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.i64("id")?.unwrap_or(0),
                    r.time("as_of")?.unwrap_or(as_of),
                    r.req_text("rule_id")?,
                    // A rule that was not evaluated has no count (a gap, not a zero).
                    match r.text("status")?.as_deref() {
                        Some("ok") => Some(r.i64("finding_count")?.unwrap_or(0).max(0) as u64),
                        _ => None,
                    },
                ))
            })
            .collect()
    }

    /// Drops the findings a rule wrote into a run (the rule failed: what it
    /// flushed before failing is partial).
    pub async fn discard_rule_findings(&self, run_id: i64, rule: &str) -> Result<()> {
        self.execute(
            "DELETE FROM findings WHERE run_id = $1 AND rule = $2",
            &[SqlValue::int(run_id), SqlValue::text(rule)],
        )
        .await
        .map(drop)
    }

    /// `finding_application!`'s parameters: the store's only application,
    /// when all its accounts and roles (and every account version) are in
    /// one, and whether any of them is in one at all. In either case a
    /// finding's application needs no lookup (with none anywhere, reading
    /// 277k findings back at 1M accounts took 0.3 s longer for the lookups).
    /// Each bound is one seek on an index.
    async fn applications(&self) -> Result<Applications> {
        let rows = self
            .fetch_all(
                "SELECT (SELECT MIN(application) FROM principals) AS a, (SELECT MAX(application) FROM principals) AS b,
                        (SELECT MIN(application) FROM roles) AS c, (SELECT MAX(application) FROM roles) AS d,
                        (SELECT MIN(application) FROM principal_history) AS e,
                        (SELECT MAX(application) FROM principal_history) AS f",
                &[],
            )
            .await?;
        let Some(r) = rows.first() else {
            return Ok(Applications::NONE);
        };
        let (a, b) = (r.text("a")?, r.text("b")?);
        let (c, d) = (r.text("c")?, r.text("d")?);
        let (e, f) = (r.text("e")?, r.text("f")?);
        // MIN skips NULLs: a NULL minimum means no row has an application.
        let any = a.is_some() || c.is_some() || e.is_some();
        let only = match (a, b) {
            (Some(a), Some(b)) if a == b => a,
            _ => return Ok(Applications { only: None, any }),
        };
        // Roles and account versions: none, or all in the same one.
        let agrees = |low: Option<String>, high: Option<String>| match (low, high) {
            (None, None) => true,
            (Some(l), Some(h)) => l == only && h == only,
            _ => false,
        };
        let roles = agrees(c, d);
        let versions = agrees(e, f);
        Ok(Applications {
            only: (roles && versions).then_some(only),
            any,
        })
    }

    /// Visits the findings of a run in the stable order, one at a time.
    pub async fn for_each_finding<F>(&self, run_id: i64, mut visit: F) -> Result<u64>
    where
        F: FnMut(Finding) -> std::io::Result<()>,
    {
        self.visit_findings(run_id, None, decode_finding, |f, _| visit(f))
            .await
    }

    /// The findings of a run as stored, each with whether the job's
    /// previous run had it (an open finding) or not (a new one): what
    /// `run --format` prints. The evidence stays the JSON text the store
    /// holds (`StoredFinding`).
    ///
    /// `subjects` is the store whose accounts, roles and grants name a
    /// finding's application: `None` for this one; the deployment's store
    /// for a run recorded in a scratch store (`run --no-record`), which
    /// holds findings but no accounts. Its applications are then looked up
    /// a chunk of findings at a time, so that a rerun that leaves no trace
    /// prints what a recorded one does.
    pub async fn for_each_finding_seen<F>(
        &self,
        run_id: i64,
        subjects: Option<&Store>,
        visit: F,
    ) -> Result<u64>
    where
        F: FnMut(StoredFinding, bool) -> std::io::Result<()>,
    {
        self.visit_findings(run_id, subjects, decode_stored_finding, visit)
            .await
    }

    async fn visit_findings<T, F>(
        &self,
        run_id: i64,
        subjects: Option<&Store>,
        decode: fn(&DbRow) -> Result<T>,
        mut visit: F,
    ) -> Result<u64>
    where
        T: ReadBack,
        F: FnMut(T, bool) -> std::io::Result<()>,
    {
        let previous = self.previous_run(run_id).await?;
        let mut tx: Tx = self.begin().await?;
        let applications = subjects.unwrap_or(self).applications().await?;
        // Findings recorded away from their subjects: a single application
        // (or none) needs no lookup; several are looked up in `subjects`.
        let elsewhere = subjects.filter(|_| applications.several());
        let [only, any] = match elsewhere {
            Some(_) => Applications::NONE.params(),
            None => applications.params(),
        };
        let params = [SqlValue::int(run_id), SqlValue::Int(previous), only, any];
        let mut emit = |finding: T, seen: bool| {
            visit(finding, seen).map_err(|e| StoreError::Decode {
                column: "findings".into(),
                message: format!("cannot write finding: {e}"),
            })
        };
        let mut count = 0;
        let mut chunk: Vec<(T, bool)> = Vec::new();
        {
            let query = findings_seen_before_query(&mut tx, run_id).await?;
            let mut rows = tx.fetch(query, &params);
            while let Some(row) = rows.next().await {
                let row = row?;
                let finding = decode(&row)?;
                let seen = row.bool("seen_before")?.unwrap_or(false);
                count += 1;
                match elsewhere {
                    None => emit(finding, seen)?,
                    Some(subjects) => {
                        chunk.push((finding, seen));
                        if chunk.len() == APPLICATION_CHUNK {
                            subjects
                                .emit_named(&mut chunk, &applications, &mut emit)
                                .await?;
                        }
                    }
                }
            }
        }
        if let Some(subjects) = elsewhere {
            subjects
                .emit_named(&mut chunk, &applications, &mut emit)
                .await?;
        }
        tx.commit().await?;
        Ok(count)
    }

    /// Names the applications of `chunk`'s findings, then hands them to
    /// `emit` in order, leaving `chunk` empty.
    async fn emit_named<T: ReadBack>(
        &self,
        chunk: &mut Vec<(T, bool)>,
        applications: &Applications,
        emit: &mut impl FnMut(T, bool) -> Result<()>,
    ) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.name_applications(chunk, applications).await?;
        chunk.drain(..).try_for_each(|(f, seen)| emit(f, seen))
    }

    /// Sets the application of each finding of `chunk` as this store's
    /// accounts, roles and grants name it (`finding_application!`, one
    /// statement for the chunk). `applications`: this store's.
    async fn name_applications<T: ReadBack>(
        &self,
        chunk: &mut [(T, bool)],
        applications: &Applications,
    ) -> Result<()> {
        let mut ids: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
        for (f, _) in chunk.iter() {
            let (subject_type, subject_id) = f.subject();
            if let serde_json::Value::Array(list) = ids
                .entry(subject_type.as_str())
                .or_insert_with(|| serde_json::Value::Array(Vec::new()))
            {
                list.push(subject_id.into());
            }
        }
        let sql = format!(
            "SELECT findings.subject_type, findings.subject_id, {application}
               FROM (SELECT s.k AS subject_type, s.v AS subject_id FROM {rows} s) findings",
            application = finding_application!("$2", "$3"),
            rows = self.backend().json_map_rows(1),
        );
        let keys = serde_json::Value::Object(ids).to_string();
        let [only, any] = applications.params();
        let rows = self
            .fetch_all(&sql, &[SqlValue::text(keys), only, any])
            .await?;
        let mut named = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            if let Some(application) = r.text("application")? {
                named.insert(
                    (r.req_text("subject_type")?, r.req_text("subject_id")?),
                    application,
                );
            }
        }
        for (f, _) in chunk.iter_mut() {
            let (subject_type, subject_id) = f.subject();
            let key = (subject_type.as_str().to_string(), subject_id.to_string());
            f.set_application(named.get(&key).cloned());
        }
        Ok(())
    }
}

/// Which applications a store's accounts, roles and account versions are
/// in (`Store::applications`): what `finding_application!` needs to know.
struct Applications {
    /// The only one, when all are in the same one.
    only: Option<String>,
    /// Whether any is in one at all.
    any: bool,
}

impl Applications {
    const NONE: Applications = Applications {
        only: None,
        any: false,
    };

    /// Several: a finding's application must be looked up by its subject.
    fn several(&self) -> bool {
        self.only.is_none() && self.any
    }

    /// `finding_application!`'s `$only` and `$any`.
    fn params(&self) -> [SqlValue; 2] {
        [
            SqlValue::Text(self.only.clone()),
            SqlValue::Bool(Some(self.any)),
        ]
    }
}

/// Findings looked up at once in `Store::name_applications`.
const APPLICATION_CHUNK: usize = 500;

/// A finding as it is read back: its subject, and the application a
/// lookup in another store gives it.
trait ReadBack {
    fn subject(&self) -> (SubjectType, &str);
    fn set_application(&mut self, application: Option<String>);
}

impl ReadBack for Finding {
    fn subject(&self) -> (SubjectType, &str) {
        (self.subject_type, &self.subject_id)
    }
    fn set_application(&mut self, application: Option<String>) {
        self.application = application;
    }
}

impl ReadBack for StoredFinding {
    fn subject(&self) -> (SubjectType, &str) {
        (self.subject_type, &self.subject_id)
    }
    fn set_application(&mut self, application: Option<String>) {
        self.application = application;
    }
}

/// A finding as the store holds it, for output: the fields of `Finding`,
/// in its order, with the evidence as stored JSON text. Printing a run of
/// 277k findings then copies each evidence object instead of parsing it
/// into a map and writing it again.
#[derive(Debug, serde::Serialize)]
pub struct StoredFinding {
    pub rule: String,
    pub severity: Severity,
    pub subject_type: SubjectType,
    pub subject_id: String,
    pub title: String,
    /// A JSON object (checked when read).
    pub evidence: Box<serde_json::value::RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
}

/// A run's findings and its previous run's, as `Store::lifecycle_chunks`
/// hands them over: a chunk at a time, read ahead by one task.
pub struct LifecycleChunks {
    rx: tokio::sync::mpsc::Receiver<Result<Vec<LifecycleRow>>>,
}

impl LifecycleChunks {
    /// The next chunk; `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<LifecycleRow>>> {
        self.rx.recv().await.transpose()
    }
}

impl Store {
    /// Reads, `chunk` rows at a time, the findings of run `run_id` in the
    /// stable order (each saying whether `previous` had its key), then the
    /// findings of `previous` that `run_id` does not have (`gone`). One
    /// task reads ahead by at most one chunk, so the report of a run of
    /// any size reads its findings in bounded memory; the database compares
    /// the two runs (one seek per finding on the findings' primary key).
    pub async fn lifecycle_chunks(
        &self,
        run_id: i64,
        previous: Option<i64>,
        chunk: usize,
    ) -> Result<LifecycleChunks> {
        let chunk = chunk.max(1);
        let applications = self.applications().await?.params();
        // Both runs' findings sorted: on disk, not in memory.
        let tx: Tx = self.begin_spilling().await?;
        let (send, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            let failed = send.clone();
            if let Err(e) = read_lifecycle(tx, run_id, previous, applications, chunk, send).await {
                let _ = failed.send(Err(e)).await;
            }
        });
        Ok(LifecycleChunks { rx })
    }
}

/// The reading half of `Store::lifecycle_chunks`; stops early when the
/// reader is gone.
async fn read_lifecycle(
    mut tx: Tx,
    run_id: i64,
    previous: Option<i64>,
    [only, any]: [SqlValue; 2],
    chunk: usize,
    send: tokio::sync::mpsc::Sender<Result<Vec<LifecycleRow>>>,
) -> Result<()> {
    let mut queries = vec![(
        findings_seen_before_query(&mut tx, run_id).await?,
        [
            SqlValue::int(run_id),
            SqlValue::Int(previous),
            only.clone(),
            any.clone(),
        ],
        false,
    )];
    if let Some(p) = previous {
        queries.push((
            FINDINGS_GONE,
            [SqlValue::int(p), SqlValue::int(run_id), only, any],
            true,
        ));
    }
    for (sql, params, gone) in &queries {
        let mut rows = tx.fetch(sql, params);
        let mut batch = Vec::with_capacity(chunk);
        while let Some(row) = rows.next().await {
            let row = row?;
            batch.push(LifecycleRow {
                finding: decode_finding(&row)?,
                first_seen: row.time("first_seen_at")?,
                seen_before: *gone || row.bool("seen_before")?.unwrap_or(false),
                gone: *gone,
            });
            if batch.len() == chunk {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(chunk));
                if send.send(Ok(full)).await.is_err() {
                    return Ok(());
                }
            }
        }
        if !batch.is_empty() && send.send(Ok(batch)).await.is_err() {
            return Ok(());
        }
    }
    tx.commit().await
}

fn decode_run(r: &DbRow) -> Result<RunRecord> {
    let missing = |c: &str| StoreError::Decode {
        column: c.to_string(),
        message: "unexpected NULL".into(),
    };
    Ok(RunRecord {
        id: r.i64("id")?.ok_or_else(|| missing("id"))?,
        job: r.text("job")?,
        as_of: r.time("as_of")?.ok_or_else(|| missing("as_of"))?,
        started_at: r.time("started_at")?.ok_or_else(|| missing("started_at"))?,
        finished_at: r.time("finished_at")?,
        status: r.req_text("status")?,
        finding_count: r.i64("finding_count")?.unwrap_or(0),
    })
}

/// A finding's columns as `record_findings` binds them after its run id,
/// in the order `rule, severity, subject_type, subject_id, title,
/// evidence` (the evidence as its JSON text).
fn finding_texts(f: &Finding) -> [String; 6] {
    [
        f.rule.clone(),
        f.severity.as_str().to_string(),
        f.subject_type.as_str().to_string(),
        f.subject_id.clone(),
        f.title.clone(),
        serde_json::to_string(&f.evidence).unwrap_or_else(|_| "{}".to_string()),
    ]
}

/// Reads a finding back from a row of the findings queries above.
fn decode_finding(r: &DbRow) -> Result<Finding> {
    let evidence = evidence_map(r)?;
    let head = FindingHead::decode(r)?;
    Ok(Finding {
        application: head.application,
        rule: head.rule,
        severity: head.severity,
        subject_type: head.subject_type,
        subject_id: head.subject_id,
        title: head.title,
        evidence,
    })
}

/// The same, the evidence kept as JSON text. On SQLite that is the text
/// stored (written by `serde_json` from a map: keys sorted, compact),
/// checked to be an object but not parsed into one; PostgreSQL's jsonb
/// text has its own key order and spacing, so it is parsed and written as
/// SQLite's is, and both print the same.
fn decode_stored_finding(r: &DbRow) -> Result<StoredFinding> {
    let evidence = match r {
        DbRow::Postgres(_) => serde_json::value::to_raw_value(&evidence_map(r)?)
            .map_err(|e| bad_evidence(e.to_string()))?,
        DbRow::Sqlite(_) | DbRow::Cells(_) => {
            let text = r.req_text("evidence")?;
            let raw = serde_json::value::RawValue::from_string(text)
                .map_err(|e| bad_evidence(e.to_string()))?;
            if !raw.get().starts_with('{') {
                return Err(bad_evidence("not a JSON object".into()));
            }
            raw
        }
    };
    let head = FindingHead::decode(r)?;
    Ok(StoredFinding {
        application: head.application,
        rule: head.rule,
        severity: head.severity,
        subject_type: head.subject_type,
        subject_id: head.subject_id,
        title: head.title,
        evidence,
    })
}

/// A finding's evidence as a map: JSONB comes back as JSON on PostgreSQL,
/// TEXT on SQLite; either must be a JSON object.
fn evidence_map(r: &DbRow) -> Result<serde_json::Map<String, serde_json::Value>> {
    let evidence = match r {
        DbRow::Postgres(_) => r.json(5)?,
        DbRow::Sqlite(_) | DbRow::Cells(_) => serde_json::from_str(&r.req_text("evidence")?)
            .map_err(|e| bad_evidence(e.to_string()))?,
    };
    match evidence {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(bad_evidence("not a JSON object".into())),
    }
}

fn bad_evidence(message: String) -> StoreError {
    StoreError::Decode {
        column: "evidence".into(),
        message,
    }
}

/// A finding's columns but its evidence.
struct FindingHead {
    rule: String,
    severity: Severity,
    subject_type: SubjectType,
    subject_id: String,
    title: String,
    application: Option<String>,
}

impl FindingHead {
    fn decode(r: &DbRow) -> Result<FindingHead> {
        let bad = |column: &str, message: String| StoreError::Decode {
            column: column.to_string(),
            message,
        };
        Ok(FindingHead {
            severity: r
                .req_text("severity")?
                .parse()
                .map_err(|e| bad("severity", format!("{e}")))?,
            subject_type: r
                .req_text("subject_type")?
                .parse()
                .map_err(|e| bad("subject_type", format!("{e}")))?,
            application: r.text("application")?,
            rule: r.req_text("rule")?,
            subject_id: r.req_text("subject_id")?,
            title: r.req_text("title")?,
        })
    }
}
