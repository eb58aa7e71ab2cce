//! `departed_still_active`: an open account of a person who has left. Two
//! reasons (evidence `reason`):
//! - `terminated`: HR terminated the person more than `grace` before T; use
//!   of the account after `terminated_at` raises the finding to critical;
//! - `directory_disabled`: the person's account in a directory application
//!   (`Deployment::directories`) is disabled or locked, they have no active
//!   account in a directory, and this account, in another application, is
//!   still open; use of it after the directory account was disabled (as far
//!   as `principal_history` tells) raises it to critical. Never fires when
//!   no directory is configured. An account found for both reasons is
//!   reported once, as `terminated`.
//!
//! Not gated on event freshness: the finding rests on the HR roster and the
//! account's status alone; a dead log feed can only hide the escalation, and
//! the evidence says how fresh the feed was.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{
    Context, Evaluation, Needed, RuleMeta, SUCCESS, days_between, evidence, json_time, names,
};
use crate::engine::error::Result;
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, Finding, Severity, Span, SubjectType};
use crate::store::{SqlValue, Tx};

use crate::engine::identity::person_of;
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
            statuses = b.in_short_list("p.status", 3, p.statuses.len()),
            person = person_of(b, "p", &ctx.deployment.identity),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::time(ctx.before(p.grace)),
            SqlValue::TextList(names(&p.statuses, AccountStatus::as_str)),
        ];
        let mut found = HashSet::new();
        let mut rows = tx.fetch(&sql, &params);
        while let Some(row) = rows.next().await {
            let row = row?;
            let id = row.req_text("id")?;
            found.insert(id.clone());
            let login = row.req_text("login")?;
            let terminated_at = row.time("terminated_at")?;
            let activity = row.i64("activity_after")?.unwrap_or(0);
            let escalate = p.escalate_on_activity && activity > 0;
            let mut ev = evidence();
            ev.insert("reason".into(), "terminated".into());
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
                subject_id: id,
                title,
                evidence: ev,
            })
            .await?;
        }
        drop(rows);
        if !ctx.deployment.directories.is_empty() {
            p.directory_disabled(tx, ctx, rule, sink, &found).await?;
        }
        Ok(Evaluation::default())
    }
}

