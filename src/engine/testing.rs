//! Rule tests: YAML files beside the rules (`<rule>.test.yaml`) with fixture
//! rows for the canonical tables and the findings expected.
//!
//! ```yaml
//! rule: idle-accounts
//! cases:
//!   - name: idle one second past 90 days
//!     as_of: 2026-11-01T00:00:00Z
//!     params: {max_event_age: null}      # optional, merged like an override
//!     fixtures:
//!       principals:
//!         - {id: p1, login: alice, status: active, last_login_at: 2026-08-02T23:59:59Z}
//!     expect:
//!       - {subject_id: p1}               # subject_type defaults to the rule's usual one
//!     clean: [p2]                        # subjects that must not be findings
//! ```
//!
//! A case may set what the configuration tells the rule of the deployment
//! (otherwise the defaults apply):
//!
//! ```yaml
//!     deployment: {identity: [employee_number, email], directories: [corp-ldap]}
//! ```
//!
//! A case passes when the findings are exactly the expected ones (by subject
//! type and id, and severity where given) and none of the clean ones. Fixture
//! cells are parsed by the same code as CSV import.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::load::{RuleSet, with_params};
use super::rule::Rule;
use crate::collect::tables;
use crate::model::{Severity, SubjectType, parse_instant};
use crate::store::{SqlValue, Store};
use crate::yaml::{self, LocatedError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    pub rule: Spanned<String>,
    pub cases: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    pub as_of: Spanned<String>,
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub fixtures: BTreeMap<String, Vec<BTreeMap<String, Spanned<serde_json::Value>>>>,
    #[serde(default)]
    pub expect: Vec<Expected>,
    #[serde(default)]
    pub clean: Vec<String>,
    /// What the configuration tells the rule (`identity.match`, the
    /// directory applications); the defaults without it.
    #[serde(default)]
    pub deployment: Option<TestDeployment>,
    /// The case expects the rule to be reported as not applicable, with a
    /// reason that contains this text (and no finding).
    pub not_applicable: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestDeployment {
    /// The identity order (`identity: {match: …}` of the configuration).
    #[serde(default)]
    pub identity: Option<Vec<super::IdentityMatch>>,
    /// Applications that are directories.
    #[serde(default)]
    pub directories: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub subject_id: String,
    pub subject_type: Option<SubjectType>,
    pub severity: Option<Severity>,
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub file: PathBuf,
    pub rule: String,
    pub case: String,
    /// Empty when the case passed.
    pub failures: Vec<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Reads a test file.
pub fn parse(file: &Path, text: &str) -> Result<TestFile, LocatedError> {
    yaml::parse(file, text)
}

/// The subject type a rule's findings usually have, for `expect` entries
/// that leave it out.
fn default_subject(rule: &Rule) -> SubjectType {
    rule.kind.subject_type()
}

/// Runs every case of a test file against `store`, which each case empties
/// and fills with its fixtures first: give it a scratch database.
pub async fn run_file(
    store: &Store,
    rules: &RuleSet,
    file: &Path,
    text: &str,
) -> Result<Vec<CaseResult>, LocatedError> {
    let parsed = parse(file, text)?;
    let rule_id = parsed.rule.value.clone();
    let Some(rule) = rules.get(&rule_id) else {
        return Err(LocatedError::at_value(
            file,
            &parsed.rule,
            "rule",
            format!("no rule `{rule_id}` is loaded"),
        ));
    };
    let mut results = Vec::new();
    for (i, case) in parsed.cases.iter().enumerate() {
        let failures = match run_case(store, rule, case).await {
            Ok(failures) => failures,
            Err(CaseError::Located(e)) => {
                return Err(LocatedError {
                    file: file.to_path_buf(),
                    ..e
                });
            }
            Err(CaseError::Other(message)) => vec![message],
        };
        results.push(CaseResult {
            file: file.to_path_buf(),
            rule: rule_id.clone(),
            case: if case.name.is_empty() {
                format!("case {}", i + 1)
            } else {
                case.name.clone()
            },
            failures,
        });
    }
    Ok(results)
}

enum CaseError {
    /// A fixture problem, located in the file (the file name is filled in by the caller).
    Located(LocatedError),
    Other(String),
}

async fn run_case(store: &Store, rule: &Rule, case: &TestCase) -> Result<Vec<String>, CaseError> {
    let as_of: DateTime<Utc> = parse_instant(&case.as_of.value).map_err(|message| {
        CaseError::Located(LocatedError::at_value(
            &PathBuf::new(),
            &case.as_of,
            "as_of",
            message,
        ))
    })?;
    let rule = if case.params.is_empty() {
        rule.clone()
    } else {
        with_params(rule, &case.params).map_err(|e| CaseError::Other(format!("params: {e}")))?
    };
    load_fixtures(store, &case.fixtures).await?;
    let mut deployment = super::Deployment::default();
    if let Some(d) = &case.deployment {
        if let Some(identity) = &d.identity {
            deployment.identity = identity.clone();
        }
        deployment.directories = d.directories.clone();
    }
    let summary = super::run_recorded_in(store, store, &[&rule], as_of, None, &deployment)
        .await
        .map_err(|e| CaseError::Other(format!("the rule failed: {e}")))?;

    let mut failures = Vec::new();
    for outcome in &summary.outcomes {
        use crate::store::runs::OutcomeStatus;
        let reason = outcome.reason.as_deref().unwrap_or("");
        match (&case.not_applicable, outcome.status) {
            (Some(want), OutcomeStatus::NotApplicable) if !reason.contains(want.as_str()) => {
                failures.push(format!(
                    "expected not applicable because of `{want}`, but the reason was: {reason}"
                ))
            }
            (Some(_), OutcomeStatus::NotApplicable) => {}
            (Some(want), status) => failures.push(format!(
                "expected not applicable because of `{want}`, but the rule was {}{}",
                status.as_str(),
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {reason}")
                }
            )),
            (None, OutcomeStatus::Ok) => {}
            (None, status) => failures.push(format!("rule was {}: {reason}", status.as_str())),
        }
    }
    let mut found = Vec::new();
    store
        .for_each_finding(summary.run_id, |f| {
            found.push(f);
            Ok(())
        })
        .await
        .map_err(|e| CaseError::Other(e.to_string()))?;

    let fallback = default_subject(&rule);
    for want in &case.expect {
        let subject_type = want.subject_type.unwrap_or(fallback);
        match found
            .iter()
            .find(|f| f.subject_id == want.subject_id && f.subject_type == subject_type)
        {
            None => failures.push(format!(
                "expected a finding for {subject_type} {}, got none",
                want.subject_id
            )),
            Some(f) => {
                if let Some(sev) = want.severity
                    && f.severity != sev
                {
                    failures.push(format!(
                        "{subject_type} {}: expected severity {sev}, got {}",
                        want.subject_id, f.severity
                    ));
                }
            }
        }
    }
    for f in &found {
        let expected = case.expect.iter().any(|w| {
            w.subject_id == f.subject_id && w.subject_type.unwrap_or(fallback) == f.subject_type
        });
        if case.clean.contains(&f.subject_id) {
            failures.push(format!(
                "{} {} is listed as clean but was found: {}",
                f.subject_type, f.subject_id, f.title
            ));
        } else if !expected {
            failures.push(format!(
                "unexpected finding for {} {}: {}",
                f.subject_type, f.subject_id, f.title
            ));
        }
    }
    Ok(failures)
}

/// Empties the canonical tables and inserts the fixture rows, parsed by the
/// same column specs as CSV import.
async fn load_fixtures(
    store: &Store,
    fixtures: &BTreeMap<String, Vec<BTreeMap<String, Spanned<serde_json::Value>>>>,
) -> Result<(), CaseError> {
    let located = |line: u64, column: u64, field: String, message: String| {
        CaseError::Located(LocatedError {
            file: PathBuf::new(),
            line: line as usize,
            column: column as usize,
            field,
            message,
        })
    };
    let mut tx = store
        .begin()
        .await
        .map_err(|e| CaseError::Other(e.to_string()))?;
    for table in tables::FIXTURES.iter().rev() {
        tx.execute(&format!("DELETE FROM {}", table.name), &[])
            .await
            .map_err(|e| CaseError::Other(e.to_string()))?;
    }
    for (name, rows) in fixtures {
        let Some(table) = tables::FIXTURES.iter().copied().find(|t| t.name == name) else {
            let names: Vec<&str> = tables::FIXTURES.iter().map(|t| t.name).collect();
            return Err(CaseError::Other(format!(
                "fixtures: unknown table `{name}`; tables are {}",
                names.join(", ")
            )));
        };
        for (i, row) in rows.iter().enumerate() {
            let header: Vec<&str> = row.keys().map(String::as_str).collect();
            let first = row.values().next();
            let (line, column) =
                first.map_or((0, 0), |v| (v.referenced.line(), v.referenced.column()));
            let columns = table.map_header(&header).map_err(|errors| {
                let messages: Vec<String> = errors.into_iter().map(|e| e.message).collect();
                located(
                    line,
                    column,
                    format!("fixtures.{name}[{i}]"),
                    messages.join("; "),
                )
            })?;
            let mut values: Vec<SqlValue> = Vec::with_capacity(header.len());
            for (spec, cell) in columns.columns.iter().zip(row.values()) {
                let text = match &cell.value {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let value = spec.parse(&text).map_err(|e| {
                    located(
                        cell.referenced.line(),
                        cell.referenced.column(),
                        format!("fixtures.{name}[{i}].{}", spec.name),
                        e.message,
                    )
                })?;
                values.push(value);
            }
            tx.execute(
                &table.upsert_sql(store.backend(), &columns.columns, 1),
                &values,
            )
            .await
            .map_err(|e| CaseError::Other(format!("fixtures.{name}[{i}]: {e}")))?;
        }
    }
    tx.commit()
        .await
        .map_err(|e| CaseError::Other(e.to_string()))
}
