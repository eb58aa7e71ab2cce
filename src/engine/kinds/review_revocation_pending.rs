//! `review_revocation_pending`: an access review decided to revoke a grant,
//! the campaign closed and the list went to IT, and the grant is still
//! live `remediation_sla` later (`review_revocations.due_at` at or before
//! T). The revocation is done when the grant is revoked or expired at T, or
//! the account is disabled (or gone).
//!
//! One finding per grant (subject `grant`), the earliest revocation due if
//! several campaigns asked. Nothing asked, nothing found: a deployment
//! without access reviews has no revocations to check.

use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{Context, Evaluation, RuleMeta, evidence, json_time};
use crate::engine::error::Result;
use crate::engine::kind::{EventReach, Kind};
use crate::engine::sink::Sink;
use crate::model::{Finding, SubjectType, format_instant};
use crate::store::{SqlValue, Tx};

/// `review_revocation_pending`: no parameters (the deadline is each
/// campaign's `remediation_sla`, recorded with the revocation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewRevocationPending {}

impl Kind for ReviewRevocationPending {
    const NAME: &'static str = "review_revocation_pending";

    fn event_reach(&self) -> EventReach {
        EventReach::None
    }

    fn defaults() -> Result<Self, &'static str> {
        Ok(Self::default())
    }

    fn subject_type(&self) -> SubjectType {
        SubjectType::Grant
    }

    async fn evaluate(
        &self,
        tx: &mut Tx,
        ctx: &Context,
        rule: &RuleMeta<'_>,
        sink: &mut Sink,
    ) -> Result<Evaluation> {
        let principals = &ctx.principals;
        // $1 = T. A grant without a row (deleted by a sync) is not live.
        let sql = format!(
            "SELECT r.grant_id, r.item_id, r.campaign_id, r.campaign, r.principal_id, r.role_id,
                    r.decided_by, r.decided_at, r.due_at, p.login, p.status, ro.name AS role_name
               FROM review_revocations r
               JOIN grants g ON g.id = r.grant_id
               JOIN {principals} p ON p.id = r.principal_id
               LEFT JOIN roles ro ON ro.id = r.role_id
              WHERE r.due_at <= $1 AND r.decided_at <= $1
                AND (g.revoked_at IS NULL OR g.revoked_at > $1)
                AND (g.expires_at IS NULL OR g.expires_at > $1)
                AND p.status <> 'disabled'
              ORDER BY r.grant_id, r.due_at, r.item_id"
        );
        let params = [SqlValue::time(ctx.as_of)];
        let mut last: Option<String> = None;
        let mut found = Vec::new();
        {
            let mut rows = tx.fetch(&sql, &params);
            while let Some(row) = rows.next().await {
                let row = row?;
                let grant_id = row.req_text("grant_id")?;
                if last.as_deref() == Some(grant_id.as_str()) {
                    continue; // the earliest due revocation of this grant
                }
                last = Some(grant_id.clone());
                let due_at = row.time("due_at")?;
                let login = row.req_text("login")?;
                let role = row
                    .text("role_name")?
                    .unwrap_or_else(|| row.req_text("role_id").unwrap_or_default());
                let days_overdue = due_at.map_or(0, |d| (ctx.as_of - d).num_days());
                let campaign = row.req_text("campaign")?;
                let mut ev = evidence();
                ev.insert("login".into(), login.clone().into());
                ev.insert("account_id".into(), row.req_text("principal_id")?.into());
                ev.insert("role_id".into(), row.req_text("role_id")?.into());
                ev.insert("role".into(), role.clone().into());
                ev.insert("campaign".into(), campaign.clone().into());
                ev.insert("campaign_id".into(), row.i64("campaign_id")?.into());
                ev.insert("review_item_id".into(), row.i64("item_id")?.into());
                ev.insert("decided_by".into(), row.req_text("decided_by")?.into());
                ev.insert("decided_at".into(), json_time(row.time("decided_at")?));
                ev.insert("revoke_by".into(), json_time(due_at));
                ev.insert("days_overdue".into(), days_overdue.into());
                ev.insert("account_status".into(), row.req_text("status")?.into());
                found.push(Finding {
                    application: None,
                    rule: rule.id.to_string(),
                    severity: rule.severity,
                    subject_type: SubjectType::Grant,
                    subject_id: grant_id,
                    title: format!(
                        "{login}: {role} still held, revocation due {} (access review {campaign})",
                        due_at.map(format_instant).unwrap_or_default()
                    ),
                    evidence: ev,
                });
            }
        }
        for f in found {
            sink.push(f).await?;
        }
        Ok(Evaluation::default())
    }
}
