//! `departed_still_active`: an open account of a person HR has terminated more
//! than `grace` before T. Use of the account after `terminated_at` raises the
//! finding to critical.
//!
//! Not gated on event freshness: the finding rests on the HR roster and the
//! account's status alone; a dead log feed can only hide the escalation, and
//! the evidence says how fresh the feed was.

use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{
    Context, Evaluation, Needed, RuleMeta, SUCCESS, days_between, evidence, json_time, names,
};
use crate::engine::error::Result;
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, Finding, Severity, Span, SubjectType};
use crate::store::{Backend, SqlValue, Tx};

use crate::engine::kind::{Kind, non_empty};

/// `departed_still_active`: accounts of people HR has terminated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DepartedStillActive {
    /// How long after `terminated_at` an account may stay open.
    pub grace: Span,
    /// Account statuses that count as still open.
    pub statuses: Vec<AccountStatus>,
    /// Raise to critical when the account was used after the termination.
    pub escalate_on_activity: bool,
}

impl Default for DepartedStillActive {
    fn default() -> Self {
        DepartedStillActive {
            grace: Span::days(1),
            statuses: vec![AccountStatus::Active],
            escalate_on_activity: true,
        }
    }
}

impl Kind for DepartedStillActive {
    const NAME: &'static str = "departed_still_active";
    // Without an HR roster nobody can be seen to have left.
    const NEEDS: &'static [Needed] = &[("people", "id")];

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
        let b = ctx.backend;
        // $1 = T, $2 = T - grace.
        let principals = &ctx.principals;
        let sql = format!(
            "SELECT p.id, p.login, p.status, h.id AS person_id, h.full_name, h.terminated_at,
                    (SELECT COUNT(*) FROM events e
                      WHERE e.principal_id = p.id AND e.occurred_at > h.terminated_at AND e.occurred_at <= $1
                        AND {SUCCESS}) AS activity_after,
                    (SELECT MAX(e.occurred_at) FROM events e
                      WHERE e.principal_id = p.id AND e.occurred_at > h.terminated_at AND e.occurred_at <= $1
                        AND {SUCCESS}) AS last_activity_at
               FROM {principals} p
               JOIN people h ON h.id = {person}
              WHERE {statuses}
                AND (p.created_at IS NULL OR p.created_at <= $1)
                AND h.employment_status = 'terminated'
                AND (h.terminated_at IS NULL OR h.terminated_at < $2)
              ORDER BY p.id",
            statuses = b.in_list("p.status", 3),
            person = person_of_principal(b),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::time(ctx.before(p.grace)),
            SqlValue::TextList(names(&p.statuses, AccountStatus::as_str)),
        ];
        let mut rows = tx.fetch(&sql, &params);
        while let Some(row) = rows.next().await {
            let row = row?;
            let login = row.req_text("login")?;
            let terminated_at = row.time("terminated_at")?;
            let activity = row.i64("activity_after")?.unwrap_or(0);
            let escalate = p.escalate_on_activity && activity > 0;
            let mut ev = evidence();
            ev.insert("login".into(), login.clone().into());
            ev.insert("status".into(), row.req_text("status")?.into());
            ev.insert("person_id".into(), row.req_text("person_id")?.into());
            ev.insert("full_name".into(), row.text("full_name")?.into());
            ev.insert("terminated_at".into(), json_time(terminated_at));
            ev.insert(
                "days_since_termination".into(),
                terminated_at.map(|t| days_between(t, ctx.as_of)).into(),
            );
            ev.insert("activity_after_termination".into(), activity.into());
            ev.insert(
                "last_activity_at".into(),
                json_time(row.time("last_activity_at")?),
            );
            ev.insert("newest_event_seen".into(), json_time(ctx.newest_event));
            let title = match (escalate, terminated_at) {
                (true, _) => format!("{login}: used {activity} time(s) after its owner left"),
                (false, Some(t)) => format!(
                    "{login}: still {} {} days after its owner left",
                    row.req_text("status")?,
                    days_between(t, ctx.as_of)
                ),
                (false, None) => format!("{login}: still open although its owner has left"),
            };
            sink.push(Finding {
                application: None,
                rule: rule.id.to_string(),
                severity: if escalate {
                    Severity::Critical
                } else {
                    rule.severity
                },
                subject_type: SubjectType::Principal,
                subject_id: row.req_text("id")?,
                title,
                evidence: ev,
            })
            .await?;
        }
        Ok(Evaluation::default())
    }
}

/// The person of an account: `person_id`, or else the person whose email
/// matches case-insensitively; where HR has several records with that email
/// (a rehire), the most recently hired one.
pub(crate) fn person_of_principal(b: Backend) -> String {
    format!(
        "COALESCE(p.person_id,
            (SELECT x.id FROM people x WHERE p.email IS NOT NULL AND {} = {}
              ORDER BY CASE WHEN x.hired_at IS NULL THEN 1 ELSE 0 END, x.hired_at DESC, x.id LIMIT 1))",
        b.fold_case("x.email"),
        b.fold_case("p.email")
    )
}
