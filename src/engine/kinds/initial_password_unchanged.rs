//! `initial_password_unchanged`: 首次登录必须改密码. An account created more
//! than `grace` before T that has signed in (`last_login_at` at or before T,
//! or a successful `login` event at or before T) and whose password was
//! never changed: `password_changed_at` is NULL or not after `created_at`.
//! A `password_changed_at` after T is unknown as of T and counts as NULL; an
//! account without `created_at` cannot be judged and is left out.
//!
//! One finding per account (subject `principal`). Not applicable when no
//! account fills `password_changed_at`. A stale event feed does not stop the
//! rule (`last_login_at` and the older events still show sign-ins); the run
//! notes that sign-ins after the newest event may be missed.

use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{
    Context, Evaluation, Needed, RuleMeta, SUCCESS, days_between, evidence, json_time, names,
};
use crate::engine::error::Result;
use crate::engine::kind::{Kind, gate_24h, non_empty};
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, AccountType, Finding, Span, SubjectType};
use crate::store::{SqlValue, Tx};

/// `initial_password_unchanged`: accounts still on the password they were created with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InitialPasswordUnchanged {
    /// How long after `created_at` the initial password may stay.
    pub grace: Span,
    /// Account statuses that are checked.
    pub statuses: Vec<AccountStatus>,
    /// Account types that are checked.
    pub account_types: Vec<AccountType>,
    /// When the newest event is older than this before T, the run notes that
    /// sign-ins since may be missed (`null`: no note).
    pub max_event_age: Option<Span>,
}

impl Default for InitialPasswordUnchanged {
    fn default() -> Self {
        InitialPasswordUnchanged {
            grace: Span::days(7),
            statuses: vec![AccountStatus::Active],
            account_types: vec![AccountType::Human],
            max_event_age: gate_24h(),
        }
    }
}

impl Kind for InitialPasswordUnchanged {
    const NAME: &'static str = "initial_password_unchanged";
    const NEEDS: &'static [Needed] = &[("principals", "password_changed_at")];

    fn defaults() -> Result<Self, &'static str> {
        Ok(Self::default())
    }

    fn check(&self) -> Result<(), (String, String)> {
        non_empty("statuses", &self.statuses, "account status")?;
        non_empty("account_types", &self.account_types, "account type")?;
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
        // Sign-ins are positive evidence: a stale feed can only hide some,
        // so the rule runs and says so.
        let note = ctx
            .stale_events(p.max_event_age)
            .filter(|_| ctx.has_events)
            .map(|s| format!("sign-ins after the newest event may be missed: {s}"));
        let b = ctx.backend;
        let principals = &ctx.principals;
        // $1 = T, $2 = T - grace, $3 = statuses, $4 = account types.
        let sql = format!(
            "SELECT p.id, p.login, p.status, p.created_at, p.last_login_at, p.password_changed_at,
                    (SELECT MAX(e.occurred_at) FROM events e
                      WHERE e.principal_id = p.id AND e.action = 'login' AND e.occurred_at <= $1
                        AND {SUCCESS}) AS last_login_event
               FROM {principals} p
              WHERE {statuses} AND {types}
                AND p.created_at < $2
                AND (p.password_changed_at IS NULL OR p.password_changed_at <= p.created_at
                     OR p.password_changed_at > $1)
                AND (p.last_login_at <= $1
                     OR EXISTS (SELECT 1 FROM events e
                                 WHERE e.principal_id = p.id AND e.action = 'login'
                                   AND e.occurred_at <= $1 AND {SUCCESS}))
              ORDER BY {order}",
            order = b.sorted_by("p.id"),
            statuses = b.in_short_list("p.status", 3, p.statuses.len()),
            types = b.in_short_list("p.account_type", 4, p.account_types.len()),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::time(ctx.before(p.grace)),
            SqlValue::TextList(names(&p.statuses, AccountStatus::as_str)),
            SqlValue::TextList(names(&p.account_types, AccountType::as_str)),
        ];
        let mut rows = tx.fetch(&sql, &params);
        while let Some(row) = rows.next().await {
            let row = row?;
            let login = row.req_text("login")?;
            let created_at = row.time("created_at")?;
            // Known as of T only: a later change is no change yet.
            let changed_at = row.time("password_changed_at")?.filter(|t| *t <= ctx.as_of);
            let column = row.time("last_login_at")?.filter(|t| *t <= ctx.as_of);
            let last_sign_in = column.max(row.time("last_login_event")?);
            let days = created_at.map(|t| days_between(t, ctx.as_of));
            let mut ev = evidence();
            ev.insert("login".into(), login.clone().into());
            ev.insert("status".into(), row.req_text("status")?.into());
            ev.insert("created_at".into(), json_time(created_at));
            ev.insert("password_changed_at".into(), json_time(changed_at));
            ev.insert("last_sign_in".into(), json_time(last_sign_in));
            ev.insert("days_since_creation".into(), days.into());
            ev.insert("grace".into(), p.grace.to_string().into());
            sink.push(Finding {
                application: None,
                rule: rule.id.to_string(),
                severity: rule.severity,
                subject_type: SubjectType::Principal,
                subject_id: row.req_text("id")?,
                title: format!(
                    "{login}: initial password never changed, account created {} days ago",
                    days.unwrap_or(0)
                ),
                evidence: ev,
            })
            .await?;
        }
        Ok(Evaluation::noted(note))
    }
}
