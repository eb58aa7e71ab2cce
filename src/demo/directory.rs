//! The demo's second application: the company directory in front of the
//! CRM (an Active Directory / OpenLDAP of everyone with a CRM account), so
//! that reports group findings by application and a leaver's accounts in
//! both show together.
//!
//! Every employee with a CRM account has a directory account (the same
//! login, `directory:LOGIN` in the store: the directory's ids are
//! namespaced, the CRM's are as WukongCRM gives them) in the `staff`
//! group. IT closes the directory account of a leaver on the day; the
//! planted cases are the exceptions (see `plant`). Contractors, interns,
//! vendors and shared or system accounts are not in it: they sign in to the
//! CRM with local accounts.

use chrono::Duration;

use super::builder::{Builder, DirectoryAccount};
use super::timeline::as_of;
use crate::model::application;

/// The directory's application name.
pub(crate) const DIRECTORY: &str = "directory";
/// The CRM's application name (ids as given).
pub(crate) const CRM: &str = "crm";
/// The group every directory account is in (no CRM permission: SSO only).
pub(crate) const STAFF_GROUP: &str = "staff";

/// The directory's role ids and names (namespaced like its accounts).
pub(crate) fn groups() -> [(String, &'static str); 1] {
    [(
        application::namespaced(DIRECTORY, STAFF_GROUP),
        "Staff (all employees)",
    )]
}

/// The stored id of a directory account.
pub(crate) fn account_id(login: &str) -> String {
    application::namespaced(DIRECTORY, login)
}

/// The directory's accounts and their `staff` memberships, from the CRM's
/// people and accounts as the builder left them (`directory_left_open`:
/// the leavers whose directory account IT forgot to close).
pub(crate) fn build(b: &Builder<'_>) -> Vec<DirectoryAccount> {
    let now = as_of();
    let mut out = Vec::new();
    for (a, account) in b.accounts.iter().enumerate() {
        let Some(p) = b.account_person[a] else {
            continue;
        };
        let person = &b.people[p];
        if account.account_type != "human"
            || account.status == "pending"
            || person.worker_type.is_some_and(|w| w != "employee")
        {
            continue;
        }
        let left = person.terminated_at.is_some();
        let open =
            (!left && !b.directory_closed.contains(&p)) || b.directory_left_open.contains(&p);
        // SSO signs everyone in each working day; a person on leave last
        // signed in on their last day before it.
        let last_login_at = match (person.terminated_at, person.status) {
            (Some(t), _) => Some(t - Duration::hours(1)),
            (None, "on_leave") => Some(account.habit.until),
            (None, _) => Some(now - Duration::hours(14 + (a as i64 % 9))),
        };
        out.push(DirectoryAccount {
            id: account_id(&account.login),
            login: account.login.clone(),
            display_name: account.display_name.clone(),
            email: person.email.clone(),
            person_id: person.id.clone(),
            department: person.department,
            status: if open { "active" } else { "disabled" },
            created_at: person.hired_at,
            last_login_at: last_login_at.filter(|t| *t < now),
            password_changed_at: person.hired_at + Duration::hours(3),
        });
    }
    out
}
