//! Reads of the canonical tables that are not a rule: the facts a report
//! gives as proof that the audit looked (rows per table as of T, the newest
//! event). Writes to these tables are the import's and the sync's
//! (`collect`), through the column lists of `collect::tables`.

use chrono::{DateTime, Utc};

use super::Store;
use super::error::Result;
use super::tx::Tx;
use super::value::SqlValue;

/// Rows per canonical table at or before T (tables without a time column:
/// all rows), in the order a report lists them.
const COUNTS: [(&str, &str); 6] = [
    ("people", "SELECT COUNT(*) AS n FROM people"),
    (
        "principals",
        "SELECT COUNT(*) AS n FROM principals WHERE created_at IS NULL OR created_at <= $1",
    ),
    ("roles", "SELECT COUNT(*) AS n FROM roles"),
    (
        "role_permissions",
        "SELECT COUNT(*) AS n FROM role_permissions",
    ),
    (
        "grants",
        "SELECT COUNT(*) AS n FROM grants WHERE granted_at IS NULL OR granted_at <= $1",
    ),
    (
        "events",
        "SELECT COUNT(*) AS n FROM events WHERE occurred_at <= $1",
    ),
];

const NEWEST_EVENT: &str = "SELECT MAX(occurred_at) AS newest FROM events WHERE occurred_at <= $1";

impl Store {
    /// How many rows each canonical table holds as of `as_of`.
    pub async fn table_counts(&self, as_of: DateTime<Utc>) -> Result<Vec<(&'static str, i64)>> {
        let mut tables = Vec::new();
        for (table, sql) in COUNTS {
            let params = if sql.contains("$1") {
                vec![SqlValue::time(as_of)]
            } else {
                vec![]
            };
            tables.push((table, self.count(sql, &params).await?));
        }
        Ok(tables)
    }

    /// Whether the store holds any account at all, of any time (a run over
    /// none would be an empty audit, not a clean one).
    pub async fn has_accounts(&self) -> Result<bool> {
        Ok(!self
            .fetch_all("SELECT 1 AS any_account FROM principals LIMIT 1", &[])
            .await?
            .is_empty())
    }

    /// The newest event at or before `as_of`.
    pub async fn newest_event(&self, as_of: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let rows = self
            .fetch_all(NEWEST_EVENT, &[SqlValue::time(as_of)])
            .await?;
        match rows.first() {
            Some(r) => r.time("newest"),
            None => Ok(None),
        }
    }
}

impl Tx {
    /// The newest event at or before `as_of`, inside this transaction's
    /// snapshot (the engine's freshness gate).
    pub async fn newest_event(&mut self, as_of: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        match self
            .fetch_optional(NEWEST_EVENT, &[SqlValue::time(as_of)])
            .await?
        {
            Some(row) => row.time("newest"),
            None => Ok(None),
        }
    }

    /// Whether the store holds any event at all, of any time.
    pub async fn has_events(&mut self) -> Result<bool> {
        Ok(self
            .fetch_optional("SELECT 1 AS any_event FROM events LIMIT 1", &[])
            .await?
            .is_some())
    }
}
