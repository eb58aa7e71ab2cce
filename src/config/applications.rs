//! `applications:` in the configuration file: what the deployment knows of
//! each application it audits (its owner, how critical it is, whether it is
//! the directory in front of the others), and what of that every rule of a
//! run is told (`engine::Deployment`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::collect::source::{SourceConfig, SourceKind};
use crate::engine::Deployment;

/// One application, keyed by its name (the name sources and imports give:
/// a source's `application:`, else the source's own name).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationConfig {
    #[serde(default)]
    pub description: Option<String>,
    /// The person accountable for it: a `people.id` or an email.
    #[serde(default)]
    pub owner: Option<String>,
    /// How much its access matters; `critical` raises each of its findings
    /// one severity level.
    #[serde(default)]
    pub criticality: Criticality,
    /// A directory (LDAP / Active Directory, SSO) in front of the other
    /// applications: a person disabled here but active elsewhere is a
    /// finding of `departed-still-active`. Sources of `kind: ldap` are
    /// directories without saying so.
    #[serde(default)]
    pub directory: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criticality {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Criticality {
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Low => "low",
            Criticality::Medium => "medium",
            Criticality::High => "high",
            Criticality::Critical => "critical",
        }
    }
}

/// The application a source writes into.
pub fn application_of_source<'a>(name: &'a str, source: &'a SourceConfig) -> &'a str {
    source.application.as_deref().unwrap_or(name)
}

/// What every rule of a run is told of the applications: which are
/// critical, which are directories.
pub fn deployment(
    applications: &BTreeMap<String, ApplicationConfig>,
    sources: &BTreeMap<String, SourceConfig>,
) -> Deployment {
    let mut directories: Vec<String> = applications
        .iter()
        .filter(|(_, a)| a.directory)
        .map(|(name, _)| name.clone())
        .collect();
    for (name, source) in sources {
        let application = application_of_source(name, source);
        if source.kind == SourceKind::Ldap && !directories.iter().any(|d| d == application) {
            directories.push(application.to_string());
        }
    }
    directories.sort();
    Deployment {
        critical_applications: applications
            .iter()
            .filter(|(_, a)| a.criticality == Criticality::Critical)
            .map(|(name, _)| name.clone())
            .collect(),
        directories,
        ..Deployment::default()
    }
}

/// Semantic checks: names, owners given as something.
pub(super) fn check(applications: &BTreeMap<String, ApplicationConfig>) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (name, application) in applications {
        if let Err(e) = crate::model::application::check_name(name) {
            problems.push((format!("applications.{name}"), e));
        }
        if application
            .owner
            .as_deref()
            .is_some_and(|o| o.trim().is_empty())
        {
            problems.push((
                format!("applications.{name}.owner"),
                "an owner is a people.id or an email, not empty".into(),
            ));
        }
    }
    problems
}
