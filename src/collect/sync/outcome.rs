//! What a sync did, or why it could not.

use chrono::{DateTime, Utc};

use crate::collect::readers::ConvertError;
use crate::store::StoreError;
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
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FeedReport {
    pub feed: String,
    pub table: String,
    /// Rows the source gave (before code translations dropped any).
    pub fetched: u64,
    /// The source's own count of those rows, in the same snapshot (a
    /// `COUNT(*)` over the feed's query, the index's total hits, the
    /// file's records); `None` where none could be had.
    pub source_count: Option<u64>,
    /// Rows kept: read from the source after code translations dropped some.
    pub read: u64,
    /// Events: rows not seen before. Snapshots: rows written.
    pub written: u64,
    /// Snapshot rows the source no longer has (deleted; grants revoked).
    pub removed: u64,
    pub granted: u64,
    pub revoked: u64,
}

impl FeedReport {
    /// False when the source counts other than what was read.
    pub fn reconciles(&self) -> bool {
        self.source_count.is_none_or(|n| n == self.fetched)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncReport {
    pub source: String,
    pub sync_id: i64,
    pub at: DateTime<Utc>,
    pub feeds: Vec<FeedReport>,
}