impl DepartedStillActive {
    /// The reason `directory_disabled`: open accounts outside the
    /// directories of people whose directory accounts are all disabled or
    /// locked (at least one, none active). `found` are the accounts
    /// already reported as `terminated`.
    async fn directory_disabled(
        &self,
        tx: &mut Tx,
        ctx: &Context,
        rule: &RuleMeta<'_>,
        sink: &mut Sink,
        found: &HashSet<String>,
    ) -> Result<()> {
        let b = ctx.backend;
        let principals = &ctx.principals;
        // $1 = T, $2 = statuses, $3 = the directory applications. Each
        // account's person is worked out once (`linked`); `directory` keeps
        // the people with a directory account off and none on. When the
        // directory account was disabled is the start of its last stretch
        // of disabled/locked versions in principal_history (NULL for an
        // account with no history: a CSV import does not say).
        let sql = format!(
            "WITH linked AS MATERIALIZED (
                SELECT p.id, p.login, p.status, p.application, {person} AS person_id
                  FROM {principals} p
                 WHERE p.created_at IS NULL OR p.created_at <= $1),
             directory AS (
                SELECT l.person_id,
                       MIN(CASE WHEN l.status IN ('disabled', 'locked') THEN l.id END) AS off_id,
                       MAX(CASE WHEN l.status = 'active' THEN 1 ELSE 0 END) AS any_on
                  FROM linked l
                 WHERE l.person_id IS NOT NULL AND {l_directory}
                 GROUP BY l.person_id)
             SELECT a.id, a.login, a.status, a.application, a.person_id, h.full_name,
                    d.id AS directory_account, d.login AS directory_login,
                    d.application AS directory, d.status AS directory_status, w.off_since,
                    (SELECT COUNT(*) FROM events e
                      WHERE e.principal_id = a.id AND e.occurred_at > w.off_since
                        AND e.occurred_at <= $1 AND {SUCCESS}) AS activity_after,
                    (SELECT MAX(e.occurred_at) FROM events e
                      WHERE e.principal_id = a.id AND e.occurred_at > w.off_since
                        AND e.occurred_at <= $1 AND {SUCCESS}) AS last_activity_at
               FROM linked a
               JOIN directory o ON o.person_id = a.person_id AND o.any_on = 0 AND o.off_id IS NOT NULL
               JOIN linked d ON d.id = o.off_id
               LEFT JOIN people h ON h.id = a.person_id
               LEFT JOIN (
                    SELECT v.principal_id, MIN(v.valid_from) AS off_since
                      FROM principal_history v
                     WHERE v.valid_from <= $1 AND v.status IN ('disabled', 'locked')
                       AND NOT EXISTS (
                           SELECT 1 FROM principal_history u
                            WHERE u.principal_id = v.principal_id AND u.valid_from > v.valid_from
                              AND u.valid_from <= $1 AND u.status NOT IN ('disabled', 'locked'))
                     GROUP BY v.principal_id) w ON w.principal_id = d.id
              WHERE {statuses} AND NOT ({a_directory})
              ORDER BY a.id",
            person = person_of(b, "p", &ctx.deployment.identity),
            l_directory = b.in_list("l.application", 3),
            a_directory = b.in_list("a.application", 3),
            statuses = b.in_short_list("a.status", 2, self.statuses.len()),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::TextList(names(&self.statuses, AccountStatus::as_str)),
            SqlValue::TextList(ctx.deployment.directories.clone()),
        ];
        let rows = tx.fetch_all(&sql, &params).await?;
        for row in rows {
            let id = row.req_text("id")?;
            if found.contains(&id) {
                continue;
            }
            let login = row.req_text("login")?;
            let off_since = row.time("off_since")?;
            // Use after the directory account was disabled, when that is known.
            let activity = if self.escalate_on_activity {
                row.i64("activity_after")?.unwrap_or(0)
            } else {
                0
            };
            let directory = row.req_text("directory")?;
            let application = row.req_text("application")?;
            let mut ev = evidence();
            ev.insert("reason".into(), "directory_disabled".into());
            ev.insert("login".into(), login.clone().into());
            ev.insert("status".into(), row.req_text("status")?.into());
            ev.insert("application".into(), application.clone().into());
            ev.insert("person_id".into(), row.req_text("person_id")?.into());
            ev.insert("full_name".into(), row.text("full_name")?.into());
            ev.insert("directory".into(), directory.clone().into());
            ev.insert(
                "directory_account".into(),
                row.req_text("directory_account")?.into(),
            );
            ev.insert(
                "directory_status".into(),
                row.req_text("directory_status")?.into(),
            );
            ev.insert("directory_disabled_since".into(), json_time(off_since));
            ev.insert(
                "activity_after_directory_disabled".into(),
                row.i64("activity_after")?.unwrap_or(0).into(),
            );
            ev.insert(
                "last_activity_at".into(),
                json_time(row.time("last_activity_at")?),
            );
            ev.insert("newest_event_seen".into(), json_time(ctx.newest_event));
            let title = if activity > 0 {
                format!(
                    "{login} ({application}): used {activity} time(s) after its owner's {directory} account was disabled"
                )
            } else {
                format!(
                    "{login} ({application}): still {} although its owner's {directory} account is {}",
                    row.req_text("status")?,
                    row.req_text("directory_status")?
                )
            };
            sink.push(Finding {
                application: None,
                rule: rule.id.to_string(),
                severity: if activity > 0 {
                    Severity::Critical
                } else {
                    rule.severity
                },
                subject_type: SubjectType::Principal,
                subject_id: id,
                title,
                evidence: ev,
            })
            .await?;
        }
        Ok(())
    }
}
