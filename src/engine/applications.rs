//! What the configured applications change in a rule's findings, once the
//! rule has written them: a rule scoped to applications (`scope:
//! {applications: [...]}`) keeps only the findings about their accounts,
//! roles and grants, and a finding in a critical application is raised one
//! severity level. Done after the evaluation, inside the run's snapshot (the
//! applications are read from the scan, the findings changed where they are
//! recorded), and only when a scope or a critical application exists: a
//! deployment without them pays nothing.

use std::collections::HashMap;

use super::deployment::Deployment;
use super::error::Result;
use super::rule::Rule;
use crate::model::{Severity, SubjectType};
use crate::store::{SqlValue, Store, Tx};

/// Findings looked up per statement.
const CHUNK: usize = 500;

/// What settling a rule's findings left: how many, and the most severe.
pub(super) struct Settled {
    pub count: u64,
    pub max_severity: Option<Severity>,
}

/// Applies the rule's scope and the critical applications to the findings
/// `rule` wrote into run `run_id`; None when neither applies.
pub(super) async fn settle(
    scan: &mut Tx,
    record: &Store,
    run_id: i64,
    rule: &Rule,
    deployment: &Deployment,
) -> Result<Option<Settled>> {
    let scope = &rule.scope.applications;
    let critical = &deployment.critical_applications;
    if scope.is_empty() && critical.is_empty() {
        return Ok(None);
    }
    let rows = record
        .fetch_all(
            "SELECT subject_type, subject_id, severity FROM findings WHERE run_id = $1 AND rule = $2",
            &[SqlValue::int(run_id), SqlValue::text(&rule.id)],
        )
        .await?;
    let mut findings = Vec::with_capacity(rows.len());
    for r in &rows {
        let subject_type: SubjectType = contract_value(r, "subject_type")?;
        let severity: Severity = contract_value(r, "severity")?;
        findings.push((subject_type, r.req_text("subject_id")?, severity));
    }
    let applications = applications_of(scan, &findings).await?;
    let mut settled = Settled {
        count: 0,
        max_severity: None,
    };
    // What changes, by subject type: ids out of scope; ids raised to a severity.
    let mut dropped: HashMap<SubjectType, Vec<String>> = HashMap::new();
    let mut raised: HashMap<(SubjectType, Severity), Vec<String>> = HashMap::new();
    for (subject_type, subject_id, severity) in findings {
        let application = applications.get(&(subject_type, subject_id.clone()));
        // A finding whose application is unknown (about a person, across
        // applications) stays: a scope narrows, it never hides.
        if let Some(app) = application
            && !scope.is_empty()
            && !scope.contains(app)
        {
            dropped.entry(subject_type).or_default().push(subject_id);
            continue;
        }
        let mut severity = severity;
        if application.is_some_and(|a| critical.contains(a)) && severity.raised() != severity {
            severity = severity.raised();
            raised
                .entry((subject_type, severity))
                .or_default()
                .push(subject_id);
        }
        settled.count += 1;
        settled.max_severity = settled.max_severity.max(Some(severity));
    }
    let b = record.backend();
    let delete = format!(
        "DELETE FROM findings WHERE run_id = $1 AND rule = $2 AND subject_type = $3 AND {}",
        b.in_list("subject_id", 4)
    );
    for (subject_type, ids) in &dropped {
        for chunk in ids.chunks(CHUNK) {
            let params = [
                SqlValue::int(run_id),
                SqlValue::text(&rule.id),
                SqlValue::text(subject_type.as_str()),
                SqlValue::list(chunk),
            ];
            record.execute(&delete, &params).await?;
        }
    }
    let update = format!(
        "UPDATE findings SET severity = $5 WHERE run_id = $1 AND rule = $2 AND subject_type = $3 AND {}",
        b.in_list("subject_id", 4)
    );
    for ((subject_type, severity), ids) in &raised {
        for chunk in ids.chunks(CHUNK) {
            let params = [
                SqlValue::int(run_id),
                SqlValue::text(&rule.id),
                SqlValue::text(subject_type.as_str()),
                SqlValue::list(chunk),
                SqlValue::text(severity.as_str()),
            ];
            record.execute(&update, &params).await?;
        }
    }
    Ok(Some(settled))
}

/// A column holding one of the contract's values (a severity, a subject type).
fn contract_value<T>(r: &crate::store::DbRow, column: &str) -> Result<T>
where
    T: std::str::FromStr<Err = crate::model::UnknownValue>,
{
    Ok(r.req_text(column)?
        .parse()
        .map_err(
            |e: crate::model::UnknownValue| crate::store::StoreError::Decode {
                column: column.into(),
                message: e.to_string(),
            },
        )?)
}

/// The application of each account, role and grant among `findings`, read
/// in the run's snapshot (accounts as the current table has them: an
/// account's application never changes, its id is namespaced by it).
async fn applications_of(
    scan: &mut Tx,
    findings: &[(SubjectType, String, Severity)],
) -> Result<HashMap<(SubjectType, String), String>> {
    let b = scan.backend();
    let mut out = HashMap::new();
    let lookups = [
        (
            SubjectType::Principal,
            format!(
                "SELECT id, application FROM principals WHERE {}",
                b.in_list("id", 1)
            ),
        ),
        (
            SubjectType::Role,
            format!(
                "SELECT id, application FROM roles WHERE {}",
                b.in_list("id", 1)
            ),
        ),
        (
            SubjectType::Grant,
            format!(
                "SELECT g.id, p.application FROM grants g JOIN principals p ON p.id = g.principal_id WHERE {}",
                b.in_list("g.id", 1)
            ),
        ),
    ];
    for (subject_type, sql) in &lookups {
        let ids: Vec<&String> = findings
            .iter()
            .filter(|(t, _, _)| t == subject_type)
            .map(|(_, id, _)| id)
            .collect();
        for chunk in ids.chunks(CHUNK) {
            for r in scan.fetch_all(sql, &[SqlValue::list(chunk)]).await? {
                out.insert(
                    (*subject_type, r.req_text("id")?),
                    r.req_text("application")?,
                );
            }
        }
    }
    Ok(out)
}
