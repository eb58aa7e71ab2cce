//! `idle_accounts`: an account whose last sign-in (the later of `last_login_at`
//! and its newest successful `login` event; `created_at` if it never signed
//! in) is more than `max_idle` before T. With no events in the store at
//! all (a source without logs), `last_login_at` alone decides.
//!
//! The database does the selection: one backwards index seek per account
//! finds its newest sign-in up to T, which is both the test (before the
//! cutoff) and the evidence.

use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{
    Context, Evaluation, RuleMeta, SUCCESS, days_between, evidence, json_time, names,
};
use crate::engine::error::Result;
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, AccountType, Finding, Span, SubjectType};
use crate::store::{Backend, SqlValue, Tx};

use crate::engine::kind::{EventReach, Kind, gate_24h, non_empty, statuses_active_pending};

/// `idle_accounts`: accounts whose last sign-in is older than `max_idle`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdleAccounts {
    /// Flag when the last sign-in is more than this before T.
    pub max_idle: Span,
    /// Account statuses that are checked.
    pub statuses: Vec<AccountStatus>,
    /// Account types that are checked.
    pub account_types: Vec<AccountType>,
    /// Freshness gate: skip the rule when the newest event is older than this
    /// before T (`null` turns the gate off, for sources without a login feed).
    pub max_event_age: Option<Span>,
}

impl Default for IdleAccounts {
    fn default() -> Self {
        IdleAccounts {
            max_idle: Span::days(90),
            statuses: statuses_active_pending(),
            account_types: vec![AccountType::Human],
            max_event_age: gate_24h(),
        }
    }
}

impl Kind for IdleAccounts {
    const NAME: &'static str = "idle_accounts";

    /// The last sign-in ever is evidence; the finding rests on `max_idle`.
    fn event_reach(&self) -> EventReach {
        EventReach::AnyAge {
            needs: Some(self.max_idle),
        }
    }

    fn defaults() -> Result<Self, &'static str> {
        Ok(Self::default())
    }

    fn check(&self) -> Result<(), (String, String)> {
        non_empty("statuses", &self.statuses, "account status")?;
        Ok(())
    }

    async fn evaluate(
        &self,
        tx: &mut Tx,
        ctx: &Context,
        rule: &RuleMeta<'_>,
        sink: &mut Sink,
    ) -> Result<Evaluation> {
        let p = self;
        // A stale event feed would make everyone look idle: skip. A source
        // without any logs (WukongCRM 9, or 11 without its Elasticsearch) has
        // no feed to be stale: its accounts' last_login_at alone decides.
        let mut note = None;
        if let Some(reason) = ctx.stale_events(p.max_event_age) {
            if ctx.has_events {
                return Ok(Evaluation::skipped(reason));
            }
            note = Some(
                "no events at all: last sign-ins are the accounts' last_login_at (else created_at)"
                    .to_string(),
            );
        }
        let cutoff = ctx.before(p.max_idle);
        let b = ctx.backend;
        // $1 = T, $2 = cutoff. A `last_login_at` after T is unknown as of T and ignored.
        // One backwards probe per account finds its newest successful
        // sign-in up to T; that it is before the cutoff is the test (no
        // second probe of [cutoff, T] for "none since"). PostgreSQL filters
        // in SQL through a lateral join; SQLite, which would evaluate the
        // correlated subquery once per mention, returns it and the loop below
        // drops the accounts signed in since the cutoff. No ORDER BY: each
        // row is a finding of its own and the findings are read back in
        // their order; sorting here made PostgreSQL hold every row back
        // until the scan ended (a blocking sort), so the findings writer
        // could start only then (5.9 s against 4.2 s at 1M).
        let principals = &ctx.principals;
        let sign_ins = format!(
            "FROM events e
              WHERE e.principal_id = p.id AND e.action = 'login' AND e.occurred_at <= $1 AND {SUCCESS}"
        );
        let (join, select, since) = match b {
            Backend::Postgres => (
                format!("LEFT JOIN LATERAL (SELECT MAX(e.occurred_at) AS occurred_at {sign_ins}) l ON true"),
                "l.occurred_at".to_string(),
                "AND (l.occurred_at IS NULL OR l.occurred_at < $2)",
            ),
            // SQLite takes MAX over every sign-in of the account (the
            // outcome test keeps its min/max shortcut away); the newest
            // first, stopping at one, reads one: at 1M 0.90 s against
            // 1.03 s in sqlite3.
            Backend::Sqlite => (
                String::new(),
                format!("(SELECT e.occurred_at {sign_ins} ORDER BY e.occurred_at DESC LIMIT 1)"),
                "",
            ),
        };
        let sql = format!(
            "SELECT p.id, p.login, p.status, p.created_at, p.last_login_at, {select} AS last_login_event
               FROM {principals} p {join}
              WHERE {statuses} AND {types}
                AND (p.created_at IS NULL OR p.created_at <= $1)
                AND (p.last_login_at IS NULL OR p.last_login_at < $2 OR p.last_login_at > $1)
                {since}",
            statuses = b.in_short_list("p.status", 3, p.statuses.len()),
            types = b.in_short_list("p.account_type", 4, p.account_types.len()),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::time(cutoff),
            SqlValue::TextList(names(&p.statuses, AccountStatus::as_str)),
            SqlValue::TextList(names(&p.account_types, AccountType::as_str)),
        ];
        let mut rows = tx.fetch(&sql, &params);
        while let Some(row) = rows.next().await {
            let row = row?;
            let id = row.req_text("id")?;
            let login = row.req_text("login")?;
            let created_at = row.time("created_at")?;
            let column = row.time("last_login_at")?.filter(|t| *t <= ctx.as_of);
            let event = row.time("last_login_event")?;
            let (last, source) = match (column, event) {
                (Some(c), Some(e)) if e >= c => (Some(e), "login_event"),
                (Some(c), _) => (Some(c), "last_login_at"),
                (None, Some(e)) => (Some(e), "login_event"),
                (None, None) => (created_at, "created_at"),
            };
            if last.is_some_and(|t| t >= cutoff) {
                continue; // signed in since the cutoff, or created since and not yet
            }
            let idle_days = last.map(|t| days_between(t, ctx.as_of));
            let mut ev = evidence();
            ev.insert("login".into(), login.clone().into());
            ev.insert("status".into(), row.req_text("status")?.into());
            ev.insert("last_sign_in".into(), json_time(last));
            ev.insert(
                "last_sign_in_source".into(),
                (if last.is_some() { source } else { "none" }).into(),
            );
            ev.insert("idle_days".into(), idle_days.into());
            ev.insert("max_idle".into(), p.max_idle.to_string().into());
            let title = match idle_days {
                Some(days) if source == "created_at" => {
                    format!("{login}: never signed in, created {days} days ago")
                }
                Some(days) => format!("{login}: no sign-in for {days} days"),
                None => format!("{login}: no sign-in and no creation date on record"),
            };
            sink.push(Finding {
                application: None,
                rule: rule.id.to_string(),
                severity: rule.severity,
                subject_type: SubjectType::Principal,
                subject_id: id,
                title,
                evidence: ev,
            })
            .await?;
        }
        Ok(Evaluation::noted(note))
    }
}
