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
//!   the sync time when the source has none (WukongCRM records none), and
//!   `granted_at_basis` says which it is (`snapshot::prepare_grants`); a
//!   re-grant never reaches back into its archived interval. Each grant and
//!   revoke is written to `access_changes`. The sync records (`syncs`) are
//!   what `run --as-of` reads to know a source's first sync.
//! - Each version of an account is kept in `principal_history` with
//!   valid_from / valid_to; the engine reads the version valid at T.
//! - Events are incremental: each feed keeps a watermark (the newest
//!   `occurred_at` read) and reads from it on; rows at the watermark itself
//!   are read again and skipped by id, so an event logged in the same
//!   second after a sync is not lost.

mod events;
mod history;
mod outcome;
mod reader;
mod rows;
mod snapshot;

use chrono::{DateTime, Utc};

use super::mapping::{Feed, Mapping};
use super::namespace::Namespace;
use super::readers::sql::WriteCheck;
use super::readers::{RawRow, convert_row};
use super::source::SourceConfig;
use super::tables::{self, ColumnSpec, TableSpec};
use crate::store::{SqlValue, Store};

use events::{set_watermark, watermark, write_events};
pub use outcome::{FeedReport, SyncError, SyncReport};
use reader::Reader;
use rows::SyncCtx;
use snapshot::{SnapshotFeed, super_users, write_snapshot};

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

async fn sync_with(
    store: &Store,
    name: &str,
    source: &SourceConfig,
    mapping: &Mapping,
    now: DateTime<Utc>,
) -> Result<SyncReport, SyncError> {
    let mut reader = Reader::open(name, source, mapping).await?;
    let result = match checked_read_only(name, source, &mut reader).await {
        Ok(check) => {
            let namespace = Namespace::of_source(name, source.application.as_deref());
            write_all(store, name, &mut reader, mapping, &namespace, now, &check).await
        }
        Err(e) => Err(e),
    };
    reader.close().await;
    result
}

/// Checks what the source's account may write: a warning, or a refusal
/// with `require_read_only: true`.
async fn checked_read_only(
    name: &str,
    source: &SourceConfig,
    reader: &mut Reader,
) -> Result<WriteCheck, SyncError> {
    let check = reader.write_check(name).await?;
    if let WriteCheck::CanWrite { what } = &check {
        if source.require_read_only {
            return Err(SyncError::Source {
                source_name: name.to_string(),
                message: format!(
                    "its account can write ({}), and require_read_only refuses it: give it SELECT only",
                    what.join("; ")
                ),
            });
        }
        tracing::warn!(source = name, privileges = %what.join("; "), "the source's account can write: give it SELECT only");
    }
    Ok(check)
}

/// Opens a source and checks what its account may write, for `config
/// check` and the daemon's start: `Err` when it cannot be reached.
pub async fn write_check(name: &str, source: &SourceConfig) -> Result<WriteCheck, SyncError> {
    let mapping = Mapping::load(&source.mapping, source.kind.style())?;
    let work = async {
        let mut reader = Reader::open(name, source, &mapping).await?;
        let check = reader.write_check(name).await;
        reader.close().await;
        check
    };
    tokio::time::timeout(source.timeout.0, work)
        .await
        .unwrap_or_else(|_| Err(SyncError::Timeout(name.to_string())))
}

