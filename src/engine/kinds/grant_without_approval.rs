//! `grant_without_approval`: live privileged or sensitive access (a role that
//! is privileged, over all data, or holds a sensitive permission) that nobody
//! independent approved (私自申请 / 无审批; the seed's 双人复核):
//! - `no_approval`: `approved_by` is empty;
//! - `self_approved`: approved by its own holder (the account's id, or its
//!   id as its application knows it (`1` for `crm:1`: a source names the
//!   approver as it names its accounts), its person's id, or its email);
//! - `approved_by_granter`: approved by whoever made the grant.
//!
//! Ids are compared exactly, emails (values with an `@`) ignoring ASCII case.
//! One finding per grant (subject `grant`), with the reasons; high for a
//! privileged role. Not applicable when no grant fills `approved_by` (the
//! source records no approvals at all).

use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{
    Context, Evaluation, GRANT_LIVE, Needed, RuleMeta, evidence, json_time, names,
};
use crate::engine::error::Result;
use crate::engine::identity::person_of;
use crate::engine::kind::{EventReach, Kind, non_empty, permission_patterns, statuses_usable};
use crate::engine::roles::{RoleInfo, default_sensitive_permissions};
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, Finding, Severity, SubjectType};
use crate::store::{SqlValue, Tx};

/// Why a grant's approval is missing or not independent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalCheck {
    /// No `approved_by`.
    NoApproval,
    /// Approved by the account that holds the grant (or its person).
    SelfApproved,
    /// Approved by the one who granted it (no second pair of eyes).
    ApprovedByGranter,
}

impl ApprovalCheck {
    fn as_str(self) -> &'static str {
        match self {
            ApprovalCheck::NoApproval => "no_approval",
            ApprovalCheck::SelfApproved => "self_approved",
            ApprovalCheck::ApprovedByGranter => "approved_by_granter",
        }
    }
}

/// `grant_without_approval`: sensitive grants without an independent approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrantWithoutApproval {
    /// Permissions that make a role sensitive: patterns, case-insensitive
    /// (`*` any run of characters, `?` one). Privileged roles and roles over
    /// all data are sensitive whatever their permissions.
    pub sensitive_permissions: Vec<String>,
    /// Which reasons make a finding (a deployment without two-person review
    /// leaves out `approved_by_granter`).
    pub checks: Vec<ApprovalCheck>,
    /// Statuses of the accounts whose grants are checked.
    pub statuses: Vec<AccountStatus>,
}

impl Default for GrantWithoutApproval {
    fn default() -> Self {
        GrantWithoutApproval {
            sensitive_permissions: default_sensitive_permissions(),
            checks: vec![
                ApprovalCheck::NoApproval,
                ApprovalCheck::SelfApproved,
                ApprovalCheck::ApprovedByGranter,
            ],
            statuses: statuses_usable(),
        }
    }
}

/// The same identity: ids exactly, emails ignoring ASCII case (as the
/// backends' `fold_case` does).
fn same_identity(a: &str, b: &str) -> bool {
    a == b || (a.contains('@') && a.eq_ignore_ascii_case(b))
}

impl Kind for GrantWithoutApproval {
    const NAME: &'static str = "grant_without_approval";
    const NEEDS: &'static [Needed] = &[("grants", "approved_by")];

    fn event_reach(&self) -> EventReach {
        EventReach::None
    }

    fn subject_type(&self) -> SubjectType {
        SubjectType::Grant
    }

