//! One person's access across every application as of T (`accessaudit
//! people show`): their accounts, each account's live roles and what those
//! permit, and the findings about them in the latest succeeded run at or
//! before T. Accounts are linked by the deployment's identity order through
//! `engine::identity`, the same SQL the rules use.
//!
//! The JSON shape (README, "people show") is this module's `Serialize`
//! types, field for field.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::engine::{IdentityMatch, identity};
use crate::model::format_instant;
use crate::store::canonical::newest_hire_first;
use crate::store::{DbRow, SqlValue, Store};

#[derive(Debug, Serialize)]
pub struct PersonAccess {
    pub as_of: String,
    /// The identity order accounts were linked by.
    pub identity: Vec<&'static str>,
    pub person: Person,
    pub accounts: Vec<Account>,
    /// The findings about the person, their accounts and their grants in
    /// the latest succeeded run at or before T (none when there is no run).
    pub findings: Findings,
}

#[derive(Debug, Serialize)]
pub struct Person {
    pub id: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub department: Option<String>,
    pub employment_status: Option<String>,
    pub terminated_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Account {
    pub application: String,
    pub id: String,
    /// The id without its `APPLICATION:` prefix.
    pub native_id: String,
    pub login: String,
    pub status: String,
    pub account_type: String,
    pub last_login_at: Option<String>,
    /// The identity method that links the account to the person.
    pub linked_by: String,
    pub roles: Vec<Role>,
}

#[derive(Debug, Serialize)]
pub struct Role {
    pub application: String,
    pub id: String,
    pub native_id: String,
    pub name: Option<String>,
    pub privileged: bool,
    pub grant_id: String,
    pub granted_at: Option<String>,
    pub expires_at: Option<String>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Findings {
    pub run_id: Option<i64>,
    pub run_as_of: Option<String>,
    pub items: Vec<Finding>,
}

#[derive(Debug, Serialize)]
pub struct Finding {
    pub rule: String,
    pub severity: String,
    pub subject_type: String,
    pub subject_id: String,
    /// The application of the account or role the finding is about
    /// (none for a finding about the person).
    pub application: Option<String>,
    pub native_id: String,
    pub title: String,
}

/// `id` without the `application:` prefix it was namespaced with.
fn native_id(application: &str, id: &str) -> String {
    crate::model::application::native_id(application, id).to_string()
}

fn time(row: &DbRow, column: &str) -> Result<Option<String>> {
    Ok(row.time(column)?.map(format_instant))
}

/// The person `who` (a `people.id`, else an email ignoring ASCII case) and
/// their access as of `as_of`, accounts linked by `methods`.
pub async fn show(
    store: &Store,
    who: &str,
    as_of: DateTime<Utc>,
    methods: &[IdentityMatch],
) -> Result<PersonAccess> {
    let b = store.backend();
    let mut tx = store.begin_scan().await?;
    const PERSON: &str =
        "SELECT id, full_name, email, department, employment_status, terminated_at FROM people";
    let mut row = tx
        .fetch_optional(&format!("{PERSON} WHERE id = $1"), &[SqlValue::text(who)])
        .await?;
    if row.is_none() {
        // Several records with one email (a rehire): the most recent hire,
        // as the email match of the rules.
        row = tx
            .fetch_optional(
                &format!(
                    "{PERSON} WHERE {} = {} {} LIMIT 1",
                    b.fold_case("email"),
                    b.fold_case("$1"),
                    newest_hire_first("")
                ),
                &[SqlValue::text(who)],
            )
            .await?;
    }
    let Some(row) = row else {
        tx.rollback().await?;
        bail!("no person `{who}` in people (looked up by people.id and by email, ignoring case)");
    };
    let person = Person {
        id: row.req_text("id")?,
        full_name: row.text("full_name")?,
        email: row.text("email")?,
        department: row.text("department")?,
        employment_status: row.text("employment_status")?,
        terminated_at: time(&row, "terminated_at")?,
    };

    // The accounts: a cheap pre-filter on what could link them (indexed
    // columns), then the identity order itself decides.
    let principals = crate::engine::principals_at(&mut tx, b, as_of).await?;
    let local = person
        .email
        .as_deref()
        .and_then(|e| e.split_once('@'))
        .map(|(l, _)| l.to_ascii_lowercase());
    let sql = format!(
        "SELECT p.id, p.application, p.login, p.status, p.account_type, p.last_login_at,
                {linked_by} AS linked_by
           FROM {principals} p
          WHERE (p.created_at IS NULL OR p.created_at <= $1)
            AND (p.person_id = $2 OR p.employee_number = $2
                 OR {p_email} = {email} OR {p_login} = $4)
            AND {person_of} = $2
          ORDER BY p.application, p.id",
        linked_by = identity::linked_by(b, "p", methods),
        person_of = identity::person_of(b, "p", methods),
        p_email = b.fold_case("p.email"),
        email = b.fold_case("$3"),
        p_login = b.fold_case("p.login"),
    );
    let rows = tx
        .fetch_all(
            &sql,
            &[
                SqlValue::time(as_of),
                SqlValue::text(person.id.clone()),
                SqlValue::Text(person.email.clone()),
                SqlValue::Text(local),
            ],
        )
        .await?;
    let mut accounts = Vec::with_capacity(rows.len());
    for r in &rows {
        let application = r.req_text("application")?;
        let id = r.req_text("id")?;
        accounts.push(Account {
            native_id: native_id(&application, &id),
            application,
            id,
            login: r.req_text("login")?,
            status: r.req_text("status")?,
            account_type: r.req_text("account_type")?,
            last_login_at: time(r, "last_login_at")?,
            linked_by: r.req_text("linked_by")?,
            roles: Vec::new(),
        });
    }

    // Each account's live grants at T (docs/CANONICAL.md) and their roles.
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let grants = tx
        .fetch_all(
            &format!(
                "SELECT g.id AS grant_id, g.principal_id, g.granted_at, g.expires_at, r.id AS role_id,
                        r.name, r.application, r.privileged
                   FROM grants g JOIN roles r ON r.id = g.role_id
                  WHERE {in_accounts}
                    AND (g.granted_at IS NULL OR g.granted_at <= $1)
                    AND (g.revoked_at IS NULL OR g.revoked_at > $1)
                    AND (g.expires_at IS NULL OR g.expires_at > $1)
                  ORDER BY g.principal_id, r.application, r.id, g.id",
                in_accounts = b.in_list("g.principal_id", 2)
            ),
            &[SqlValue::time(as_of), SqlValue::TextList(ids.clone())],
        )
        .await?;
    let role_ids: Vec<String> = grants
        .iter()
        .map(|g| g.req_text("role_id"))
        .collect::<crate::store::Result<_>>()?;
    let mut permissions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in tx
        .fetch_all(
            &format!(
                "SELECT role_id, permission FROM role_permissions WHERE {}
                  ORDER BY role_id, permission",
                b.in_list("role_id", 1)
            ),
            &[SqlValue::TextList(role_ids)],
        )
        .await?
    {
        permissions
            .entry(r.req_text("role_id")?)
            .or_default()
            .push(r.req_text("permission")?);
    }
    tx.rollback().await?;
    let mut grant_ids = Vec::with_capacity(grants.len());
    for g in &grants {
        let principal = g.req_text("principal_id")?;
        let role_id = g.req_text("role_id")?;
        let application = g.req_text("application")?;
        let grant_id = g.req_text("grant_id")?;
        grant_ids.push(grant_id.clone());
        if let Some(a) = accounts.iter_mut().find(|a| a.id == principal) {
            a.roles.push(Role {
                native_id: native_id(&application, &role_id),
                permissions: permissions.get(&role_id).cloned().unwrap_or_default(),
                id: role_id,
                name: g.text("name")?,
                privileged: g.bool("privileged")?.unwrap_or(false),
                application,
                grant_id,
                granted_at: time(g, "granted_at")?,
                expires_at: time(g, "expires_at")?,
            });
        }
    }

    let findings = findings_about(store, as_of, &person.id, &accounts, grant_ids).await?;
    Ok(PersonAccess {
        as_of: format_instant(as_of),
        identity: methods.iter().map(|m| m.as_str()).collect(),
        person,
        accounts,
        findings,
    })
}

/// The findings of the latest succeeded run at or before T about the
/// person, one of their accounts, or one of their live grants.
async fn findings_about(
    store: &Store,
    as_of: DateTime<Utc>,
    person: &str,
    accounts: &[Account],
    grants: Vec<String>,
) -> Result<Findings> {
    let b = store.backend();
    let run = store
        .fetch_all(
            "SELECT id, as_of FROM runs WHERE status = 'succeeded' AND as_of <= $1
              ORDER BY as_of DESC, id DESC LIMIT 1",
            &[SqlValue::time(as_of)],
        )
        .await?;
    let Some(run) = run.first() else {
        return Ok(Findings {
            run_id: None,
            run_as_of: None,
            items: Vec::new(),
        });
    };
    let run_id = run.i64("id")?;
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let rows = store
        .fetch_all(
            &format!(
                "SELECT rule, severity, subject_type, subject_id, title FROM findings
                  WHERE run_id = $1
                    AND ((subject_type = 'person' AND subject_id = $2)
                         OR (subject_type = 'principal' AND {accounts})
                         OR (subject_type = 'grant' AND {grants}))
                  ORDER BY subject_type, subject_id, rule",
                accounts = b.in_list("subject_id", 3),
                grants = b.in_list("subject_id", 4),
            ),
            &[
                SqlValue::Int(run_id),
                SqlValue::text(person),
                SqlValue::TextList(ids),
                SqlValue::TextList(grants),
            ],
        )
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let subject_type = r.req_text("subject_type")?;
        let subject_id = r.req_text("subject_id")?;
        let application = match subject_type.as_str() {
            "principal" => accounts
                .iter()
                .find(|a| a.id == subject_id)
                .map(|a| a.application.clone()),
            "grant" => accounts
                .iter()
                .flat_map(|a| &a.roles)
                .find(|g| g.grant_id == subject_id)
                .map(|g| g.application.clone()),
            _ => None,
        };
        items.push(Finding {
            rule: r.req_text("rule")?,
            severity: r.req_text("severity")?,
            native_id: application
                .as_deref()
                .map_or(subject_id.clone(), |a| native_id(a, &subject_id)),
            application,
            subject_type,
            subject_id,
            title: r.req_text("title")?,
        });
    }
    Ok(Findings {
        run_id,
        run_as_of: time(run, "as_of")?,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::native_id;

    #[test]
    fn native_ids_lose_only_their_own_applications_prefix() {
        assert_eq!(native_id("crm", "crm:1"), "1");
        assert_eq!(native_id("crm", "erp:1"), "erp:1");
        assert_eq!(native_id("default", "u1"), "u1");
        assert_eq!(native_id("crm", "crmx:1"), "crmx:1");
    }
}
