//! Event feeds: incremental from a watermark (the newest `occurred_at`
//! read); rows at the watermark itself are read again and skipped by id, so
//! an event logged in the same second after a sync is not lost.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::outcome::{FeedReport, SyncError};
use super::rows::{insert_rows, row_key};
use crate::collect::tables::{ColumnSpec, TableSpec};
use crate::store::{SqlValue, StoreError, Tx};

pub(super) async fn watermark(
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
pub(super) async fn write_events(
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
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    crate::store::partitions::cover(tx, &names, &rows).await?;
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

pub(super) async fn set_watermark(
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
