//! Writing rows into the store in batches, and the context of one sync.

use chrono::{DateTime, Utc};

use crate::collect::tables::{ColumnSpec, TableSpec};
use crate::store::{Backend, SqlValue, StoreError, Tx};

/// The sync being written: which source, its record, its instant.
pub(super) struct SyncCtx<'a> {
    pub source: &'a str,
    pub sync_id: i64,
    pub now: DateTime<Utc>,
    pub backend: Backend,
}

pub(super) fn row_key(spec: &TableSpec, columns: &[&ColumnSpec], row: &[SqlValue]) -> String {
    spec.key
        .iter()
        .map(|k| {
            columns
                .iter()
                .position(|c| c.name == *k)
                .map(|i| row[i].key_text())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

pub(super) const PARAMS_PER_STATEMENT: usize = 30_000;

/// Rows read from a source before they are converted and written.
pub(super) const BATCH: usize = 5_000;

/// Writes rows in multi-row statements; `on_conflict` ends each.
pub(super) async fn insert_rows(
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
