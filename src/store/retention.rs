//! Retention of events (`accessaudit retention`), and its record
//! (`retention_log`, migration 0016): the only SQL that removes events.
//!
//! - PostgreSQL with `events` partitioned (`migrate --partition-events`):
//!   whole months are dropped (`events_pYYYYMM` whose upper bound is at or
//!   before the cutoff): no row-by-row delete, no bloat. The month the
//!   cutoff falls in is kept whole. Rows older than the cutoff in the
//!   default partition (months never created) are deleted.
//! - PostgreSQL with a plain `events` (the default), and SQLite: batched
//!   deletes of the oldest rows, each batch its own short write transaction
//!   so that the daemon and other writers wait at most a batch (PostgreSQL's
//!   autovacuum then reuses the space); on SQLite the freed pages are handed back to the file system a few at
//!   a time (`PRAGMA incremental_vacuum`), when the store's auto-vacuum is
//!   incremental (stores created since 0016 are; README, "Retention").
//!
//! Each run is recorded before anything is removed, so a run as of an
//! earlier instant knows what is gone even if this one stopped halfway
//! (`horizon`, read by engine::run).

use chrono::{DateTime, Utc};

use super::Store;
use super::backend::Backend;
use super::error::Result;
use super::partitions::{self, DEFAULT_PARTITION, Partition};
use super::value::SqlValue;

/// Rows deleted per transaction (SQLite, plain PostgreSQL).
pub const BATCH: i64 = 10_000;

/// Freed pages handed back per SQLite transaction.
const VACUUM_PAGES: i64 = 2_000;

/// A month that would be (or was) dropped, with its rows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MonthRows {
    pub partition: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub rows: i64,
}

/// Rows older than the cutoff, counted.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RowSpan {
    pub rows: i64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
}

/// What retention at a cutoff removes, and what it keeps though older.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub cutoff: DateTime<Utc>,
    /// Whether `events` is partitioned by month (PostgreSQL, by choice).
    pub partitioned: bool,
    /// PostgreSQL partitioned: the months dropped whole.
    pub months: Vec<MonthRows>,
    /// Rows deleted in batches: `events`, or a partitioned store's default
    /// partition.
    pub deleted: RowSpan,
    /// PostgreSQL: rows older than the cutoff kept because their month
    /// reaches past it (the month is dropped by a later run).
    pub kept_older: Option<MonthRows>,
}

impl Plan {
    /// Every row the plan removes.
    pub fn rows(&self) -> i64 {
        self.months.iter().map(|m| m.rows).sum::<i64>() + self.deleted.rows
    }
}

/// SQLite's file, before and after.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct SqliteSpace {
    pub page_size: i64,
    /// Pages in the file.
    pub pages_before: i64,
    pub pages_after: i64,
    /// Free pages inside the file.
    pub freelist_before: i64,
    pub freelist_after: i64,
    /// Whether freed pages go back to the file system (auto_vacuum =
    /// INCREMENTAL); otherwise they stay in the file for reuse.
    pub incremental: bool,
}

/// What a retention run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Applied {
    pub plan: Plan,
    pub rows_removed: i64,
    pub partitions_dropped: Vec<String>,
    pub space: Option<SqliteSpace>,
}

