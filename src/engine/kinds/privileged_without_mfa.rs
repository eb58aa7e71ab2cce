//! `privileged_without_mfa`: 未开双因素. An account holding live privileged
//! or sensitive access (a grant, live at T, of a role that is privileged,
//! over all data, or holds a sensitive permission) whose `mfa_enabled` is
//! false. A NULL `mfa_enabled` is unknown, not false: no finding.
//!
//! One finding per account (subject `principal`), listing its sensitive
//! roles. Not applicable when no account fills `mfa_enabled`.

use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{Context, Evaluation, GRANT_LIVE, Needed, RuleMeta, evidence, names};
use crate::engine::error::Result;
use crate::engine::kind::{EventReach, Kind, non_empty, permission_patterns};
use crate::engine::roles::{RoleInfo, default_sensitive_permissions};
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, AccountType, Finding, SubjectType};
use crate::store::{SqlValue, Tx};

/// `privileged_without_mfa`: sensitive access on accounts without MFA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivilegedWithoutMfa {
    /// Permissions that make a role sensitive: patterns, case-insensitive
    /// (`*` any run of characters, `?` one). Privileged roles and roles over
    /// all data are sensitive whatever their permissions.
    pub sensitive_permissions: Vec<String>,
    /// Account statuses that are checked.
    pub statuses: Vec<AccountStatus>,
    /// Account types that are checked.
    pub account_types: Vec<AccountType>,
}

impl Default for PrivilegedWithoutMfa {
    fn default() -> Self {
        PrivilegedWithoutMfa {
            sensitive_permissions: default_sensitive_permissions(),
            statuses: vec![AccountStatus::Active],
            account_types: vec![
                AccountType::Human,
                AccountType::Service,
                AccountType::Shared,
                AccountType::External,
            ],
        }
    }
}

/// The account being gathered: its sensitive roles arrive one grant a row.
struct Holder {
    id: String,
    login: String,
    status: String,
    role_ids: Vec<String>,
}

impl Kind for PrivilegedWithoutMfa {
    const NAME: &'static str = "privileged_without_mfa";
    const NEEDS: &'static [Needed] = &[("principals", "mfa_enabled")];

    fn event_reach(&self) -> EventReach {
        EventReach::None
    }

    fn defaults() -> Result<Self, &'static str> {
        Ok(Self::default())
    }

    fn check(&self) -> Result<(), (String, String)> {
        non_empty("statuses", &self.statuses, "account status")?;
        non_empty("account_types", &self.account_types, "account type")?;
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
        // $1 = T, $2 = statuses, $3 = account types, $4 = sensitive role ids.
        // `NOT mfa_enabled` leaves out NULL (unknown) on both backends.
        let sql = format!(
            "SELECT DISTINCT p.id, p.login, p.status, g.role_id
               FROM {principals} p
               JOIN grants g ON g.principal_id = p.id
              WHERE {statuses} AND {types} AND NOT p.mfa_enabled
                AND (p.created_at IS NULL OR p.created_at <= $1)
                AND {roles}
                AND {GRANT_LIVE}
              ORDER BY p.id, g.role_id",
            statuses = b.in_short_list("p.status", 2, p.statuses.len()),
            types = b.in_short_list("p.account_type", 3, p.account_types.len()),
            roles = b.in_list("g.role_id", 4),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::TextList(names(&p.statuses, AccountStatus::as_str)),
            SqlValue::TextList(names(&p.account_types, AccountType::as_str)),
            SqlValue::list(&sensitive),
        ];
        let mut current: Option<Holder> = None;
        {
            let mut rows = tx.fetch(&sql, &params);
            while let Some(row) = rows.next().await {
                let row = row?;
                let id = row.req_text("id")?;
                let role_id = row.req_text("role_id")?;
                match current.as_mut() {
                    Some(h) if h.id == id => h.role_ids.push(role_id),
                    _ => {
                        let next = Holder {
                            id,
                            login: row.req_text("login")?,
                            status: row.req_text("status")?,
                            role_ids: vec![role_id],
                        };
                        if let Some(done) = current.replace(next) {
                            push(sink, rule, &roles, done).await?;
                        }
                    }
                }
            }
        }
        if let Some(done) = current {
            push(sink, rule, &roles, done).await?;
        }
        Ok(Evaluation::default())
    }
}

/// One finding for an account and its sensitive roles.
async fn push(
    sink: &mut Sink,
    rule: &RuleMeta<'_>,
    roles: &std::collections::BTreeMap<String, RoleInfo>,
    h: Holder,
) -> Result<()> {
    let role_names: Vec<String> = h
        .role_ids
        .iter()
        .map(|id| roles.get(id).map_or_else(|| id.clone(), |r| r.name.clone()))
        .collect();
    let privileged = h
        .role_ids
        .iter()
        .any(|id| roles.get(id).is_some_and(|r| r.privileged));
    let mut ev = evidence();
    ev.insert("login".into(), h.login.clone().into());
    ev.insert("status".into(), h.status.into());
    ev.insert("mfa_enabled".into(), false.into());
    ev.insert("role_ids".into(), h.role_ids.into());
    ev.insert("sensitive_roles".into(), role_names.clone().into());
    ev.insert("privileged".into(), privileged.into());
    sink.push(Finding {
        application: None,
        rule: rule.id.to_string(),
        severity: rule.severity,
        subject_type: SubjectType::Principal,
        subject_id: h.id,
        title: format!("{}: no MFA, holds {}", h.login, role_names.join(", ")),
        evidence: ev,
    })
    .await
}
