//! `over_privileged`: least privilege (最小权限原则). Live sensitive access
//! (privileged roles, sensitive permissions such as `*.export`, `*.delete`,
//! `user.grant`, or `data_scope: all`) held beyond need:
//! - `outside_admin_departments`: a privileged role or `user.grant` held
//!   outside the departments allowed to administer;
//! - `unused`: none of the actions the access enables used for `unused_after`
//!   (grants younger than that are not judged);
//! - `rare_among_peers`: held by fewer than `peer_max_share` of the holder's
//!   peers (same department and title, ignoring case; groups of
//!   `peer_min_group` or more).
//!
//! One finding per grant. Roles that bundle export and delete over all data are
//! findings themselves (subject `role`). The roles are few, so their
//! sensitivity is worked out here; the grants are many, so they are selected,
//! joined to holders and peers, and checked for use inside the database.

use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{
    Context, Evaluation, GRANT_LIVE, RuleMeta, SUCCESS, evidence, json_time, names,
};
use crate::engine::error::Result;
use crate::engine::identity::person_of;
use crate::engine::roles::RoleInfo;
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, Finding, Span, SubjectType};
use crate::store::{SqlValue, Tx};

use crate::engine::kind::{
    EventReach, Kind, gate_24h, invalid, permission_patterns, statuses_active_pending, strings,
};

/// `over_privileged`: sensitive access held beyond need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OverPrivileged {
    /// Permissions that make a grant sensitive: patterns, case-insensitive
    /// (`*` any run of characters, `?` one).
    pub sensitive_permissions: Vec<String>,
    /// Departments allowed to hold privileged roles and `user.grant`
    /// (case-insensitive); empty turns the department check off.
    pub admin_departments: Vec<String>,
    /// Flag sensitive access not used for this long.
    pub unused_after: Span,
    /// Event actions that count as using a privileged role.
    pub admin_actions: Vec<String>,
    /// Event actions that count as using `data_scope: all`.
    pub data_actions: Vec<String>,
    /// Peer check: only in groups (same department and title) of at least this many.
    pub peer_min_group: u32,
    /// Peer check: flag when fewer than this share of the peers hold the role.
    pub peer_max_share: f64,
    /// Roles that bundle export and delete over all data are findings themselves.
    pub flag_bundled_roles: bool,
    /// Account statuses that are checked.
    pub statuses: Vec<AccountStatus>,
    /// Freshness gate for the usage check only (the other checks need no events).
    pub max_event_age: Option<Span>,
}

impl Default for OverPrivileged {
    fn default() -> Self {
        OverPrivileged {
            sensitive_permissions: crate::engine::roles::default_sensitive_permissions(),
            admin_departments: strings(&["IT"]),
            unused_after: Span::days(90),
            admin_actions: strings(&["grant", "revoke", "update", "delete", "export"]),
            data_actions: strings(&["view", "update", "export", "delete"]),
            peer_min_group: 5,
            peer_max_share: 0.1,
            flag_bundled_roles: true,
            statuses: statuses_active_pending(),
            max_event_age: gate_24h(),
        }
    }
}

impl Kind for OverPrivileged {
    const NAME: &'static str = "over_privileged";

    /// One finding per grant (bundled roles are findings about the role).
    /// The last use of a permission ever; judged over `unused_after`.
    fn event_reach(&self) -> EventReach {
        EventReach::AnyAge {
            needs: Some(self.unused_after),
        }
    }

    fn subject_type(&self) -> SubjectType {
        SubjectType::Grant
    }