/// Counts what retention at `cutoff` would remove; changes nothing.
pub async fn plan(store: &Store, cutoff: DateTime<Utc>) -> Result<Plan> {
    let mut tx = store.begin().await?;
    let mut plan = Plan {
        cutoff,
        partitioned: partitions::is_partitioned(&mut tx).await?,
        months: Vec::new(),
        deleted: RowSpan::default(),
        kept_older: None,
    };
    let table = match store.backend() {
        Backend::Postgres if !plan.partitioned => "events",
        Backend::Sqlite => "events",
        Backend::Postgres => {
            for p in partitions::list(&mut tx).await? {
                if p.to <= cutoff {
                    let rows = tx
                        .fetch_all(&format!("SELECT COUNT(*) AS n FROM {}", p.name), &[])
                        .await?;
                    let n = rows.first().map(|r| r.i64("n")).transpose()?.flatten();
                    plan.months.push(month_rows(p, n.unwrap_or(0)));
                } else if p.from < cutoff {
                    let rows = tx
                        .fetch_all(
                            &format!(
                                "SELECT COUNT(*) AS n FROM {} WHERE occurred_at < $1",
                                p.name
                            ),
                            &[SqlValue::time(cutoff)],
                        )
                        .await?;
                    let n = rows.first().map(|r| r.i64("n")).transpose()?.flatten();
                    plan.kept_older = Some(month_rows(p, n.unwrap_or(0)));
                }
            }
            DEFAULT_PARTITION
        }
    };
    let rows = tx
        .fetch_all(
            &format!(
                "SELECT COUNT(*) AS n, MIN(occurred_at) AS oldest, MAX(occurred_at) AS newest
                   FROM {table} WHERE occurred_at < $1"
            ),
            &[SqlValue::time(cutoff)],
        )
        .await?;
    if let Some(r) = rows.first() {
        plan.deleted = RowSpan {
            rows: r.i64("n")?.unwrap_or(0),
            oldest: r.time("oldest")?,
            newest: r.time("newest")?,
        };
    }
    tx.rollback().await?;
    Ok(plan)
}

fn month_rows(p: Partition, rows: i64) -> MonthRows {
    MonthRows {
        partition: p.name,
        from: p.from,
        to: p.to,
        rows,
    }
}

/// Removes the events older than `cutoff` as `plan` says, records the run
/// (`keep` as the person wrote it) and, on SQLite, hands freed pages back.
pub async fn apply(
    store: &Store,
    cutoff: DateTime<Utc>,
    keep: &str,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let partitioned = {
        let mut tx = store.begin().await?;
        let p = partitions::is_partitioned(&mut tx).await?;
        tx.rollback().await?;
        p
    };
    match store.backend() {
        Backend::Postgres if partitioned => apply_postgres(store, cutoff, keep, now).await,
        Backend::Postgres => {
            let plan = plan(store, cutoff).await?;
            let removed = delete_in_batches(store, cutoff, keep, now).await?;
            Ok(Applied {
                plan,
                rows_removed: removed,
                partitions_dropped: Vec::new(),
                space: None,
            })
        }
        Backend::Sqlite => apply_sqlite(store, cutoff, keep, now).await,
    }
}

/// Deletes the events older than `cutoff` in batches of [`BATCH`] rows,
/// each its own short write transaction (writers wait for one batch at
/// most), the run recorded first and its count at the end. Returns the
/// rows removed.
async fn delete_in_batches(
    store: &Store,
    cutoff: DateTime<Utc>,
    keep: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    let delete = match store.backend() {
        Backend::Sqlite => {
            "DELETE FROM events WHERE rowid IN
               (SELECT rowid FROM events WHERE occurred_at < $1 LIMIT $2)"
        }
        Backend::Postgres => {
            "DELETE FROM events WHERE ctid = ANY (ARRAY
               (SELECT ctid FROM events WHERE occurred_at < $1 LIMIT $2))"
        }
    };
    let mut tx = store.begin_write().await?;
    let log_id = log_start(&mut tx, now, cutoff, keep).await?;
    tx.commit().await?;
    let mut removed = 0;
    loop {
        let mut tx = store.begin_write().await?;
        let n = tx
            .execute(delete, &[SqlValue::time(cutoff), SqlValue::int(BATCH)])
            .await? as i64;
        removed += n;
        if n < BATCH {
            log_finish(&mut tx, log_id, removed, &[]).await?;
            tx.commit().await?;
            return Ok(removed);
        }
        tx.commit().await?;
    }
}

