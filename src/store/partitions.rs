//! The monthly partitions of `events` on PostgreSQL, once a deployment
//! has chosen them (`accessaudit migrate --partition-events`,
//! `partition_events.sql`): the one place that names, lists and creates
//! them. On SQLite, and on a PostgreSQL store whose `events` is a plain
//! table (the default), every function here is a no-op (retention deletes
//! in batches there).
//!
//! A month is `events_pYYYYMM`, holding [its first instant, the next
//! month's first instant) in UTC; `events_default` takes whatever falls
//! outside the months created, so an insert never fails. Months are
//! created ahead (`Store::ensure_months_ahead`: `migrate`, every command that migrates,
//! and the daemon daily) and for the months a load brings (`cover`: imports,
//! syncs, the bulk loader), so rows land in their month rather than in the
//! default partition. Creating a month whose rows sit in the default
//! partition moves them, in the caller's transaction.

use chrono::{DateTime, Datelike, TimeZone, Utc};

use super::backend::Backend;
use super::error::Result;
use super::tx::Tx;
use super::value::SqlValue;

/// How many months after the current one are created ahead.
pub const MONTHS_AHEAD: u32 = 3;

/// The partition that takes rows outside every month created.
pub const DEFAULT_PARTITION: &str = "events_default";

/// One month of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    /// First instant (inclusive).
    pub from: DateTime<Utc>,
    /// First instant of the next month (exclusive).
    pub to: DateTime<Utc>,
}

/// The first instant of the month `t` falls in (UTC).
pub fn month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(t)
}

/// The first instant of the month after the one starting at `m`.
pub fn next_month(m: DateTime<Utc>) -> DateTime<Utc> {
    let (y, mo) = if m.month() == 12 {
        (m.year() + 1, 1)
    } else {
        (m.year(), m.month() + 1)
    };
    Utc.with_ymd_and_hms(y, mo, 1, 0, 0, 0)
        .single()
        .unwrap_or(m)
}

/// `events_pYYYYMM` of the month starting at `m`.
pub fn name_of(m: DateTime<Utc>) -> String {
    format!("events_p{:04}{:02}", m.year(), m.month())
}

/// The month a partition's name stands for (`None`: not one of ours).
fn month_of_name(name: &str) -> Option<DateTime<Utc>> {
    let digits = name.strip_prefix("events_p")?;
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = digits[..4].parse().ok()?;
    let month: u32 = digits[4..].parse().ok()?;
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single()
}

/// A month bound as DDL spells it (partition bounds take no parameters);
/// only ever a month we computed.
fn bound(t: DateTime<Utc>) -> String {
    format!("'{}'", t.format("%Y-%m-%dT%H:%M:%SZ"))
}

/// Whether `events` is partitioned (PostgreSQL, after `migrate
/// --partition-events`).
pub async fn is_partitioned(tx: &mut Tx) -> Result<bool> {
    if tx.backend() != Backend::Postgres {
        return Ok(false);
    }
    let rows = tx
        .fetch_all(
            "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table
                             WHERE partrelid = 'events'::regclass) AS p",
            &[],
        )
        .await?;
    Ok(rows
        .first()
        .map(|r| r.bool("p"))
        .transpose()?
        .flatten()
        .unwrap_or(false))
}

/// The months that exist, oldest first (empty on SQLite).
pub async fn list(tx: &mut Tx) -> Result<Vec<Partition>> {
    if tx.backend() != Backend::Postgres {
        return Ok(Vec::new());
    }
    let rows = tx
        .fetch_all(
            "SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'events'::regclass",
            &[],
        )
        .await?;
    let mut months = Vec::with_capacity(rows.len());
    for row in rows {
        let name = row.req_text("name")?;
        if let Some(from) = month_of_name(&name) {
            months.push(Partition {
                name,
                from,
                to: next_month(from),
            });
        }
    }
    months.sort_by_key(|p| p.from);
    Ok(months)
}

/// Makes sure every month from the one of `from` to the one of `to` exists,
/// in the caller's transaction; returns the names created. Creators are
/// serialised by an advisory lock held to the end of the transaction.
pub async fn ensure_months(
    tx: &mut Tx,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<String>> {
    if tx.backend() != Backend::Postgres || from > to || !is_partitioned(tx).await? {
        return Ok(Vec::new());
    }
    let wanted = months_between(from, to);
    let have = list(tx).await?;
    if wanted.iter().all(|m| have.iter().any(|p| p.from == *m)) {
        return Ok(Vec::new());
    }
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('accessaudit.events.partitions'))",
        &[],
    )
    .await?;
    let have = list(tx).await?; // another process may have made some meanwhile
    let mut created = Vec::new();
    for m in wanted {
        if !have.iter().any(|p| p.from == m) {
            create_month(tx, m).await?;
            created.push(name_of(m));
        }
    }
    Ok(created)
}

