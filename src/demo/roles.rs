//! The roles: WukongCRM's seed roles (`wk_admin_role` 180162–180170, with
//! their ids) under English names with the Chinese original in the
//! description, plus the custom roles a trading company adds. Permissions are
//! dotted (`customer.export`), the way the canonical model writes
//! WukongCRM's menu realms (`crm:customer:excelexport`).
//!
//! The table itself is data (`data/roles.yaml`, embedded), read by the demo
//! and the benchmark alike; the constants below name the ids the demo's
//! planted cases refer to.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// A role as the demo defines it (ids follow WukongCRM's `wk_admin_role`).
#[derive(Debug)]
pub struct RoleDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub scope: &'static str,
    pub privileged: bool,
    pub permissions: &'static [&'static str],
}

pub const SUPER: &str = "180162";
pub const SYS_SETTINGS: &str = "180163";
pub const STAFF_ADMIN: &str = "180164";
pub const APPROVAL_ADMIN: &str = "180165";
pub const CUSTOMER_ADMIN: &str = "180167";
pub const ANNOUNCEMENTS: &str = "180168";
pub const SALES_MANAGER: &str = "180169";
pub const SALES_REP: &str = "180170";
pub const KEY_EXPORT: &str = "180176";
pub const CONTRACT_ADMIN: &str = "180177";
pub const FINANCE_OFFICER: &str = "180178";
pub const FINANCE_MANAGER: &str = "180179";
pub const BILLING: &str = "180180";
pub const SUPPORT_AGENT: &str = "180181";
pub const SUPPORT_LEAD: &str = "180182";
pub const MARKETING: &str = "180183";
pub const CAMPAIGN_EDITOR: &str = "180184";
pub const AGENCY: &str = "180185";
pub const INTEGRATION: &str = "180186";
pub const MIGRATION: &str = "180187";
pub const STAFF: &str = "180188";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesFile {
    roles: Vec<RoleRow>,
    titles: HashMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleRow {
    id: String,
    name: String,
    description: String,
    scope: String,
    privileged: bool,
    permissions: Vec<String>,
}

struct Roles {
    roles: Vec<RoleDef>,
    titles: HashMap<&'static str, &'static [&'static str]>,
}

/// The file is part of the build and its test below parses it: a failure
/// here is a broken build, not bad input.
static DATA: LazyLock<Roles> = LazyLock::new(|| {
    let file: RolesFile = serde_saphyr::from_str(include_str!("data/roles.yaml"))
        .unwrap_or_else(|e| panic!("src/demo/data/roles.yaml: {e}"));
    // Leaked once: the demo's tables live as long as the process, and the
    // builder hands out `&'static str` ids.
    let text = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let list = |v: Vec<String>| -> &'static [&'static str] {
        Box::leak(
            v.into_iter()
                .map(text)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )
    };
    Roles {
        roles: file
            .roles
            .into_iter()
            .map(|r| RoleDef {
                id: text(r.id),
                name: text(r.name),
                description: text(r.description),
                scope: text(r.scope),
                privileged: r.privileged,
                permissions: list(r.permissions),
            })
            .collect(),
        titles: file
            .titles
            .into_iter()
            .map(|(title, roles)| (text(title), list(roles)))
            .collect(),
    }
});

/// Every role of the demo, in the file's order.
pub fn roles() -> &'static [RoleDef] {
    &DATA.roles
}

/// Sensitive under the shipped rules' defaults: privileged, over all data, or
/// holding an export, delete or `user.grant` permission. Their holders have
/// MFA and approved grants, so that only planted accounts are findings.
pub fn sensitive(id: &str) -> bool {
    roles().iter().any(|r| {
        r.id == id
            && (r.privileged
                || r.scope == "all"
                || r.permissions.iter().any(|p| {
                    p.ends_with(".export") || p.ends_with(".delete") || *p == "user.grant"
                }))
    })
}

/// The roles a title is given (besides `Staff`, which everyone has).
pub fn roles_of(title: &str) -> &'static [&'static str] {
    DATA.titles.get(title).copied().unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_defines_every_named_role_and_title() {
        let ids: Vec<&str> = roles().iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 21);
        for id in [
            SUPER,
            SYS_SETTINGS,
            STAFF_ADMIN,
            APPROVAL_ADMIN,
            CUSTOMER_ADMIN,
            ANNOUNCEMENTS,
            SALES_MANAGER,
            SALES_REP,
            KEY_EXPORT,
            CONTRACT_ADMIN,
            FINANCE_OFFICER,
            FINANCE_MANAGER,
            BILLING,
            SUPPORT_AGENT,
            SUPPORT_LEAD,
            MARKETING,
            CAMPAIGN_EDITOR,
            AGENCY,
            INTEGRATION,
            MIGRATION,
            STAFF,
        ] {
            assert!(ids.contains(&id), "role {id} is not in data/roles.yaml");
        }
        for (title, granted) in &DATA.titles {
            for id in granted.iter() {
                assert!(ids.contains(id), "{title}: unknown role {id}");
            }
        }
        assert_eq!(roles_of("Accountant"), [FINANCE_OFFICER]);
        assert!(sensitive(SUPER) && sensitive(KEY_EXPORT) && sensitive(INTEGRATION));
        assert!(!sensitive(SALES_REP) && !sensitive(STAFF) && !sensitive(AGENCY));
        assert!(roles_of("Nobody").is_empty());
    }
}
