//! `accessaudit demo`: a realistic CRM organisation with planted cases.

use chrono::{DateTime, Utc};

use crate::store::Store;

/// What the demo built.
#[derive(Debug, Clone)]
pub struct DemoOrg {
    pub as_of: DateTime<Utc>,
    pub people: u64,
    pub principals: u64,
    pub roles: u64,
    pub grants: u64,
    pub events: u64,
    /// The planted cases: (rule id, subject type, subject id).
    pub planted: Vec<(String, String, String)>,
}

pub async fn build(_store: &Store, _seed: u64) -> anyhow::Result<DemoOrg> {
    anyhow::bail!("demo not built yet")
}
