//! The report archive: every rendered report, byte for byte, with its SHA-256.
//! `verify` recomputes the digest of what is stored, so a changed byte in an
//! archived report is caught; `verify_file` compares a received .eml with it.
//!
//! The digest sits beside the bytes, so alone it proves integrity against
//! accidental or careless change. Each archived report is also an entry of
//! the ledger (`store::ledger`, kind `report`, subject the report's id),
//! appended in the archiving transaction: a report changed, removed or
//! slipped in later is found by `runs verify --chain`.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::findings_csv::CsvFile;
use super::mime::sha256_hex;
use super::render::RenderedReport;
use crate::store::{DbRow, SqlValue, Store, StoreError, Tx, ledger};

/// The ledger's kind of an archived report.
pub const LEDGER_KIND: &str = "report";

/// An archived report, without its bytes.
#[derive(Debug, Clone)]
pub struct ArchivedReport {
    pub id: i64,
    pub run_id: i64,
    pub job: Option<String>,
    pub template: String,
    pub message_id: String,
    pub sha256: String,
    pub size: i64,
    pub created_at: DateTime<Utc>,
    /// The archived CSV the message names instead of attaching it.
    pub csv_sha256: Option<String>,
}

/// The outcome of checking one archived report.
#[derive(Debug, Clone)]
pub struct Verification {
    pub report: ArchivedReport,
    /// The SHA-256 of the bytes as they are now.
    pub actual_sha256: String,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.actual_sha256 == self.report.sha256
    }
}