async fn write_all(
    store: &Store,
    name: &str,
    reader: &mut Reader,
    mapping: &Mapping,
    namespace: &Namespace,
    now: DateTime<Utc>,
    check: &WriteCheck,
) -> Result<SyncReport, SyncError> {
    let mut tx = store.begin().await?;
    let sync_id = tx
        .fetch_optional(
            "INSERT INTO syncs (source, started_at, status, write_check) VALUES ($1, $2, 'succeeded', $3) RETURNING id",
            &[
                SqlValue::text(name),
                SqlValue::time(now),
                SqlValue::text(serde_json::to_string(check).unwrap_or_default()),
            ],
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
    let mut reports = Vec::new();
    for (feed_name, feed) in mapping.ordered_feeds() {
        // Errors found while syncing point at the feed in the mapping file.
        let mapping_name = mapping.place_of(feed);
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
        let mut fetched = 0u64;
        report.source_count = reader
            .for_each_batch(name, feed_name, feed, since, mapping.tz(), async |raw| {
                fetched += raw.len() as u64;
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
                        if !raw.is_empty() || !reads_names(feed) {
                            columns = Some(c.clone());
                        }
                        c
                    }
                };
                let written = namespace.columns(spec, &cols);
                let mut rows = Vec::with_capacity(raw.len());
                for r in &raw {
                    match convert_row(mapping, feed_name, feed, &cols, r) {
                        Ok(Some(mut row)) => {
                            namespace.apply(spec, &written, &mut row);
                            rows.push(row)
                        }
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
                        newest.max(write_events(&mut tx, spec, &written, rows, &mut report).await?);
                } else {
                    snapshot.extend(rows);
                }
                Ok(())
            })
            .await?;
        report.fetched = fetched;
        if !report.reconciles() {
            tracing::warn!(
                source = name,
                feed = %feed_name,
                fetched = report.fetched,
                source_count = report.source_count,
                "the rows read do not reconcile with the source's own count"
            );
        }
        let mut columns = match columns {
            Some(c) => namespace.columns(spec, &c),
            None => spec.key.iter().filter_map(|k| spec.column(k)).collect(),
        };
        if feed.incremental() {
            if let Some(newest) = newest {
                set_watermark(&mut tx, name, feed_name, newest).await?;
            }
        } else {
            if spec.name == tables::ROLES.name && !mapping.privileged.roles.is_empty() {
                let ids: Vec<String> = mapping
                    .privileged
                    .roles
                    .iter()
                    .map(|r| namespace.id(r))
                    .collect();
                mark_privileged(&mut columns, &mut snapshot, &ids);
            }
            write_snapshot(
                &mut tx,
                &ctx,
                SnapshotFeed {
                    name: feed_name,
                    dated_by: tables::grant_basis::SOURCE,
                },
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
        reports
            .extend(super_users(&mut tx, &ctx, namespace, &mapping.privileged.principals).await?);
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

/// The canonical columns a feed gives: its `columns` (documents) or its
/// query's result columns (checked against the table here: a typo must not
/// silently leave a column empty).
fn feed_columns(
    feed: &Feed,
    spec: &'static TableSpec,
    raw: &[RawRow],
) -> Result<Vec<&'static ColumnSpec>, String> {
    let names: Vec<String> = if reads_names(feed) {
        match raw.first() {
            Some(row) => row.iter().map(|(n, _)| n.clone()).collect(),
            // No rows: only the key matters (to remove what is gone).
            None => {
                return Ok(spec.key.iter().filter_map(|k| spec.column(k)).collect());
            }
        }
    } else if feed.members.is_some() {
        // A directory's membership feed: the rows it makes (readers::ldap).
        ["id", "principal_id", "role_id"].map(String::from).to_vec()
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
                    "the feed gives column `{n}`, which table {} does not have; its columns are {}",
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

/// Whether a feed's columns are the names its rows carry (a query's result
/// columns, a file with canonical names) rather than its `columns:`.
fn reads_names(feed: &Feed) -> bool {
    feed.query.is_some() || feed.same_named()
}

/// `privileged.roles`: the listed roles are privileged whatever the feed
/// says, also when it gives no `privileged` column (RuoYi's `sys_role`
/// has none): the column is added, false for the others.
fn mark_privileged(
    columns: &mut Vec<&'static ColumnSpec>,
    rows: &mut [Vec<SqlValue>],
    ids: &[String],
) {
    if !columns.iter().any(|c| c.name == "privileged")
        && let Some(flag) = tables::ROLES.column("privileged")
    {
        columns.push(flag);
        rows.iter_mut()
            .for_each(|r| r.push(SqlValue::Bool(Some(false))));
    }
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
