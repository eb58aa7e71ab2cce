//! `identity:` of the configuration: how accounts are linked to people
//! (README, "Identities"), and what the engine's `Deployment` is built from.
//!
//! ```yaml
//! identity:
//!   match: [person_id, employee_number, email, login_is_mail_local_part]
//! ```
//!
//! The methods are tried in the order given; the first that links an
//! account to a person wins. Without `identity:`, `[person_id, email]`.

use serde::Deserialize;

use crate::engine::IdentityMatch;
use crate::engine::deployment::DEFAULT_IDENTITY;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The methods, in order.
    #[serde(rename = "match", default = "default_match")]
    pub methods: Vec<IdentityMatch>,
}

fn default_match() -> Vec<IdentityMatch> {
    DEFAULT_IDENTITY.to_vec()
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            methods: default_match(),
        }
    }
}

impl IdentityConfig {
    /// (field, message) for each problem: an empty order, a method twice.
    pub(super) fn check(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.methods.is_empty() {
            problems.push((
                "identity.match".to_string(),
                "list at least one method: person_id, email, employee_number, login_is_mail_local_part".to_string(),
            ));
        }
        for (i, m) in self.methods.iter().enumerate() {
            if self.methods[..i].contains(m) {
                problems.push((
                    format!("identity.match[{i}]"),
                    format!("`{}` is listed twice", m.as_str()),
                ));
            }
        }
        problems
    }

    /// The order as `config check` prints it.
    pub fn describe(&self) -> String {
        self.methods
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
