//! What the deployment's configuration tells every rule of a run: how
//! accounts are linked to people (`identity:`) and what it knows of its
//! applications (`applications:`). `engine::run` uses the defaults: each
//! account linked by `person_id`, else by email; no application critical,
//! none a directory.

use serde::{Deserialize, Serialize};

/// One way of linking an account to a person, tried in the configured order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMatch {
    /// The account's `person_id` is a `people.id`.
    PersonId,
    /// The account's email is a person's, ignoring ASCII case.
    Email,
    /// The account's `employee_number` is a `people.id`.
    EmployeeNumber,
    /// The account's login is the local part of a person's email
    /// (`li.wei` ↔ `li.wei@example.com`), ignoring ASCII case.
    LoginIsMailLocalPart,
}

/// The default order: what the tool always did.
pub const DEFAULT_IDENTITY: [IdentityMatch; 2] = [IdentityMatch::PersonId, IdentityMatch::Email];

/// What every rule of a run may know of the deployment.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// How accounts are linked to people, in order (first match wins).
    pub identity: Vec<IdentityMatch>,
    /// Applications whose findings are raised one severity level.
    pub critical_applications: Vec<String>,
    /// Applications that are directories (LDAP / Active Directory, SSO):
    /// a person disabled there but active in another application is a
    /// finding of `departed-still-active`.
    pub directories: Vec<String>,
}

impl Default for Deployment {
    fn default() -> Self {
        Deployment {
            identity: DEFAULT_IDENTITY.to_vec(),
            critical_applications: Vec::new(),
            directories: Vec::new(),
        }
    }
}