    fn defaults() -> Result<Self, &'static str> {
        Ok(Self::default())
    }

    fn check(&self) -> Result<(), (String, String)> {
        non_empty("checks", &self.checks, "check")?;
        non_empty("statuses", &self.statuses, "account status")?;
        permission_patterns("sensitive_permissions", &self.sensitive_permissions)?;
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
        let roles = RoleInfo::load_sensitive(tx, &p.sensitive_permissions).await?;
        if roles.is_empty() {
            return Ok(Evaluation::default());
        }
        let sensitive: Vec<&String> = roles.keys().collect();
        let b = ctx.backend;
        let principals = &ctx.principals;
        // $1 = T, $2 = statuses, $3 = sensitive role ids. The database keeps
        // the candidates (no approver, or one equal to the holder or the
        // granter); Rust names the reasons, with the same comparisons.
        let approver = b.fold_case("g.approved_by");
        let sql = format!(
            "SELECT g.id AS grant_id, g.principal_id, g.role_id, g.granted_at, g.granted_by,
                    g.approved_by, p.login, p.email, p.application, {person} AS person_id
               FROM grants g
               JOIN {principals} p ON p.id = g.principal_id
              WHERE {roles}
                AND {GRANT_LIVE}
                AND {statuses} AND (p.created_at IS NULL OR p.created_at <= $1)
                AND (g.approved_by IS NULL
                     OR g.approved_by = p.id
                     OR p.id = p.application || ':' || g.approved_by
                     OR g.approved_by = {person}
                     OR g.approved_by = g.granted_by
                     OR (g.approved_by LIKE '%@%'
                         AND ({approver} = {email} OR {approver} = {granter})))
              ORDER BY g.id",
            person = person_of(b, "p", &ctx.deployment.identity),
            roles = b.in_list("g.role_id", 3),
            statuses = b.in_short_list("p.status", 2, p.statuses.len()),
            email = b.fold_case("p.email"),
            granter = b.fold_case("g.granted_by"),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::TextList(names(&p.statuses, AccountStatus::as_str)),
            SqlValue::list(&sensitive),
        ];
        let mut rows = tx.fetch(&sql, &params);
        while let Some(row) = rows.next().await {
            let row = row?;
            let role_id = row.req_text("role_id")?;
            let Some(role) = roles.get(&role_id) else {
                continue;
            };
            let principal_id = row.req_text("principal_id")?;
            let approved_by = row.text("approved_by")?;
            let granted_by = row.text("granted_by")?;
            let email = row.text("email")?;
            let person_id = row.text("person_id")?;
            let application = row.text("application")?;
            let mut reasons: Vec<&str> = Vec::new();
            match approved_by.as_deref() {
                None => reasons.push(ApprovalCheck::NoApproval.as_str()),
                Some(a) => {
                    let native = application
                        .as_deref()
                        .map(|app| crate::model::application::native_id(app, &principal_id));
                    let holder = a == principal_id
                        || native == Some(a)
                        || person_id.as_deref() == Some(a)
                        || email.as_deref().is_some_and(|e| same_identity(a, e));
                    if holder {
                        reasons.push(ApprovalCheck::SelfApproved.as_str());
                    }
                    if granted_by.as_deref().is_some_and(|g| same_identity(a, g)) {
                        reasons.push(ApprovalCheck::ApprovedByGranter.as_str());
                    }
                }
            }
            reasons.retain(|r| p.checks.iter().any(|c| c.as_str() == *r));
            if reasons.is_empty() {
                continue;
            }

            let login = row.req_text("login")?;
            let access = role.sensitive_access();
            let mut ev = evidence();
            ev.insert("principal_id".into(), principal_id.into());
            ev.insert("login".into(), login.clone().into());
            ev.insert("role_id".into(), role_id.clone().into());
            ev.insert("role".into(), role.name.clone().into());
            ev.insert("privileged".into(), role.privileged.into());
            ev.insert("sensitive_access".into(), access.into());
            ev.insert("granted_at".into(), json_time(row.time("granted_at")?));
            ev.insert("granted_by".into(), granted_by.into());
            ev.insert("approved_by".into(), approved_by.into());
            ev.insert("reasons".into(), reasons.clone().into());
            sink.push(Finding {
                application: None,
                rule: rule.id.to_string(),
                severity: if role.privileged {
                    Severity::High
                } else {
                    rule.severity
                },
                subject_type: SubjectType::Grant,
                subject_id: row.req_text("grant_id")?,
                title: format!(
                    "{login} holds {} ({})",
                    role.name,
                    reasons.join(", ").replace('_', " ")
                ),
                evidence: ev,
            })
            .await?;
        }
        Ok(Evaluation::default())
    }
}

#[cfg(test)]
mod tests {
    use super::same_identity;

    #[test]
    fn ids_exactly_emails_ignoring_case() {
        assert!(same_identity("u1", "u1"));
        assert!(!same_identity("U1", "u1"));
        assert!(same_identity("Ann@Corp.example", "ann@corp.example"));
        assert!(!same_identity("ann@corp.example", "bob@corp.example"));
    }
}
