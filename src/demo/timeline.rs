//! The demo's calendar: the audit day, the log's first day, date helpers,
//! and one row of the event log, shared by every part of the demo.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// The audit instant: Sunday 1 November 2026, 08:00 UTC (the monthly report).
const AS_OF_SECS: i64 = 1_793_520_000;
/// The first day of the event log: 1 May 2026.
const WINDOW_START_SECS: i64 = 1_777_593_600;

pub fn as_of() -> DateTime<Utc> {
    DateTime::from_timestamp(AS_OF_SECS, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

pub(crate) fn window_start() -> DateTime<Utc> {
    DateTime::from_timestamp(WINDOW_START_SECS, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

/// `h:m` on the day `days` days before the audit day.
pub(crate) fn days_before(days: i64, h: i64, m: i64) -> DateTime<Utc> {
    let midnight = as_of() - Duration::hours(8);
    midnight - Duration::days(days) + Duration::hours(h) + Duration::minutes(m)
}

/// Midnight UTC of a calendar date (the literals below are all valid dates).
pub(crate) fn date(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::UNIX_EPOCH, |t| t.and_utc())
}

/// One row of the event log.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub at: DateTime<Utc>,
    pub principal: String,
    pub action: &'static str,
    pub object: Option<&'static str>,
    pub records: Option<i64>,
    pub ip: Option<String>,
    pub device: Option<String>,
    pub success: bool,
}
