//! `expired_grant_still_live`: a temporary grant (临时授权) whose `expires_at`
//! is more than `grace` before T and that nobody revoked, on an account that
//! is still open. The canonical "live at T" test treats such a grant as
//! ended; this rule exists because applications seldom enforce the expiry
//! (WukongCRM has none), so the access is still there. Use of the access
//! after `expires_at` (a successful event whose action one of the role's
//! permissions enables) raises the finding to critical.
//!
//! One finding per grant (subject `grant`). Not gated on event freshness:
//! the finding rests on the grant alone; a dead log feed can only hide the
//! escalation, and the evidence says how fresh the feed was. Not applicable
//! when no grant fills `expires_at`.

use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{
    Context, Evaluation, Needed, RuleMeta, SUCCESS, days_between, evidence, json_time, names,
};
use crate::engine::error::Result;
use crate::engine::kind::{Kind, non_empty, statuses_usable};
use crate::engine::roles::RoleInfo;
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, Finding, Severity, Span, SubjectType};
use crate::store::{SqlValue, Tx};

/// `expired_grant_still_live`: temporary grants left in place after they expired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpiredGrantStillLive {
    /// How long after `expires_at` a grant may stay unrevoked.
    pub grace: Span,
    /// Statuses of the accounts whose grants are checked (all but disabled).
    pub statuses: Vec<AccountStatus>,
    /// Raise to critical when the account used the role after `expires_at`.
    pub escalate_on_use: bool,
}

impl Default for ExpiredGrantStillLive {
    fn default() -> Self {
        ExpiredGrantStillLive {
            grace: Span::days(1),
            statuses: statuses_usable(),
            escalate_on_use: true,
        }
    }
}

impl Kind for ExpiredGrantStillLive {
    const NAME: &'static str = "expired_grant_still_live";
    const NEEDS: &'static [Needed] = &[("grants", "expires_at")];

    fn subject_type(&self) -> SubjectType {
        SubjectType::Grant
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
        // What each role enables decides which events are use of it; the
        // patterns do not matter here (only `enabled_actions` is read).
        let roles = RoleInfo::load_all(tx, &[]).await?;
        let enabled: serde_json::Map<String, serde_json::Value> = roles
            .iter()
            .map(|(id, r)| (id.clone(), r.enabled_actions().into()))
            .collect();
        let b = ctx.backend;
        let principals = &ctx.principals;
        // $1 = T, $2 = T - grace, $3 = statuses, $4 = role → enabled actions.
        // Use is read per action the role enables (an index seek on
        // events_principal_action_time each), after the expiry and at or before T.
        let used = |what: &str| {
            format!(
                "(SELECT {what} FROM role_actions ra
                   JOIN events e ON e.principal_id = g.principal_id AND e.action = ra.action
                                AND e.occurred_at > g.expires_at AND e.occurred_at <= $1 AND {SUCCESS}
                  WHERE ra.role_id = g.role_id)"
            )
        };
        let sql = format!(
            "WITH role_actions AS (SELECT m.k AS role_id, m.v AS action FROM {role_actions} m)
             SELECT g.id AS grant_id, g.principal_id, g.role_id, g.granted_at, g.expires_at,
                    p.login, p.status,
                    {uses} AS uses_after_expiry,
                    {last_use} AS last_used_at
               FROM grants g
               JOIN {principals} p ON p.id = g.principal_id
              WHERE g.expires_at < $2
                AND (g.granted_at IS NULL OR g.granted_at <= $1)
                AND (g.revoked_at IS NULL OR g.revoked_at > $1)
                AND {statuses} AND (p.created_at IS NULL OR p.created_at <= $1)
              ORDER BY g.id",
            role_actions = b.json_map_rows(4),
            statuses = b.in_short_list("p.status", 3, p.statuses.len()),
            uses = used("COUNT(*)"),
            last_use = used("MAX(e.occurred_at)"),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::time(ctx.before(p.grace)),
            SqlValue::TextList(names(&p.statuses, AccountStatus::as_str)),
            SqlValue::text(serde_json::Value::Object(enabled).to_string()),
        ];
        let mut rows = tx.fetch(&sql, &params);
        while let Some(row) = rows.next().await {
            let row = row?;
            let login = row.req_text("login")?;
            let role_id = row.req_text("role_id")?;
            let role = roles.get(&role_id).map_or(role_id.as_str(), |r| &r.name);
            let expires_at = row.time("expires_at")?;
            let uses = row.i64("uses_after_expiry")?.unwrap_or(0);
            let escalate = p.escalate_on_use && uses > 0;
            let days = expires_at.map(|t| days_between(t, ctx.as_of));
            let mut ev = evidence();
            ev.insert("principal_id".into(), row.req_text("principal_id")?.into());
            ev.insert("login".into(), login.clone().into());
            ev.insert("status".into(), row.req_text("status")?.into());
            ev.insert("role_id".into(), role_id.clone().into());
            ev.insert("role".into(), role.into());
            ev.insert("granted_at".into(), json_time(row.time("granted_at")?));
            ev.insert("expires_at".into(), json_time(expires_at));
            ev.insert("days_since_expiry".into(), days.into());
            ev.insert("grace".into(), p.grace.to_string().into());
            ev.insert("uses_after_expiry".into(), uses.into());
            ev.insert("last_used_at".into(), json_time(row.time("last_used_at")?));
            ev.insert("newest_event_seen".into(), json_time(ctx.newest_event));
            let title = if escalate {
                format!("{login}: used {role} {uses} time(s) after the grant expired")
            } else {
                format!(
                    "{login}: still holds {role}, expired {} days ago and not revoked",
                    days.unwrap_or(0)
                )
            };
            sink.push(Finding {
                application: None,
                rule: rule.id.to_string(),
                severity: if escalate {
                    Severity::Critical
                } else {
                    rule.severity
                },
                subject_type: SubjectType::Grant,
                subject_id: row.req_text("grant_id")?,
                title,
                evidence: ev,
            })
            .await?;
        }
        Ok(Evaluation::default())
    }
}
