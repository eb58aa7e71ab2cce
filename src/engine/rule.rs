//! What every rule file says, whatever its kind:
//!
//! ```yaml
//! id: idle-accounts
//! title: Idle accounts
//! description: …
//! severity: medium
//! controls: [{framework: PCI DSS 4.0, control: "8.2.6"}]
//! remediation: Disable the account, or record why it must stay.
//! references: ["PCI DSS 4.0 8.2.6"]
//! kind: idle_accounts
//! params: {max_idle: 90d}
//! ```
//!
//! `params` belong to the kind: each kind's file under `kinds/` declares
//! them, with the documented default of every field.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::kinds::RuleKind;
use crate::model::Severity;

/// A control a rule evidences, e.g. PCI DSS 4.0 8.2.6.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub framework: String,
    pub control: String,
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.framework, self.control)
    }
}

/// Which findings of a rule are kept: `scope: {applications: [crm, erp]}`
/// keeps those about accounts, roles and grants of these applications
/// (findings about a person, across applications, always stay).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default)]
    pub applications: Vec<String>,
}

impl Scope {
    pub fn is_everything(&self) -> bool {
        self.applications.is_empty()
    }

    /// The first application name that is not one, with why.
    pub fn check(&self) -> Result<(), String> {
        self.applications
            .iter()
            .try_for_each(|a| crate::model::application::check_name(a))
    }
}

/// A loaded rule: what the engine runs and reports describe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub controls: Vec<Control>,
    /// What to do about a finding: one short paragraph for the people who fix it.
    pub remediation: String,
    /// Where the risk and the fix are described (standards, vendor docs).
    pub references: Vec<String>,
    pub enabled: bool,
    /// The applications the rule reports on (all when empty).
    #[serde(skip_serializing_if = "Scope::is_everything")]
    pub scope: Scope,
    #[serde(flatten)]
    pub kind: RuleKind,
    /// The file it came from, and the override files applied to it.
    #[serde(skip)]
    pub sources: Vec<std::path::PathBuf>,
}