/// One transaction: the months dropped, the default partition's old rows
/// deleted, the run recorded. Dropping a month locks `events` until the
/// commit (scans wait for a moment; nothing is read or written row by row).
async fn apply_postgres(
    store: &Store,
    cutoff: DateTime<Utc>,
    keep: &str,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let plan = plan(store, cutoff).await?;
    let mut tx = store.begin_write().await?;
    let dropped: Vec<String> = plan.months.iter().map(|m| m.partition.clone()).collect();
    let log_id = log_start(&mut tx, now, cutoff, keep).await?;
    let mut removed = 0;
    for m in &plan.months {
        // Counted again inside the transaction: what is dropped is exact.
        let rows = tx
            .fetch_all(&format!("SELECT COUNT(*) AS n FROM {}", m.partition), &[])
            .await?;
        removed += rows
            .first()
            .map(|r| r.i64("n"))
            .transpose()?
            .flatten()
            .unwrap_or(0);
        // Detached first: a partition is dropped as a table of its own.
        tx.execute(
            &format!("ALTER TABLE events DETACH PARTITION {}", m.partition),
            &[],
        )
        .await?;
        tx.execute(&format!("DROP TABLE {}", m.partition), &[])
            .await?;
    }
    removed += tx
        .execute(
            &format!("DELETE FROM {DEFAULT_PARTITION} WHERE occurred_at < $1"),
            &[SqlValue::time(cutoff)],
        )
        .await? as i64;
    log_finish(&mut tx, log_id, removed, &dropped).await?;
    tx.commit().await?;
    Ok(Applied {
        plan,
        rows_removed: removed,
        partitions_dropped: dropped,
        space: None,
    })
}

/// Batches of [`BATCH`] rows, each its own write transaction; then
/// the freed pages, [`VACUUM_PAGES`] at a time.
async fn apply_sqlite(
    store: &Store,
    cutoff: DateTime<Utc>,
    keep: &str,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let plan = plan(store, cutoff).await?;
    let page_size = pragma(store, "page_size").await?;
    let pages_before = pragma(store, "page_count").await?;
    let freelist_before = pragma(store, "freelist_count").await?;
    let incremental = pragma(store, "auto_vacuum").await? == 2;
    let removed = delete_in_batches(store, cutoff, keep, now).await?;
    if incremental {
        while pragma(store, "freelist_count").await? > 0 {
            store
                .execute(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"), &[])
                .await?;
        }
    }
    let space = SqliteSpace {
        page_size,
        pages_before,
        pages_after: pragma(store, "page_count").await?,
        freelist_before,
        freelist_after: pragma(store, "freelist_count").await?,
        incremental,
    };
    Ok(Applied {
        plan,
        rows_removed: removed,
        partitions_dropped: Vec::new(),
        space: Some(space),
    })
}

/// One of SQLite's numeric pragmas (a name of ours, never a user's).
async fn pragma(store: &Store, name: &str) -> Result<i64> {
    store
        .count(&format!("SELECT {name} AS n FROM pragma_{name}"), &[])
        .await
}

async fn log_start(
    tx: &mut super::Tx,
    now: DateTime<Utc>,
    cutoff: DateTime<Utc>,
    keep: &str,
) -> Result<i64> {
    let row = tx
        .fetch_optional(
            "INSERT INTO retention_log (at, cutoff, keep, rows_removed, partitions_dropped)
             VALUES ($1, $2, $3, 0, '') RETURNING id",
            &[
                SqlValue::time(now),
                SqlValue::time(cutoff),
                SqlValue::text(keep),
            ],
        )
        .await?;
    Ok(row.map(|r| r.i64("id")).transpose()?.flatten().unwrap_or(0))
}

async fn log_finish(tx: &mut super::Tx, id: i64, rows: i64, dropped: &[String]) -> Result<()> {
    tx.execute(
        "UPDATE retention_log SET rows_removed = $1, partitions_dropped = $2 WHERE id = $3",
        &[
            SqlValue::int(rows),
            SqlValue::text(dropped.join(",")),
            SqlValue::int(id),
        ],
    )
    .await?;
    Ok(())
}

/// What retention took away from a run as of `as_of`: the latest cutoff
/// applied after `as_of` (events before it were removed; a run at `as_of`
/// back then still saw them), with when it was applied.
pub async fn horizon(
    store: &Store,
    as_of: DateTime<Utc>,
) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>> {
    let rows = store
        .fetch_all(
            "SELECT cutoff, at FROM retention_log WHERE at > $1 ORDER BY cutoff DESC, at LIMIT 1",
            &[SqlValue::time(as_of)],
        )
        .await?;
    match rows.first() {
        Some(r) => Ok(r.time("cutoff")?.zip(r.time("at")?)),
        None => Ok(None),
    }
}