    fn defaults() -> Result<Self, &'static str> {
        Ok(Self::default())
    }

    fn check(&self) -> Result<(), (String, String)> {
        if !(0.0..=1.0).contains(&self.peer_max_share) {
            return invalid("peer_max_share", "must be a share between 0 and 1");
        }
        if self.peer_min_group < 2 {
            return invalid(
                "peer_min_group",
                "must be at least 2 (a holder and one peer)",
            );
        }
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
        let mut roles = RoleInfo::load_all(tx, &p.sensitive_permissions).await?;
        roles.retain(|_, r| r.sensitive() || (r.scope_all && r.has_export && r.has_delete));
        let stale = ctx.stale_events(p.max_event_age);
        let check_usage = stale.is_none();

        if p.flag_bundled_roles {
            for (id, role) in roles
                .iter()
                .filter(|(_, r)| r.scope_all && r.has_export && r.has_delete)
            {
                let mut ev = evidence();
                ev.insert("role".into(), role.name.clone().into());
                ev.insert("data_scope".into(), "all".into());
                ev.insert(
                    "reasons".into(),
                    vec!["bundles_export_and_delete_over_all_data"].into(),
                );
                ev.insert(
                    "sensitive_permissions".into(),
                    role.sensitive_permissions.clone().into(),
                );
                sink.push(Finding {
                    application: None,
                    rule: rule.id.to_string(),
                    severity: rule.severity,
                    subject_type: SubjectType::Role,
                    subject_id: id.clone(),
                    title: format!(
                        "role {}: export and delete over all data in one role",
                        role.name
                    ),
                    evidence: ev,
                })
                .await?;
            }
        }

        let sensitive: Vec<&String> = roles
            .iter()
            .filter(|(_, r)| r.sensitive())
            .map(|(id, _)| id)
            .collect();
        if sensitive.is_empty() {
            return Ok(Evaluation::noted(
                stale.map(|s| format!("usage check left out: {s}")),
            ));
        }
        let usage: serde_json::Map<String, serde_json::Value> = roles
            .iter()
            .filter(|(_, r)| r.sensitive())
            .map(|(id, r)| {
                (
                    id.clone(),
                    r.usage_actions(&p.admin_actions, &p.data_actions).into(),
                )
            })
            .collect();

        let b = ctx.backend;
        let unused_cutoff = ctx.before(p.unused_after);
        // $1 = T, $2 = statuses, $3 = sensitive role ids, $4 = role → usage actions.
        // The derived table of usage actions needs an alias: PostgreSQL before 16
        // rejects a subquery in FROM without one.
        // `who` and `live` are read three times each: MATERIALIZED keeps
        // SQLite 3.51 from inlining them into every reader (it then looked
        // up each account's person three times: 9.1-9.4 s against 6.9-7.5 s
        // at 1M). PostgreSQL materializes a CTE read more than once anyway.
        let principals = &ctx.principals;
        let sql = format!(
            "WITH who AS MATERIALIZED (
                SELECT p.id, p.login, COALESCE(p.department, h.department) AS dept, h.title,
                       {dept_key} AS dept_key, {title_key} AS title_key
                  FROM {principals} p
                  LEFT JOIN people h ON h.id = {person}
                 WHERE {statuses} AND (p.created_at IS NULL OR p.created_at <= $1)
             ),
             live AS MATERIALIZED (
                SELECT g.id, g.principal_id, g.role_id, g.granted_at
                  FROM grants g
                 WHERE {roles}
                   AND {GRANT_LIVE}
             ),
             role_actions AS (SELECT m.k AS role_id, m.v AS action FROM {role_actions} m),
             peer_groups AS (
                SELECT dept_key, title_key, COUNT(*) AS members FROM who
                 WHERE dept_key IS NOT NULL AND title_key IS NOT NULL GROUP BY dept_key, title_key
             ),
             peer_holders AS (
                SELECT w.dept_key, w.title_key, l.role_id, COUNT(DISTINCT l.principal_id) AS holders
                  FROM live l JOIN who w ON w.id = l.principal_id
                 WHERE w.dept_key IS NOT NULL AND w.title_key IS NOT NULL
                 GROUP BY w.dept_key, w.title_key, l.role_id
             )
             SELECT l.id AS grant_id, l.principal_id, l.role_id, l.granted_at, w.login, w.dept, w.title,
                    pg.members, ph.holders,
                    -- One MAX per (account, action): an index seek backwards on
                    -- events_principal_action_time each, instead of reading every
                    -- event of the account's actions (see BENCHMARKS.md).
                    (SELECT MAX((SELECT MAX(e.occurred_at) FROM events e
                                  WHERE e.principal_id = l.principal_id AND e.action = ra.action
                                    AND e.occurred_at <= $1 AND {SUCCESS}))
                       FROM role_actions ra WHERE ra.role_id = l.role_id) AS last_used_at
               FROM live l
               JOIN who w ON w.id = l.principal_id
               LEFT JOIN peer_groups pg ON pg.dept_key = w.dept_key AND pg.title_key = w.title_key
               LEFT JOIN peer_holders ph ON ph.dept_key = w.dept_key AND ph.title_key = w.title_key AND ph.role_id = l.role_id
              ORDER BY l.id",
            statuses = b.in_short_list("p.status", 2, p.statuses.len()),
            roles = b.in_list("g.role_id", 3),
            role_actions = b.json_map_rows(4),
            person = person_of(b, "p", &ctx.deployment.identity),
            dept_key = b.fold_case("COALESCE(p.department, h.department)"),
            title_key = b.fold_case("h.title"),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::TextList(names(&p.statuses, AccountStatus::as_str)),
            SqlValue::list(&sensitive),
            SqlValue::text(serde_json::Value::Object(usage).to_string()),
        ];
        let admin_departments: Vec<String> = p
            .admin_departments
            .iter()
            .map(|d| d.to_lowercase())
            .collect();
        let mut rows = tx.fetch(&sql, &params);
        let mut last_grant: Option<String> = None;
        while let Some(row) = rows.next().await {
            let row = row?;
            let grant_id = row.req_text("grant_id")?;
            if last_grant.as_deref() == Some(grant_id.as_str()) {
                continue;
            }
            last_grant = Some(grant_id.clone());
            let role_id = row.req_text("role_id")?;
            let Some(role) = roles.get(&role_id) else {
                continue;
            };
            let dept = row.text("dept")?;
            let granted_at = row.time("granted_at")?;
            let last_used = row.time("last_used_at")?;
            let mut reasons: Vec<&str> = Vec::new();

            let administers = role.privileged || role.grants_access;
            let in_admin_dept = dept
                .as_ref()
                .is_some_and(|d| admin_departments.contains(&d.to_ascii_lowercase()));
            if administers && !admin_departments.is_empty() && !in_admin_dept {
                reasons.push("outside_admin_departments");
            }
            let old_enough = granted_at.is_none_or(|g| g <= unused_cutoff);
            if check_usage && old_enough && last_used.is_none_or(|u| u < unused_cutoff) {
                reasons.push("unused");
            }
            let members = row.i64("members")?.unwrap_or(0);
            let holders = row.i64("holders")?.unwrap_or(0);
            let peer_share = if members >= i64::from(p.peer_min_group) && members > 1 {
                Some((holders - 1).max(0) as f64 / (members - 1) as f64)
            } else {
                None
            };
            if peer_share.is_some_and(|s| s < p.peer_max_share) {
                reasons.push("rare_among_peers");
            }
            if reasons.is_empty() {
                continue;
            }

            let login = row.req_text("login")?;
            let access = role.sensitive_access();
            let mut ev = evidence();
            ev.insert("principal_id".into(), row.req_text("principal_id")?.into());
            ev.insert("login".into(), login.clone().into());
            ev.insert("role_id".into(), role_id.clone().into());
            ev.insert("role".into(), role.name.clone().into());
            ev.insert("department".into(), dept.into());
            ev.insert("title".into(), row.text("title")?.into());
            ev.insert("sensitive_access".into(), access.into());
            ev.insert("reasons".into(), reasons.clone().into());
            ev.insert("granted_at".into(), json_time(granted_at));
            ev.insert("last_used_at".into(), json_time(last_used));
            if peer_share.is_some() {
                ev.insert("peers".into(), (members - 1).into());
                ev.insert("peers_holding".into(), (holders - 1).max(0).into());
            }
            sink.push(Finding {
                application: None,
                rule: rule.id.to_string(),
                severity: rule.severity,
                subject_type: SubjectType::Grant,
                subject_id: grant_id,
                title: format!(
                    "{login} holds {} ({})",
                    role.name,
                    reasons.join(", ").replace('_', " ")
                ),
                evidence: ev,
            })
            .await?;
        }
        Ok(Evaluation::noted(
            stale.map(|s| format!("usage check left out: {s}")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::support::wildcard::{Case, matches};

    fn glob_match(pattern: &str, text: &str) -> bool {
        matches(pattern, text, Case::Insensitive)
    }

    #[test]
    fn globs_match_dotted_permissions() {
        assert!(glob_match("*.export", "customer.export"));
        assert!(glob_match("*.export", "crm.customer.EXPORT"));
        assert!(!glob_match("*.export", "customer.exporter"));
        assert!(glob_match("user.grant", "user.grant"));
        assert!(!glob_match("user.grant", "user.granted"));
        assert!(glob_match("crm.*.delete", "crm.lead.delete"));
        assert!(!glob_match("crm.*.delete", "hr.lead.delete"));
    }
}