/// Archives a rendered report and returns its archive id. Archiving the same
/// bytes of the same run and template twice keeps one copy.
///
/// The message is lent to the INSERT, not copied: a report with its CSV
/// attached is a message of up to ~15 MB, and each copy (the parameter, the
/// driver's argument buffer) added its size to the report's peak (10,320
/// findings: 118–142 MB before). It is back in `report` when this returns,
/// whatever the outcome.
pub async fn archive(store: &Store, report: &mut RenderedReport) -> Result<i64, StoreError> {
    // The write lock from the start (SQLite): the ledger's tail read below
    // stays the tail until this commits.
    let mut tx = store.begin_write().await?;
    let row = vec![
        SqlValue::int(report.run_id),
        SqlValue::Text(report.job.clone()),
        SqlValue::text(&report.template),
        SqlValue::text(&report.message_id),
        SqlValue::text(&report.sha256),
        SqlValue::Bytes(Some(std::mem::take(&mut report.eml))),
        SqlValue::time(Utc::now()),
    ];
    // SQLite binds the row's values where they are (`execute_each`).
    let inserted = tx
        .execute_each(
            "INSERT INTO reports (run_id, job, template, message_id, sha256, eml, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (run_id, template, sha256) DO NOTHING",
            7,
            std::slice::from_ref(&row),
        )
        .await;
    if let Some(SqlValue::Bytes(Some(eml))) = row.into_iter().nth(5) {
        report.eml = eml;
    }
    let inserted = inserted?;
    let row = tx
        .fetch_optional(
            "SELECT id FROM reports WHERE run_id = $1 AND template = $2 AND sha256 = $3",
            &[
                SqlValue::int(report.run_id),
                SqlValue::text(&report.template),
                SqlValue::text(&report.sha256),
            ],
        )
        .await?;
    let id = row
        .map(|r| r.i64("id"))
        .transpose()?
        .flatten()
        .ok_or_else(|| StoreError::Decode {
            column: "reports.id".into(),
            message: "the archived report is not there".into(),
        })?;
    if inserted > 0 && !report.csv_attached {
        let csv_name = format!(
            "{}-findings.csv",
            super::render::file_stem(report.job.as_deref(), report.run_id)
        );
        archive_file(&mut tx, &csv_name, &report.csv).await?;
        tx.execute(
            "UPDATE reports SET csv_sha256 = $1 WHERE id = $2",
            &[SqlValue::text(&report.csv.sha256), SqlValue::int(id)],
        )
        .await?;
    }
    if inserted > 0 {
        ledger::append(
            &mut tx,
            LEDGER_KIND,
            &id.to_string(),
            &sha256_hex(&report.eml),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// How much of an archived file one row holds.
const FILE_CHUNK: usize = 1 << 20;

/// Archives a report's CSV (by its SHA-256, once), a chunk at a time.
async fn archive_file(tx: &mut Tx, name: &str, csv: &CsvFile) -> Result<(), StoreError> {
    use std::io::Read;
    let there = tx
        .fetch_optional(
            "SELECT sha256 FROM report_files WHERE sha256 = $1",
            &[SqlValue::text(&csv.sha256)],
        )
        .await?;
    if there.is_some() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO report_files (sha256, name, bytes, created_at) VALUES ($1, $2, $3, $4)",
        &[
            SqlValue::text(&csv.sha256),
            SqlValue::text(name),
            SqlValue::int(csv.size as i64),
            SqlValue::time(Utc::now()),
        ],
    )
    .await?;
    let io = |source| StoreError::File {
        path: csv.path().display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(csv.path()).map_err(io)?;
    let mut seq = 0i64;
    loop {
        let mut chunk = Vec::with_capacity(FILE_CHUNK);
        (&mut file)
            .take(FILE_CHUNK as u64)
            .read_to_end(&mut chunk)
            .map_err(io)?;
        if chunk.is_empty() {
            break;
        }
        tx.execute(
            "INSERT INTO report_file_chunks (sha256, seq, data) VALUES ($1, $2, $3)",
            &[
                SqlValue::text(&csv.sha256),
                SqlValue::int(seq),
                SqlValue::Bytes(Some(chunk)),
            ],
        )
        .await?;
        seq += 1;
    }
    Ok(())
}

/// An archived file, as `runs file` writes it back.
#[derive(Debug, Clone)]
pub struct ArchivedFile {
    pub sha256: String,
    pub name: String,
    pub bytes: i64,
}

/// Writes the archived file of SHA-256 `sha256` into `out` a chunk at a
/// time, and returns what it is and the SHA-256 of what was written (which
/// differs from `sha256` only if the archive was changed).
pub async fn write_file(
    store: &Store,
    sha256: &str,
    out: &mut impl std::io::Write,
) -> Result<Option<(ArchivedFile, String)>, StoreError> {
    use sha2::Digest;
    let rows = store
        .fetch_all(
            "SELECT sha256, name, bytes FROM report_files WHERE sha256 = $1",
            &[SqlValue::text(sha256.to_ascii_lowercase())],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let file = ArchivedFile {
        sha256: row.req_text("sha256")?,
        name: row.req_text("name")?,
        bytes: row.i64("bytes")?.unwrap_or(0),
    };
    let mut hash = sha2::Sha256::new();
    let mut seq = 0i64;
    // One chunk per statement: never more than a chunk in memory.
    loop {
        let rows = store
            .fetch_all(
                "SELECT data FROM report_file_chunks WHERE sha256 = $1 AND seq = $2",
                &[SqlValue::text(&file.sha256), SqlValue::int(seq)],
            )
            .await?;
        let Some(data) = rows.first().map(|r| r.bytes("data")).transpose()?.flatten() else {
            break;
        };
        hash.update(&data);
        out.write_all(&data).map_err(|source| StoreError::File {
            path: file.name.clone(),
            source,
        })?;
        seq += 1;
    }
    let actual = crate::support::pii::hex(&hash.finalize());
    Ok(Some((file, actual)))
}

/// The owner of the ledger's `report` entries, for `runs verify --chain`.
pub struct Ledgered;
pub const LEDGERED: Ledgered = Ledgered;

impl ledger::Owner for Ledgered {
    fn kinds(&self) -> &'static [&'static str] {
        &[LEDGER_KIND]
    }

    fn content<'a>(
        &'a self,
        store: &'a Store,
        _kind: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Option<ledger::Digests>, StoreError>> {
        Box::pin(ledger_content(store, subject))
    }

    fn unledgered<'a>(
        &'a self,
        store: &'a Store,
    ) -> BoxFuture<'a, Result<Vec<ledger::Unrecorded>, StoreError>> {
        Box::pin(async move {
            Ok(unledgered(store)
                .await?
                .into_iter()
                .map(|(subject, at)| ledger::Unrecorded {
                    kind: LEDGER_KIND,
                    subject,
                    at: Some(at),
                })
                .collect())
        })
    }
}

/// What an archived report is now, for the ledger's check of an entry of
/// kind `report`: (what, SHA-256) of its bytes and of the digest recorded
/// beside them; `None` when the report is gone.
async fn ledger_content(
    store: &Store,
    subject: &str,
) -> Result<Option<Vec<(&'static str, String)>>, StoreError> {
    let Ok(id) = subject.parse::<i64>() else {
        return Ok(None);
    };
    let rows = store
        .fetch_all(
            "SELECT sha256, eml FROM reports WHERE id = $1",
            &[SqlValue::int(id)],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(vec![
        (
            "its content",
            sha256_hex(&row.bytes("eml")?.unwrap_or_default()),
        ),
        ("its recorded SHA-256", row.req_text("sha256")?),
    ]))
}

/// Archived reports that no ledger entry covers (by id, with their archive
/// time): none unless someone wrote the table by hand.
async fn unledgered(store: &Store) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
    let rows = store
        .fetch_all(
            "SELECT r.id, r.created_at FROM reports r
              WHERE NOT EXISTS (SELECT 1 FROM ledger l
                                 WHERE l.kind = $1 AND l.subject = CAST(r.id AS TEXT))
              ORDER BY r.id",
            &[SqlValue::text(LEDGER_KIND)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.i64("id")?.unwrap_or(0).to_string(),
                r.time("created_at")?.unwrap_or_default(),
            ))
        })
        .collect()
}

