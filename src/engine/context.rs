//! What a rule kind's evaluation sees and returns: the run's context (T,
//! the backend, the event feed's freshness, where accounts as of T are
//! read from), the rule it evaluates, how the evaluation ended, and small
//! helpers for evidence.

use chrono::{DateTime, Utc};

use super::error::Result;
use crate::model::{Severity, Span, format_instant};
use crate::store::{Backend, Tx};

/// What a kind's evaluation knows of the rule it evaluates.
#[derive(Debug, Clone, Copy)]
pub struct RuleMeta<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub severity: Severity,
}

/// What every rule evaluation can see: the instant, the backend, the newest event.
pub struct Context {
    pub as_of: DateTime<Utc>,
    pub backend: Backend,
    /// The newest event at or before T (the freshness gate's input).
    pub newest_event: Option<DateTime<Utc>>,
    /// Whether the store holds any event at all (of any time): a source
    /// without logs has none, which is not a stale feed.
    pub has_events: bool,
    /// What rules read accounts from: `principals`, or, when synced
    /// accounts changed after T, the accounts as they were at T.
    pub principals: String,
    /// What the configuration says of identities and applications.
    pub deployment: super::deployment::Deployment,
}

impl Context {
    /// T minus a span, saturating at the earliest instant.
    pub fn before(&self, span: Span) -> DateTime<Utc> {
        instant_before(self.as_of, span)
    }

    /// `Some(reason)` when the event feed is older than `max_age` before T.
    pub fn stale_events(&self, max_age: Option<Span>) -> Option<String> {
        let max_age = max_age?;
        match self.newest_event {
            None => Some(format!(
                "no events at or before {}: the event feed is empty",
                format_instant(self.as_of)
            )),
            Some(newest) if newest < self.before(max_age) => Some(format!(
                "event feed is stale: the newest event ({}) is more than {} before {}",
                format_instant(newest),
                max_age,
                format_instant(self.as_of)
            )),
            Some(_) => None,
        }
    }
}

/// How an evaluation ended, short of an error.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Not evaluated, and why.
    pub skipped: Option<String>,
    /// Not evaluated because no row fills data the rule depends on, and which.
    pub not_applicable: Option<String>,
    /// Evaluated, with a caveat (e.g. one check left out for a stale feed).
    pub note: Option<String>,
}

impl Evaluation {
    /// Not evaluated, because of `reason`.
    pub fn skipped(reason: String) -> Evaluation {
        Evaluation {
            skipped: Some(reason),
            ..Evaluation::default()
        }
    }

    /// Not evaluated, because the data cannot carry the rule (`reason`).
    pub fn not_applicable(reason: String) -> Evaluation {
        Evaluation {
            not_applicable: Some(reason),
            ..Evaluation::default()
        }
    }

    /// Evaluated, with an optional caveat.
    pub fn noted(note: Option<String>) -> Evaluation {
        Evaluation {
            note,
            ..Evaluation::default()
        }
    }
}

/// Shorthand for building evidence objects.
pub(crate) fn evidence() -> serde_json::Map<String, serde_json::Value> {
    serde_json::Map::new()
}

pub(crate) fn json_time(t: Option<DateTime<Utc>>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| {
        serde_json::Value::String(format_instant(t))
    })
}

/// `e.outcome` counts as a success (a NULL outcome is a success: many sources
/// only log what worked).
pub(crate) const SUCCESS: &str = "(e.outcome IS NULL OR e.outcome = 'success')";

/// The grant `g` is live at T (bound as `$1`): granted by then (or no
/// date on record), neither revoked nor expired yet. (expired-grant-still-live
/// reads past `expires_at` on purpose and spells its own test.)
pub(crate) const GRANT_LIVE: &str = "(g.granted_at IS NULL OR g.granted_at <= $1)
                AND (g.revoked_at IS NULL OR g.revoked_at > $1)
                AND (g.expires_at IS NULL OR g.expires_at > $1)";

/// Whole days between two instants, rounded down.
pub(crate) fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_days()
}

/// The strings of a list of contract enums.
pub(crate) fn names<T: Copy>(items: &[T], as_str: fn(T) -> &'static str) -> Vec<String> {
    items.iter().map(|i| as_str(*i).to_string()).collect()
}

/// `span` before `t`, or the start of time when that is earlier.
pub(crate) fn instant_before(t: DateTime<Utc>, span: Span) -> DateTime<Utc> {
    t.checked_sub_signed(span.chrono())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A column a rule depends on: `table.column`, both names from the code.
pub type Needed = (&'static str, &'static str);

/// `Some(reason)` when the data cannot carry a rule: a table it reads is
/// empty, or no row fills a column it depends on (no `expires_at` anywhere,
/// no `mfa_enabled`). Such a rule is reported as not applicable with the
/// reason, never as a clean pass. Each look stops at the first filled row.
pub(crate) async fn unfilled(tx: &mut Tx, needed: &[Needed]) -> Result<Option<String>> {
    for (table, column) in needed {
        let filled = tx
            .fetch_optional(
                &format!("SELECT 1 AS filled FROM {table} WHERE {column} IS NOT NULL LIMIT 1"),
                &[],
            )
            .await?;
        if filled.is_none() {
            return Ok(Some(if *column == "id" {
                format!("the {table} table is empty")
            } else {
                format!("no row of {table} fills {column}")
            }));
        }
    }
    Ok(None)
}
