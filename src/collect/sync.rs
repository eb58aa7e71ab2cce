//! `accessaudit sync`: read a source through its mapping into the canonical
//! tables, all or nothing.
//!
//! - One store transaction per source: a sync that fails anywhere (the
//!   source, a code without translation, the store) leaves the store as it
//!   was, and is recorded as failed in `syncs`.
//! - Snapshot tables (people, principals, roles, role_permissions, grants)
//!   are read whole in one read-only snapshot of the source. A row the feed
//!   wrote last time and no longer has is deleted; a grant is not deleted
//!   but revoked (`revoked_at` = the sync time), so that `run --as-of` an
//!   earlier instant still sees it. A grant first seen gets `granted_at` =
//!   the sync time when the source has none (WukongCRM records none). Each
//!   grant and revoke is written to `access_changes`.
//! - Each version of an account is kept in `principal_history` with
//!   valid_from / valid_to; the engine reads the version valid at T.
//! - Events are incremental: each feed keeps a watermark (the newest
//!   `occurred_at` read) and reads from it on; rows at the watermark itself
//!   are read again and skipped by id, so an event logged in the same
//!   second after a sync is not lost.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Utc};

use super::mapping::{Feed, Mapping, SUPER_ROLE_ID};
use super::readers::elasticsearch::{EsClient, Flavor};
use super::readers::sql::SqlSource;
use super::readers::{ConvertError, RawRow, convert_row, files};
use super::source::{SourceConfig, SourceKind};
use super::tables::{self, ColumnSpec, TableSpec};
use crate::store::{Backend, SqlValue, Store, StoreError, Tx};
use crate::yaml::LocatedErrors;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Mapping(#[from] LocatedErrors),
    #[error("source {source_name}: {message}")]
    Source {
        source_name: String,
        message: String,
    },
    #[error("{mapping}: {error}")]
    Convert {
        mapping: String,
        error: ConvertError,
    },
    #[error("{mapping}: feed `{feed}`: {message}")]
    Columns {
        mapping: String,
        feed: String,
        message: String,
    },
    #[error("writing to the store: {0}")]
    Store(#[from] StoreError),
    #[error("source {0}: the sync took longer than its timeout")]
    Timeout(String),
}

/// What one feed did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FeedReport {
    pub feed: String,
    pub table: String,
    /// Rows read from the source (after code translations dropped some).
    pub read: u64,
    /// Events: rows not seen before. Snapshots: rows written.
    pub written: u64,
    /// Snapshot rows the source no longer has (deleted; grants revoked).
    pub removed: u64,
    pub granted: u64,
    pub revoked: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncReport {
    pub source: String,
    pub sync_id: i64,
    pub at: DateTime<Utc>,
    pub feeds: Vec<FeedReport>,
}

/// Syncs one source as of `now` (the instant recorded for first-seen
/// grants, revokes and account versions).
pub async fn sync_source(
    store: &Store,
    name: &str,
    source: &SourceConfig,
    now: DateTime<Utc>,
) -> Result<SyncReport, SyncError> {
    let mapping = Mapping::load(&source.mapping, source.kind.style())?;
    let work = sync_with(store, name, source, &mapping, now);
    let result = match tokio::time::timeout(source.timeout.0, work).await {
        Ok(r) => r,
        Err(_) => Err(SyncError::Timeout(name.to_string())),
    };
    if let Err(e) = &result {
        // The transaction is gone; the failure itself is still recorded.
        let _ = store
            .execute(
                "INSERT INTO syncs (source, started_at, finished_at, status, error) VALUES ($1, $2, $3, 'failed', $4)",
                &[
                    SqlValue::text(name),
                    SqlValue::time(now),
                    SqlValue::time(Utc::now()),
                    SqlValue::text(e.to_string()),
                ],
            )
            .await;
    }
    result
}

/// An open source.
enum Reader {
    Sql(SqlSource),
    Files {
        kind: SourceKind,
        dir: std::path::PathBuf,
    },
    Index(EsClient),
}

impl Reader {
    async fn open(
        name: &str,
        source: &SourceConfig,
        mapping: &Mapping,
    ) -> Result<Reader, SyncError> {
        let fail = |message: String| SyncError::Source {
            source_name: name.to_string(),
            message,
        };
        let password = source.password(name).map_err(|e| fail(e.to_string()))?;
        let password = password.as_ref().map(|p| p.expose());
        let url = source.url.as_deref().unwrap_or("");
        Ok(match source.kind {
            SourceKind::Mysql | SourceKind::Postgres | SourceKind::Sqlite => Reader::Sql(
                SqlSource::open(source.kind, url, password, source.timeout.0, mapping.tz())
                    .await
                    .map_err(|e| fail(e.to_string()))?,
            ),
            SourceKind::Csv | SourceKind::Jsonl => Reader::Files {
                kind: source.kind,
                dir: source.path.clone().unwrap_or_default(),
            },
            SourceKind::Elasticsearch | SourceKind::Opensearch => Reader::Index(
                EsClient::new(
                    if source.kind == SourceKind::Opensearch {
                        Flavor::OpenSearch
                    } else {
                        Flavor::Elasticsearch
                    },
                    url,
                    source.username.as_deref(),
                    password,
                    source.timeout.0,
                    source.page_size,
                )
                .map_err(|e| fail(e.to_string()))?,
            ),
        })
    }

    /// Streams a feed's rows to `sink` in batches.
    async fn for_each_batch<F>(
        &mut self,
        name: &str,
        feed_name: &str,
        feed: &Feed,
        since: Option<DateTime<Utc>>,
        tz: chrono_tz::Tz,
        sink: F,
    ) -> Result<(), SyncError>
    where
        F: AsyncFnMut(Vec<RawRow>) -> Result<(), SyncError>,
    {
        let fail = |message: String| SyncError::Source {
            source_name: name.to_string(),
            message: format!("feed `{feed_name}`: {message}"),
        };
        match self {
            Reader::Sql(s) => s
                .for_each_batch(feed.query.as_deref().unwrap_or(""), since, tz, BATCH, sink)
                .await
                .map_err(|e| fail(e.to_string()))?,
            Reader::Files { kind, dir } => {
                let dir: &Path = dir;
                if *kind == SourceKind::Csv {
                    files::read_csv(dir, feed, since, tz, BATCH, sink).await
                } else {
                    files::read_jsonl(dir, feed, since, tz, BATCH, sink).await
                }
                .map_err(|e| fail(e.to_string()))?
            }
            Reader::Index(es) => es
                .read(feed, since, tz, sink)
                .await
                .map_err(|e| fail(e.to_string()))?,
        }
    }

    async fn close(self) {
        if let Reader::Sql(s) = self {
            let _ = s.close().await;
        }
    }
}

async fn sync_with(
    store: &Store,
    name: &str,
    source: &SourceConfig,
    mapping: &Mapping,
    now: DateTime<Utc>,
) -> Result<SyncReport, SyncError> {
    let mut reader = Reader::open(name, source, mapping).await?;
    let result = write_all(store, name, &mut reader, mapping, now).await;
    reader.close().await;
    result
}

async fn write_all(
    store: &Store,
    name: &str,
    reader: &mut Reader,
    mapping: &Mapping,
    now: DateTime<Utc>,
) -> Result<SyncReport, SyncError> {
    let mut tx = store.begin().await?;
    let sync_id = tx
        .fetch_optional(
            "INSERT INTO syncs (source, started_at, status) VALUES ($1, $2, 'succeeded') RETURNING id",
            &[SqlValue::text(name), SqlValue::time(now)],
        )
        .await?
        .map(|r| r.i64("id"))
        .transpose()?
        .flatten()
        .unwrap_or(0);
    let ctx = SyncCtx {
        source: name,
        sync_id,
        now,
        backend: store.backend(),
    };
    let mapping_name = mapping.file.display().to_string();
    let mut reports = Vec::new();
    for (feed_name, feed) in mapping.ordered_feeds() {
        let spec = feed.spec();
        let since = if feed.incremental() {
            watermark(&mut tx, name, feed_name).await?
        } else {
            None
        };
        let mut report = FeedReport {
            feed: feed_name.clone(),
            table: spec.name.to_string(),
            ..FeedReport::default()
        };
        let mut columns: Option<Vec<&'static ColumnSpec>> = None;
        // Snapshots are diffed whole; events are written batch by batch.
        let mut snapshot: Vec<Vec<SqlValue>> = Vec::new();
        let mut newest: Option<DateTime<Utc>> = None;
        reader
            .for_each_batch(name, feed_name, feed, since, mapping.tz(), async |raw| {
                let cols = match &columns {
                    Some(c) => c.clone(),
                    None => {
                        let c = feed_columns(feed, spec, &raw).map_err(|message| {
                            SyncError::Columns {
                                mapping: mapping_name.clone(),
                                feed: feed_name.clone(),
                                message,
                            }
                        })?;
                        if !raw.is_empty() || feed.query.is_none() {
                            columns = Some(c.clone());
                        }
                        c
                    }
                };
                let mut rows = Vec::with_capacity(raw.len());
                for r in &raw {
                    match convert_row(mapping, feed_name, feed, &cols, r) {
                        Ok(Some(row)) => rows.push(row),
                        Ok(None) => {}
                        Err(error) => {
                            return Err(SyncError::Convert {
                                mapping: mapping_name.clone(),
                                error,
                            });
                        }
                    }
                }
                report.read += rows.len() as u64;
                if feed.incremental() {
                    newest =
                        newest.max(write_events(&mut tx, spec, &cols, rows, &mut report).await?);
                } else {
                    snapshot.extend(rows);
                }
                Ok(())
            })
            .await?;
        let columns = match columns {
            Some(c) => c,
            None => spec.key.iter().filter_map(|k| spec.column(k)).collect(),
        };
        if feed.incremental() {
            if let Some(newest) = newest {
                set_watermark(&mut tx, name, feed_name, newest).await?;
            }
        } else {
            if spec.name == tables::ROLES.name && !mapping.privileged.roles.is_empty() {
                mark_privileged(&columns, &mut snapshot, &mapping.privileged.roles);
            }
            write_snapshot(
                &mut tx,
                &ctx,
                feed_name,
                spec,
                &columns,
                snapshot,
                &mut report,
            )
            .await?;
        }
        tracing::info!(source = name, feed = %feed_name, read = report.read, written = report.written, removed = report.removed, "feed synced");
        reports.push(report);
    }
    if !mapping.privileged.principals.is_empty() {
        reports.extend(super_users(&mut tx, &ctx, &mapping.privileged.principals).await?);
    }
    let summary = serde_json::to_string(&reports).unwrap_or_default();
    tx.execute(
        "UPDATE syncs SET finished_at = $1, summary = $2 WHERE id = $3",
        &[
            SqlValue::time(Utc::now()),
            SqlValue::text(summary),
            SqlValue::int(sync_id),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(SyncReport {
        source: name.to_string(),
        sync_id,
        at: now,
        feeds: reports,
    })
}

struct SyncCtx<'a> {
    source: &'a str,
    sync_id: i64,
    now: DateTime<Utc>,
    backend: Backend,
}

/// The canonical columns a feed gives: its `columns` (documents) or its
/// query's result columns (checked against the table here: a typo must not
/// silently leave a column empty).
fn feed_columns(
    feed: &Feed,
    spec: &'static TableSpec,
    raw: &[RawRow],
) -> Result<Vec<&'static ColumnSpec>, String> {
    let names: Vec<String> = if feed.query.is_some() {
        match raw.first() {
            Some(row) => row.iter().map(|(n, _)| n.clone()).collect(),
            // No rows: only the key matters (to remove what is gone).
            None => {
                return Ok(spec.key.iter().filter_map(|k| spec.column(k)).collect());
            }
        }
    } else {
        feed.columns.keys().cloned().collect()
    };
    let mut columns = Vec::with_capacity(names.len());
    for n in &names {
        match spec.column(n) {
            Some(c) if columns.iter().any(|x: &&ColumnSpec| x.name == c.name) => {
                return Err(format!("column `{n}` appears twice"));
            }
            Some(c) => columns.push(c),
            None => {
                return Err(format!(
                    "the query returns column `{n}`, which table {} does not have; its columns are {}",
                    spec.name,
                    spec.columns
                        .iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    for required in spec.columns.iter().filter(|c| c.required) {
        if !columns.iter().any(|c| c.name == required.name) {
            return Err(format!(
                "table {} needs column `{}`",
                spec.name, required.name
            ));
        }
    }
    Ok(columns)
}

fn mark_privileged(columns: &[&'static ColumnSpec], rows: &mut [Vec<SqlValue>], ids: &[String]) {
    let id_at = columns.iter().position(|c| c.name == "id");
    let flag_at = columns.iter().position(|c| c.name == "privileged");
    let (Some(id_at), Some(flag_at)) = (id_at, flag_at) else {
        return;
    };
    for row in rows {
        if let SqlValue::Text(Some(id)) = &row[id_at]
            && ids.contains(id)
        {
            row[flag_at] = SqlValue::Bool(Some(true));
        }
    }
}

fn row_key(spec: &TableSpec, columns: &[&ColumnSpec], row: &[SqlValue]) -> String {
    spec.key
        .iter()
        .map(|k| {
            columns
                .iter()
                .position(|c| c.name == *k)
                .and_then(|i| match &row[i] {
                    SqlValue::Text(Some(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

const PARAMS_PER_STATEMENT: usize = 30_000;
/// Rows read from a source before they are converted and written.
const BATCH: usize = 5_000;

/// Writes rows in multi-row statements; `on_conflict` ends each.
async fn insert_rows(
    tx: &mut Tx,
    spec: &TableSpec,
    columns: &[&ColumnSpec],
    rows: &[Vec<SqlValue>],
    upsert: bool,
) -> Result<u64, StoreError> {
    let backend = tx.backend();
    let per = (PARAMS_PER_STATEMENT / columns.len().max(1)).clamp(1, 2000);
    let mut written = 0;
    for chunk in rows.chunks(per) {
        let sql = if upsert {
            spec.upsert_sql(backend, columns, chunk.len())
        } else {
            let upsert_sql = spec.upsert_sql(backend, columns, chunk.len());
            let cut = upsert_sql.find(" ON CONFLICT").unwrap_or(upsert_sql.len());
            format!(
                "{} ON CONFLICT ({}) DO NOTHING",
                &upsert_sql[..cut],
                spec.key.join(", ")
            )
        };
        let params: Vec<SqlValue> = chunk.iter().flatten().cloned().collect();
        written += tx.execute(&sql, &params).await?;
    }
    Ok(written)
}

async fn watermark(
    tx: &mut Tx,
    source: &str,
    feed: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(
        match tx
            .fetch_optional(
                "SELECT watermark FROM source_watermarks WHERE source = $1 AND feed = $2",
                &[SqlValue::text(source), SqlValue::text(feed)],
            )
            .await?
        {
            Some(row) => row.time("watermark")?,
            None => None,
        },
    )
}

/// Writes a batch of events (ids seen before are skipped); returns the
/// newest `occurred_at` of the batch.
async fn write_events(
    tx: &mut Tx,
    spec: &TableSpec,
    columns: &[&ColumnSpec],
    rows: Vec<Vec<SqlValue>>,
    report: &mut FeedReport,
) -> Result<Option<DateTime<Utc>>, SyncError> {
    // Within one statement an id may appear once.
    let mut seen = HashSet::new();
    let rows: Vec<Vec<SqlValue>> = rows
        .into_iter()
        .filter(|r| seen.insert(row_key(spec, columns, r)))
        .collect();
    report.written += insert_rows(tx, spec, columns, &rows, false).await?;
    let at = columns.iter().position(|c| c.name == "occurred_at");
    Ok(rows
        .iter()
        .filter_map(|r| match at.map(|i| &r[i]) {
            Some(SqlValue::Time(Some(t))) => Some(*t),
            _ => None,
        })
        .max())
}

async fn set_watermark(
    tx: &mut Tx,
    source: &str,
    feed: &str,
    newest: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO source_watermarks (source, feed, watermark) VALUES ($1, $2, $3)
         ON CONFLICT (source, feed) DO UPDATE SET watermark = excluded.watermark",
        &[
            SqlValue::text(source),
            SqlValue::text(feed),
            SqlValue::time(newest),
        ],
    )
    .await?;
    Ok(())
}

/// Replaces what `feed` wrote last time with `rows`, keeping history.
async fn write_snapshot(
    tx: &mut Tx,
    ctx: &SyncCtx<'_>,
    feed: &str,
    spec: &'static TableSpec,
    columns: &[&'static ColumnSpec],
    rows: Vec<Vec<SqlValue>>,
    report: &mut FeedReport,
) -> Result<(), SyncError> {
    let mut columns = columns.to_vec();
    let mut rows = rows;
    let is_grants = spec.name == tables::GRANTS.name;
    if is_grants && !columns.iter().any(|c| c.name == "granted_at") {
        columns.push(
            tables::GRANTS
                .column("granted_at")
                .unwrap_or(&tables::GRANTS.columns[3]),
        );
        rows.iter_mut().for_each(|r| r.push(SqlValue::Time(None)));
    }
    // One row per key; the later wins.
    let mut by_key: Vec<(String, Vec<SqlValue>)> = Vec::with_capacity(rows.len());
    let mut index: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let key = row_key(spec, &columns, &row);
        match index.get(&key) {
            Some(&i) => by_key[i].1 = row,
            None => {
                index.insert(key.clone(), by_key.len());
                by_key.push((key, row));
            }
        }
    }
    let previous: HashSet<String> = tx
        .fetch_all(
            "SELECT row_key FROM source_rows WHERE source = $1 AND feed = $2",
            &[SqlValue::text(ctx.source), SqlValue::text(feed)],
        )
        .await?
        .iter()
        .map(|r| r.req_text("row_key"))
        .collect::<Result<_, _>>()?;

    if is_grants {
        prepare_grants(tx, ctx, &columns, &mut by_key, &previous, report).await?;
    }
    let rows: Vec<Vec<SqlValue>> = by_key.iter().map(|(_, r)| r.clone()).collect();
    report.written = insert_rows(tx, spec, &columns, &rows, true).await?;

    let current: HashSet<&String> = by_key.iter().map(|(k, _)| k).collect();
    let gone: Vec<&String> = previous.iter().filter(|k| !current.contains(k)).collect();
    for key in &gone {
        remove_row(tx, ctx, spec, key, report).await?;
        tx.execute(
            "DELETE FROM source_rows WHERE source = $1 AND feed = $2 AND row_key = $3",
            &[
                SqlValue::text(ctx.source),
                SqlValue::text(feed),
                SqlValue::text(key.as_str()),
            ],
        )
        .await?;
    }
    report.removed = gone.len() as u64;
    for (key, _) in by_key.iter().filter(|(k, _)| !previous.contains(k)) {
        tx.execute(
            "INSERT INTO source_rows (source, feed, table_name, row_key) VALUES ($1, $2, $3, $4)
             ON CONFLICT (source, feed, row_key) DO NOTHING",
            &[
                SqlValue::text(ctx.source),
                SqlValue::text(feed),
                SqlValue::text(spec.name),
                SqlValue::text(key.as_str()),
            ],
        )
        .await?;
    }
    if spec.name == tables::PRINCIPALS.name {
        record_principal_versions(tx, ctx, &columns, &by_key).await?;
    }
    Ok(())
}

/// Grants: `granted_at` kept from the first sighting (or the sync time when
/// the source has none); a grant seen again after a revoke starts a new row,
/// and the revoked one keeps its interval under a suffixed id.
async fn prepare_grants(
    tx: &mut Tx,
    ctx: &SyncCtx<'_>,
    columns: &[&ColumnSpec],
    rows: &mut [(String, Vec<SqlValue>)],
    previous: &HashSet<String>,
    report: &mut FeedReport,
) -> Result<(), SyncError> {
    let pos = |name: &str| columns.iter().position(|c| c.name == name);
    let (Some(granted_at), Some(principal), Some(role)) =
        (pos("granted_at"), pos("principal_id"), pos("role_id"))
    else {
        return Ok(());
    };
    let ids: Vec<String> = rows.iter().map(|(k, _)| k.clone()).collect();
    let sql = format!(
        "SELECT id, granted_at, revoked_at FROM grants WHERE {}",
        ctx.backend.in_list("id", 1)
    );
    // id → (granted_at, revoked_at) as stored.
    type Interval = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let mut stored: HashMap<String, Interval> = HashMap::new();
    for r in tx.fetch_all(&sql, &[SqlValue::TextList(ids)]).await? {
        stored.insert(
            r.req_text("id")?,
            (r.time("granted_at")?, r.time("revoked_at")?),
        );
    }
    for (key, row) in rows.iter_mut() {
        let source_has_date = matches!(row[granted_at], SqlValue::Time(Some(_)));
        match stored.get(key.as_str()) {
            Some((_, Some(revoked))) => {
                // Re-granted: keep the old interval under another id.
                let old_id = format!("{key}@{}", crate::model::format_instant(*revoked));
                tx.execute(
                    "UPDATE grants SET id = $1 WHERE id = $2",
                    &[SqlValue::text(old_id), SqlValue::text(key.as_str())],
                )
                .await?;
                if !source_has_date {
                    row[granted_at] = SqlValue::time(ctx.now);
                }
            }
            Some((first_seen, None)) if !source_has_date => {
                row[granted_at] = SqlValue::Time(first_seen.or(Some(ctx.now)));
            }
            None if !source_has_date => row[granted_at] = SqlValue::time(ctx.now),
            _ => {}
        }
        let revoked_before = matches!(stored.get(key.as_str()), Some((_, Some(_))));
        if !previous.contains(key.as_str()) || revoked_before {
            report.granted += 1;
            access_change(tx, ctx, "grant", key, &row[principal], &row[role]).await?;
        }
    }
    Ok(())
}

async fn access_change(
    tx: &mut Tx,
    ctx: &SyncCtx<'_>,
    change: &str,
    grant_id: &str,
    principal: &SqlValue,
    role: &SqlValue,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO access_changes (sync_id, source, at, change, grant_id, principal_id, role_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            SqlValue::int(ctx.sync_id),
            SqlValue::text(ctx.source),
            SqlValue::time(ctx.now),
            SqlValue::text(change),
            SqlValue::text(grant_id),
            principal.clone(),
            role.clone(),
        ],
    )
    .await?;
    Ok(())
}

/// A row the source no longer has: deleted, except grants (revoked) and
/// accounts (their last version closed, then deleted).
async fn remove_row(
    tx: &mut Tx,
    ctx: &SyncCtx<'_>,
    spec: &TableSpec,
    key: &str,
    report: &mut FeedReport,
) -> Result<(), SyncError> {
    let parts: Vec<SqlValue> = key.split('\u{1f}').map(SqlValue::text).collect();
    if spec.name == tables::GRANTS.name {
        let live = tx
            .fetch_optional(
                "SELECT principal_id, role_id FROM grants WHERE id = $1 AND revoked_at IS NULL",
                &parts[..1],
            )
            .await?;
        if let Some(row) = live {
            tx.execute(
                "UPDATE grants SET revoked_at = $1 WHERE id = $2",
                &[SqlValue::time(ctx.now), parts[0].clone()],
            )
            .await?;
            let principal = SqlValue::Text(row.text("principal_id")?);
            let role = SqlValue::Text(row.text("role_id")?);
            access_change(tx, ctx, "revoke", key, &principal, &role).await?;
            report.revoked += 1;
        }
        return Ok(());
    }
    if spec.name == tables::PRINCIPALS.name {
        tx.execute(
            "UPDATE principal_history SET valid_to = $1 WHERE principal_id = $2 AND source = $3 AND valid_to IS NULL",
            &[SqlValue::time(ctx.now), parts[0].clone(), SqlValue::text(ctx.source)],
        )
        .await?;
    }
    let condition: Vec<String> = spec
        .key
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} = ${}", i + 1))
        .collect();
    tx.execute(
        &format!(
            "DELETE FROM {} WHERE {}",
            spec.name,
            condition.join(" AND ")
        ),
        &parts,
    )
    .await?;
    Ok(())
}

const HISTORY_COLUMNS: &str = "login, display_name, email, person_id, department, account_type, status, mfa_enabled, created_at, last_login_at, password_changed_at";

/// A new version of each account that is new or changed since the last sync.
async fn record_principal_versions(
    tx: &mut Tx,
    ctx: &SyncCtx<'_>,
    columns: &[&ColumnSpec],
    rows: &[(String, Vec<SqlValue>)],
) -> Result<(), SyncError> {
    let mut open: HashMap<String, String> = HashMap::new();
    for r in tx
        .fetch_all(
            "SELECT principal_id, fingerprint FROM principal_history WHERE source = $1 AND valid_to IS NULL",
            &[SqlValue::text(ctx.source)],
        )
        .await?
    {
        open.insert(r.req_text("principal_id")?, r.req_text("fingerprint")?);
    }
    let created_at = columns.iter().position(|c| c.name == "created_at");
    for (id, row) in rows {
        let fingerprint = format!("{row:?}");
        let valid_from = match open.get(id) {
            Some(f) if *f == fingerprint => continue,
            Some(_) => {
                tx.execute(
                    "UPDATE principal_history SET valid_to = $1 WHERE principal_id = $2 AND source = $3 AND valid_to IS NULL",
                    &[SqlValue::time(ctx.now), SqlValue::text(id), SqlValue::text(ctx.source)],
                )
                .await?;
                ctx.now
            }
            // The first version holds from the account's creation: the
            // source says it existed, and how it was before is unknown.
            None => match created_at.map(|i| &row[i]) {
                Some(SqlValue::Time(Some(t))) if *t < ctx.now => *t,
                _ => ctx.now,
            },
        };
        tx.execute(
            &format!(
                "INSERT INTO principal_history (principal_id, source, valid_from, fingerprint, {HISTORY_COLUMNS})
                 SELECT id, $1, $2, $3, {HISTORY_COLUMNS} FROM principals WHERE id = $4
                 ON CONFLICT (principal_id, valid_from) DO NOTHING"
            ),
            &[
                SqlValue::text(ctx.source),
                SqlValue::time(valid_from),
                SqlValue::text(fingerprint),
                SqlValue::text(id),
            ],
        )
        .await?;
    }
    Ok(())
}

/// `privileged.principals`: the synthetic privileged role, and a grant of it
/// to each listed account the source has.
async fn super_users(
    tx: &mut Tx,
    ctx: &SyncCtx<'_>,
    ids: &[String],
) -> Result<Vec<FeedReport>, SyncError> {
    let role_cols: Vec<&'static ColumnSpec> =
        ["id", "name", "description", "data_scope", "privileged"]
            .iter()
            .filter_map(|c| tables::ROLES.column(c))
            .collect();
    let role = vec![
        SqlValue::text(SUPER_ROLE_ID),
        SqlValue::text("super user (fixed in the application's code)"),
        SqlValue::text(
            "granted by the mapping's privileged.principals: the application gives these accounts every permission",
        ),
        SqlValue::text("all"),
        SqlValue::Bool(Some(true)),
    ];
    let mut role_report = FeedReport {
        feed: "privileged.roles".into(),
        table: "roles".into(),
        read: 1,
        ..FeedReport::default()
    };
    write_snapshot(
        tx,
        ctx,
        "privileged.roles",
        &tables::ROLES,
        &role_cols,
        vec![role],
        &mut role_report,
    )
    .await?;

    let sql = format!(
        "SELECT id FROM principals WHERE {}",
        ctx.backend.in_list("id", 1)
    );
    let present = tx.fetch_all(&sql, &[SqlValue::list(ids)]).await?;
    let grant_cols: Vec<&'static ColumnSpec> = ["id", "principal_id", "role_id"]
        .iter()
        .filter_map(|c| tables::GRANTS.column(c))
        .collect();
    let mut grants = Vec::new();
    for r in present {
        let id = r.req_text("id")?;
        grants.push(vec![
            SqlValue::text(format!("{id}:{SUPER_ROLE_ID}")),
            SqlValue::text(id),
            SqlValue::text(SUPER_ROLE_ID),
        ]);
    }
    let mut grant_report = FeedReport {
        feed: "privileged.principals".into(),
        table: "grants".into(),
        read: grants.len() as u64,
        ..FeedReport::default()
    };
    write_snapshot(
        tx,
        ctx,
        "privileged.principals",
        &tables::GRANTS,
        &grant_cols,
        grants,
        &mut grant_report,
    )
    .await?;
    Ok(vec![role_report, grant_report])
}