const COLUMNS: &str = "id, run_id, job, template, message_id, sha256, created_at, csv_sha256";

fn decode(r: &DbRow, size: i64) -> Result<ArchivedReport, StoreError> {
    let missing = |c: &str| StoreError::Decode {
        column: c.to_string(),
        message: "unexpected NULL".into(),
    };
    Ok(ArchivedReport {
        id: r.i64("id")?.ok_or_else(|| missing("id"))?,
        run_id: r.i64("run_id")?.ok_or_else(|| missing("run_id"))?,
        job: r.text("job")?,
        template: r.req_text("template")?,
        message_id: r.req_text("message_id")?,
        sha256: r.req_text("sha256")?,
        size,
        created_at: r.time("created_at")?.ok_or_else(|| missing("created_at"))?,
        csv_sha256: r.text("csv_sha256")?,
    })
}

/// The archived reports of a run (all runs when `None`), oldest first.
pub async fn list(store: &Store, run_id: Option<i64>) -> Result<Vec<ArchivedReport>, StoreError> {
    let rows = store
        .fetch_all(
            &format!(
                "SELECT {COLUMNS}, CAST(LENGTH(eml) AS BIGINT) AS size FROM reports
                  WHERE ($1 IS NULL OR run_id = $1) ORDER BY id"
            ),
            &[SqlValue::Int(run_id)],
        )
        .await?;
    rows.iter()
        .map(|r| decode(r, r.i64("size")?.unwrap_or(0)))
        .collect()
}

/// The bytes of an archived report.
pub async fn eml(store: &Store, report_id: i64) -> Result<Option<Vec<u8>>, StoreError> {
    let rows = store
        .fetch_all(
            "SELECT eml FROM reports WHERE id = $1",
            &[SqlValue::int(report_id)],
        )
        .await?;
    match rows.first() {
        Some(r) => r.bytes("eml"),
        None => Ok(None),
    }
}

/// Recomputes the SHA-256 of every archived report of `run_id`. An empty
/// result means the run has no archived report.
pub async fn verify(store: &Store, run_id: i64) -> Result<Vec<Verification>, StoreError> {
    let mut out = Vec::new();
    for report in list(store, Some(run_id)).await? {
        let bytes = eml(store, report.id).await?.unwrap_or_default();
        out.push(Verification {
            actual_sha256: sha256_hex(&bytes),
            report,
        });
    }
    Ok(out)
}
