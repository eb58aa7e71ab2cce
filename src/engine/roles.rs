//! What a role gives: worked out once from `roles` and `role_permissions`
//! for the rules that ask whether access is privileged or sensitive, and
//! which event actions use it. Roles are few (hundreds), so this is done
//! here rather than in every rule's SQL; grants, which are many, stay in
//! the database.

use std::collections::BTreeMap;

use futures_util::StreamExt;

use super::error::Result;
use crate::model::DataScope;
use crate::store::Tx;
use crate::support::wildcard::{self, Case};

/// The default sensitive permissions: what `over-privileged` and the rules
/// about privileged or sensitive access watch unless a rule says otherwise.
pub(crate) fn default_sensitive_permissions() -> Vec<String> {
    ["*.export", "*.delete", "user.grant"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// What makes a role sensitive, worked out from its row and permissions.
#[derive(Debug, Default, Clone)]
pub(crate) struct RoleInfo {
    pub name: String,
    /// An administrative role (`roles.privileged`).
    pub privileged: bool,
    /// `data_scope` `all`: every record of the application.
    pub scope_all: bool,
    /// The role's permissions that match a sensitive pattern.
    pub sensitive_permissions: Vec<String>,
    /// Every permission of the role.
    pub permissions: Vec<String>,
    /// Holds `user.grant` (or another sensitive `*.grant`): administers access.
    pub grants_access: bool,
    pub has_export: bool,
    pub has_delete: bool,
}

/// The verb of a dotted permission (`customer.export` → `export`), lower case.
pub(crate) fn verb(permission: &str) -> String {
    permission
        .rsplit('.')
        .next()
        .unwrap_or(permission)
        .to_ascii_lowercase()
}

impl RoleInfo {
    /// Privileged, over all data, or holding a sensitive permission.
    pub fn sensitive(&self) -> bool {
        self.privileged || self.scope_all || !self.sensitive_permissions.is_empty()
    }

    /// What makes the role sensitive, in words for evidence: `privileged
    /// role`, `data_scope all`, and its sensitive permissions.
    pub fn sensitive_access(&self) -> Vec<String> {
        let mut access: Vec<String> = Vec::new();
        if self.privileged {
            access.push("privileged role".into());
        }
        if self.scope_all {
            access.push("data_scope all".into());
        }
        access.extend(self.sensitive_permissions.iter().cloned());
        access
    }

    /// The event actions that count as using this role's sensitive access:
    /// the verbs of its sensitive permissions (`grant` also covers
    /// `revoke`), `admin_actions` for a privileged role and `data_actions`
    /// for a role over all data.
    pub fn usage_actions(&self, admin_actions: &[String], data_actions: &[String]) -> Vec<String> {
        let mut actions: Vec<String> = Vec::new();
        for perm in &self.sensitive_permissions {
            let verb = verb(perm);
            if verb == "grant" {
                actions.push("revoke".into());
            }
            actions.push(verb);
        }
        if self.privileged {
            actions.extend(admin_actions.iter().cloned());
        }
        if self.scope_all {
            actions.extend(data_actions.iter().cloned());
        }
        actions.sort();
        actions.dedup();
        actions
    }

    /// The event actions any of the role's permissions enables (their verbs;
    /// `grant` also covers `revoke`).
    pub fn enabled_actions(&self) -> Vec<String> {
        let mut actions: Vec<String> = Vec::new();
        for perm in &self.permissions {
            let verb = verb(perm);
            if verb == "grant" {
                actions.push("revoke".into());
            }
            actions.push(verb);
        }
        actions.sort();
        actions.dedup();
        actions
    }

    /// The sensitive roles by id (privileged, over all data, or holding a
    /// permission matching one of `sensitive`).
    pub async fn load_sensitive(
        tx: &mut Tx,
        sensitive: &[String],
    ) -> Result<BTreeMap<String, RoleInfo>> {
        let mut roles = Self::load_all(tx, sensitive).await?;
        roles.retain(|_, r| r.sensitive());
        Ok(roles)
    }

    /// Every role by id, its sensitivity judged by the `sensitive` patterns
    /// (case-insensitive, `*` as a wildcard).
    pub async fn load_all(tx: &mut Tx, sensitive: &[String]) -> Result<BTreeMap<String, RoleInfo>> {
        let sql = "SELECT r.id, r.name, r.privileged, r.data_scope, rp.permission
                     FROM roles r LEFT JOIN role_permissions rp ON rp.role_id = r.id
                    ORDER BY r.id, rp.permission";
        let mut roles: BTreeMap<String, RoleInfo> = BTreeMap::new();
        let mut rows = tx.fetch(sql, &[]);
        while let Some(row) = rows.next().await {
            let row = row?;
            let id = row.req_text("id")?;
            let info = roles.entry(id).or_default();
            info.name = row.req_text("name")?;
            info.privileged = row.bool("privileged")?.unwrap_or(false);
            info.scope_all = row.text("data_scope")?.as_deref() == Some(DataScope::All.as_str());
            if let Some(perm) = row.text("permission")? {
                let verb = verb(&perm);
                info.has_export |= verb == "export";
                info.has_delete |= verb == "delete";
                if sensitive
                    .iter()
                    .any(|pat| wildcard::matches(pat, &perm, Case::Insensitive))
                {
                    info.grants_access |= verb == "grant";
                    info.sensitive_permissions.push(perm.clone());
                }
                info.permissions.push(perm);
            }
        }
        Ok(roles)
    }
}