/// The month starts from the month of `from` to the month of `to`.
fn months_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut months = Vec::new();
    let (mut m, last) = (month_start(from), month_start(to));
    while m <= last {
        months.push(m);
        m = next_month(m);
    }
    months
}

/// Creates the month starting at `m`. Rows of that month in the default
/// partition must move first (PostgreSQL refuses a partition whose range
/// the default partition holds rows of): the month is made as a table,
/// the rows moved into it, then it is attached (which builds its indexes).
async fn create_month(tx: &mut Tx, m: DateTime<Utc>) -> Result<()> {
    let name = name_of(m);
    let (from, to) = (bound(m), bound(next_month(m)));
    let range = [SqlValue::time(m), SqlValue::time(next_month(m))];
    let stranded = tx
        .fetch_optional(
            &format!(
                "SELECT 1 AS n FROM {DEFAULT_PARTITION} WHERE occurred_at >= $1 AND occurred_at < $2 LIMIT 1"
            ),
            &range,
        )
        .await?
        .is_some();
    if !stranded {
        tx.execute(
            &format!("CREATE TABLE {name} PARTITION OF events FOR VALUES FROM ({from}) TO ({to})"),
            &[],
        )
        .await?;
        return Ok(());
    }
    tx.execute(
        &format!("CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"),
        &[],
    )
    .await?;
    let moved = tx
        .execute(
            &format!(
                "WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *)
                 INSERT INTO {name} SELECT * FROM moved"
            ),
            &range,
        )
        .await?;
    tx.execute(
        &format!("ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ({from}) TO ({to})"),
        &[],
    )
    .await?;
    tracing::info!(partition = %name, rows = moved, "month created; its rows moved out of the default partition");
    Ok(())
}

/// The last month [`MONTHS_AHEAD`] after the month of `now`: what
/// `Store::ensure_months_ahead` makes sure of.
pub fn last_month_ahead(now: DateTime<Utc>) -> DateTime<Utc> {
    let mut last = month_start(now);
    for _ in 0..MONTHS_AHEAD {
        last = next_month(last);
    }
    last
}

/// Makes sure the months of the rows about to be written to `events` exist
/// (`columns` names the rows' values; without `occurred_at` nothing to do).
pub async fn cover<'a>(
    tx: &mut Tx,
    columns: &[&str],
    rows: impl IntoIterator<Item = &'a Vec<SqlValue>>,
) -> Result<()> {
    if tx.backend() != Backend::Postgres {
        return Ok(());
    }
    let Some(at) = columns.iter().position(|c| *c == "occurred_at") else {
        return Ok(());
    };
    let times = rows.into_iter().filter_map(|r| match r.get(at) {
        Some(SqlValue::Time(Some(t))) => Some(*t),
        _ => None,
    });
    let (mut lo, mut hi) = (None::<DateTime<Utc>>, None::<DateTime<Utc>>);
    for t in times {
        lo = Some(lo.map_or(t, |l| l.min(t)));
        hi = Some(hi.map_or(t, |h| h.max(t)));
    }
    if let (Some(lo), Some(hi)) = (lo, hi) {
        ensure_months(tx, lo, hi).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn months_are_named_and_bounded_in_utc() {
        let m = month_start(at("2025-12-31T23:59:59Z"));
        assert_eq!(m, at("2025-12-01T00:00:00Z"));
        assert_eq!(next_month(m), at("2026-01-01T00:00:00Z"));
        assert_eq!(name_of(m), "events_p202512");
        assert_eq!(month_of_name("events_p202512"), Some(m));
        assert_eq!(month_of_name("events_default"), None);
        assert_eq!(month_of_name("events_p2025123"), None);
        assert_eq!(bound(m), "'2025-12-01T00:00:00Z'");
    }

    #[test]
    fn a_range_covers_every_month_it_touches() {
        let months = months_between(at("2025-11-30T10:00:00Z"), at("2026-02-01T00:00:00Z"));
        let names: Vec<String> = months.into_iter().map(name_of).collect();
        assert_eq!(
            names,
            [
                "events_p202511",
                "events_p202512",
                "events_p202601",
                "events_p202602"
            ]
        );
    }
}
