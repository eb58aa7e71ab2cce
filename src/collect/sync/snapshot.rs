//! Snapshot diffs: what a feed wrote last time against what it has now. A
//! row that disappeared is deleted, a grant revoked (its interval kept), an
//! account's last version closed; every grant and revoke is recorded in
//! `access_changes`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::history::record_principal_versions;
use super::outcome::{FeedReport, SyncError};
use super::rows::{SyncCtx, insert_rows, row_key};
use crate::collect::mapping::SUPER_ROLE_ID;
use crate::collect::namespace::Namespace;
use crate::collect::tables::{self, ColumnSpec, TableSpec, grant_basis};
use crate::store::{SqlValue, StoreError, Tx};

/// A snapshot feed being written: its name (the key of its rows in
/// `source_rows`) and what a date its grants carry is (`grant_basis`).
#[derive(Clone, Copy)]
pub(super) struct SnapshotFeed<'a> {
    pub name: &'a str,
    pub dated_by: &'static str,
}

/// Replaces what `feed` wrote last time with `rows`, keeping history.
pub(super) async fn write_snapshot(
    tx: &mut Tx,
    ctx: &SyncCtx<'_>,
    feed: SnapshotFeed<'_>,
    spec: &'static TableSpec,
    columns: &[&'static ColumnSpec],
    rows: Vec<Vec<SqlValue>>,
    report: &mut FeedReport,
) -> Result<(), SyncError> {
    let SnapshotFeed {
        name: feed,
        dated_by,
    } = feed;
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
    if is_grants {
        // Filled by `prepare_grants`: where each row's date comes from.
        columns.push(&tables::GRANTED_AT_BASIS);
        rows.iter_mut().for_each(|r| r.push(SqlValue::Text(None)));
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
        prepare_grants(tx, ctx, &columns, &mut by_key, &previous, dated_by, report).await?;
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

/// Grants: each row's `granted_at` and where it comes from
/// (`granted_at_basis`). The source's date (`dated_by`: the source's own,
/// or the account's start for the synthetic super-user grant) when it has
/// one; else the first sighting (kept from sync to sync). A grant seen
/// again after a revoke starts a new row, and the revoked one keeps its
/// interval under a suffixed id; the new interval never reaches back into
/// the archived one: a date at or before the revoke (the sync that saw the
/// grant gone) is clamped to this sync, and marked so.
pub(super) async fn prepare_grants(
    tx: &mut Tx,
    ctx: &SyncCtx<'_>,
    columns: &[&ColumnSpec],
    rows: &mut [(String, Vec<SqlValue>)],
    previous: &HashSet<String>,
    dated_by: &'static str,
    report: &mut FeedReport,
) -> Result<(), SyncError> {
    let pos = |name: &str| columns.iter().position(|c| c.name == name);
    let (Some(granted_at), Some(basis), Some(principal), Some(role)) = (
        pos("granted_at"),
        pos(tables::GRANTED_AT_BASIS.name),
        pos("principal_id"),
        pos("role_id"),
    ) else {
        return Ok(());
    };
    let revoked_at = pos("revoked_at");
    let ids: Vec<String> = rows.iter().map(|(k, _)| k.clone()).collect();
    let sql = format!(
        "SELECT id, granted_at, revoked_at, granted_at_basis FROM grants WHERE {}",
        ctx.backend.in_list("id", 1)
    );
    let mut stored: HashMap<String, Stored> = HashMap::new();
    for r in tx.fetch_all(&sql, &[SqlValue::TextList(ids)]).await? {
        stored.insert(
            r.req_text("id")?,
            Stored {
                granted_at: r.time("granted_at")?,
                revoked_at: r.time("revoked_at")?,
                basis: r.text("granted_at_basis")?,
            },
        );
    }
    for (key, row) in rows.iter_mut() {
        let given = match row[granted_at] {
            SqlValue::Time(Some(t)) => Some(t),
            _ => None,
        };
        let prior = stored.get(key.as_str());
        // A row the source still lists as revoked is the same interval,
        // not a re-grant.
        let still_revoked = revoked_at.is_some_and(|i| matches!(row[i], SqlValue::Time(Some(_))));
        let archived_end = prior.and_then(|p| p.revoked_at).filter(|_| !still_revoked);
        let (date, why) = match (archived_end, prior, given) {
            (Some(end), _, Some(t)) if t <= end => (ctx.now, grant_basis::CLAMPED),
            (Some(_), _, Some(t)) => (t, dated_by),
            (Some(_), _, None) => (ctx.now, grant_basis::FIRST_SEEN),
            (None, _, Some(t)) => (t, dated_by),
            (None, Some(p), None) => match p.granted_at {
                Some(t) => (t, p.basis_or(grant_basis::SOURCE)),
                None => (ctx.now, grant_basis::FIRST_SEEN),
            },
            (None, None, None) => (ctx.now, grant_basis::FIRST_SEEN),
        };
        if let Some(end) = archived_end {
            // Re-granted: keep the old interval under another id.
            let old_id = format!("{key}@{}", crate::model::format_instant(end));
            tx.execute(
                "UPDATE grants SET id = $1 WHERE id = $2",
                &[SqlValue::text(old_id), SqlValue::text(key.as_str())],
            )
            .await?;
            if why == grant_basis::CLAMPED {
                tracing::info!(source = ctx.source, grant = %key, "a re-grant's date from the source falls inside its archived interval: the new interval starts at this sync");
            }
        }
        row[granted_at] = SqlValue::time(date);
        row[basis] = SqlValue::text(why);
        if !previous.contains(key.as_str()) || archived_end.is_some() {
            report.granted += 1;
            access_change(tx, ctx, "grant", key, &row[principal], &row[role]).await?;
        }
    }
    Ok(())
}

/// A grant as stored before this sync.
struct Stored {
    granted_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    basis: Option<String>,
}

impl Stored {
    /// The stored basis, as one of ours (a row written before the sync
    /// owned it has none: its date is the data's).
    fn basis_or(&self, default: &'static str) -> &'static str {
        match self.basis.as_deref() {
            Some(grant_basis::FIRST_SEEN) => grant_basis::FIRST_SEEN,
            Some(grant_basis::ACCOUNT_START) => grant_basis::ACCOUNT_START,
            Some(grant_basis::CLAMPED) => grant_basis::CLAMPED,
            Some(grant_basis::SOURCE) => grant_basis::SOURCE,
            _ => default,
        }
    }
}

pub(super) async fn access_change(
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
pub(super) async fn remove_row(
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
        super::history::close_version(tx, ctx, parts[0].clone()).await?;
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

/// `privileged.principals`: the synthetic privileged role, and a grant of it
/// to each listed account the source has.
pub(super) async fn super_users(
    tx: &mut Tx,
    ctx: &SyncCtx<'_>,
    namespace: &Namespace,
    native_ids: &[String],
) -> Result<Vec<FeedReport>, SyncError> {
    let role_cols: Vec<&'static ColumnSpec> = namespace.columns(
        &tables::ROLES,
        &["id", "name", "description", "data_scope", "privileged"]
            .iter()
            .filter_map(|c| tables::ROLES.column(c))
            .collect::<Vec<_>>(),
    );
    let mut role = vec![
        SqlValue::text(SUPER_ROLE_ID),
        SqlValue::text("super user (fixed in the application's code)"),
        SqlValue::text(
            "granted by the mapping's privileged.principals: the application gives these accounts every permission",
        ),
        SqlValue::text("all"),
        SqlValue::Bool(Some(true)),
    ];
    namespace.apply(&tables::ROLES, &role_cols, &mut role);
    let mut role_report = FeedReport {
        feed: "privileged.roles".into(),
        table: "roles".into(),
        read: 1,
        ..FeedReport::default()
    };
    write_snapshot(
        tx,
        ctx,
        SnapshotFeed {
            name: "privileged.roles",
            dated_by: grant_basis::SOURCE,
        },
        &tables::ROLES,
        &role_cols,
        vec![role],
        &mut role_report,
    )
    .await?;

    // The super user is so by the application's code: from the account's
    // own start (its created_at), not from the sync that first saw it.
    let sql = format!(
        "SELECT id, created_at FROM principals WHERE {}",
        ctx.backend.in_list("id", 1)
    );
    let stored: std::collections::HashMap<String, &String> = native_ids
        .iter()
        .map(|native| (namespace.id(native), native))
        .collect();
    let ids: Vec<&String> = stored.keys().collect();
    let present = tx.fetch_all(&sql, &[SqlValue::list(&ids)]).await?;
    let grant_cols: Vec<&'static ColumnSpec> = ["id", "principal_id", "role_id", "granted_at"]
        .iter()
        .filter_map(|c| tables::GRANTS.column(c))
        .collect();
    let mut grants = Vec::new();
    for r in present {
        let id = r.req_text("id")?;
        let Some(native) = stored.get(&id) else {
            continue;
        };
        let created_at = r.time("created_at")?.filter(|t| *t <= ctx.now);
        let mut grant = vec![
            SqlValue::text(format!("{native}:{SUPER_ROLE_ID}")),
            SqlValue::text(native.as_str()),
            SqlValue::text(SUPER_ROLE_ID),
            SqlValue::Time(created_at),
        ];
        namespace.apply(&tables::GRANTS, &grant_cols, &mut grant);
        grants.push(grant);
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
        SnapshotFeed {
            name: "privileged.principals",
            dated_by: grant_basis::ACCOUNT_START,
        },
        &tables::GRANTS,
        &grant_cols,
        grants,
        &mut grant_report,
    )
    .await?;
    Ok(vec![role_report, grant_report])
}
