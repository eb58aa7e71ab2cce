//! Account history: a version of each account in `principal_history`
//! whenever it is new or changed, so the engine can read it as of T.

use std::collections::HashMap;

use super::outcome::SyncError;
use super::rows::SyncCtx;
use crate::collect::tables::{ColumnSpec, PRINCIPAL_VERSION_COLUMNS};
use crate::store::{SqlValue, Tx};

/// A new version of each account that is new or changed since the last sync.
pub(super) async fn record_principal_versions(
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
    // The application is the source's, not a fact of the account: adding
    // it (migration 0014) must not make every account a new version.
    let application = columns.iter().position(|c| c.name == "application");
    for (id, row) in rows {
        let fingerprint = match application {
            Some(at) if at + 1 == row.len() => format!("{:?}", &row[..at]),
            _ => format!("{row:?}"),
        };
        let valid_from = match open.get(id) {
            Some(f) if *f == fingerprint => continue,
            Some(_) => {
                close_version(tx, ctx, SqlValue::text(id)).await?;
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
                "INSERT INTO principal_history (principal_id, source, valid_from, fingerprint, {PRINCIPAL_VERSION_COLUMNS})
                 SELECT id, $1, $2, $3, {PRINCIPAL_VERSION_COLUMNS} FROM principals WHERE id = $4
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

/// Ends the open version of an account (changed, or gone from the source)
/// at the sync.
pub(super) async fn close_version(
    tx: &mut Tx,
    ctx: &SyncCtx<'_>,
    principal_id: SqlValue,
) -> Result<(), SyncError> {
    tx.execute(
        "UPDATE principal_history SET valid_to = $1 WHERE principal_id = $2 AND source = $3 AND valid_to IS NULL",
        &[SqlValue::time(ctx.now), principal_id, SqlValue::text(ctx.source)],
    )
    .await?;
    Ok(())
}
