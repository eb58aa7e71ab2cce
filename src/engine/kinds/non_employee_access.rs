//! `non_employee_access`: access of people who are not employees (the seed:
//! 外包人员开正式账号, 实习生的删除权限). A live grant on an account typed
//! `external` (`account_types`), or whose person is a contractor, intern or
//! vendor (`worker_types`, from `people.worker_type`; NULL is an employee),
//! that
//! - has no end (`no_end`: no `expires_at`);
//! - ends more than `max_standing` after `granted_at`
//!   (`longer_than_max_standing`; exactly `max_standing` is not);
//! - or gives sensitive access (`sensitive`: a privileged role, a permission
//!   matching `sensitive_permissions`, or `data_scope: all`).
//!
//! One finding per account (subject `principal`: the issue's "accounts …
//! that hold access"), listing its grants with their reasons and who makes
//! the holder a non-employee; high when any of the access is sensitive. Not applicable
//! when no account has one of `account_types` and no person fills
//! `worker_type`: nothing then tells a non-employee from an employee.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{
    Context, Evaluation, GRANT_LIVE, RuleMeta, evidence, json_time, names,
};
use crate::engine::error::Result;
use crate::engine::identity::{may_be_person_in, person_of};
use crate::engine::roles::RoleInfo;
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, AccountType, Finding, Severity, Span, SubjectType, WorkerType};
use crate::store::{SqlValue, StoreError, Tx, from_micros};

use crate::engine::kind::{
    EventReach, Kind, invalid, non_empty, permission_patterns, statuses_usable,
};

/// One non-employee's account and its grants that are findings.
struct Holder {
    principal_id: String,
    login: String,
    person_id: Option<String>,
    account_type: String,
    worker_type: Option<String>,
    /// What makes the holder a non-employee.
    who: Vec<String>,
    grants: Vec<serde_json::Value>,
    reasons: Vec<&'static str>,
    sensitive: bool,
}

/// A live grant as the query's JSON carries it: id, role, and its
/// instants in microseconds.
struct LiveGrant {
    id: String,
    role_id: String,
    granted_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

/// The grants column: `[[id, role_id, granted_us, expires_us], …]`.
fn live_grants(text: &str) -> Result<Vec<LiveGrant>> {
    let bad = |message: String| StoreError::Decode {
        column: "grants".into(),
        message,
    };
    let rows: Vec<(String, String, Option<i64>, Option<i64>)> =
        serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let instant = |us: Option<i64>| us.map(|us| from_micros("grants", us)).transpose();
    rows.into_iter()
        .map(|(id, role_id, granted, expires)| {
            Ok(LiveGrant {
                id,
                role_id,
                granted_at: instant(granted)?,
                expires_at: instant(expires)?,
            })
        })
        .collect()
}

impl Holder {
    async fn emit(self, p: &NonEmployeeAccess, rule: &RuleMeta<'_>, sink: &mut Sink) -> Result<()> {
        let n = self.grants.len();
        let mut ev = evidence();
        ev.insert("login".into(), self.login.clone().into());
        ev.insert("person_id".into(), self.person_id.into());
        ev.insert("account_type".into(), self.account_type.into());
        ev.insert("worker_type".into(), self.worker_type.into());
        ev.insert("who".into(), self.who.clone().into());
        ev.insert("reasons".into(), self.reasons.clone().into());
        ev.insert("grants".into(), self.grants.into());
        ev.insert("max_standing".into(), p.max_standing.to_string().into());
        let severity = if self.sensitive && p.escalate_sensitive {
            rule.severity.max(Severity::High)
        } else {
            rule.severity
        };
        sink.push(Finding {
            application: None,
            rule: rule.id.to_string(),
            severity,
            subject_type: SubjectType::Principal,
            subject_id: self.principal_id,
            title: format!(
                "{} ({}) holds {n} grant(s): {}",
                self.login,
                self.who.join(", "),
                self.reasons.join(", ").replace('_', " ")
            ),
            evidence: ev,
        })
        .await
    }
}

/// `non_employee_access`: standing or sensitive access of non-employees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NonEmployeeAccess {
    /// A grant that ends more than this after `granted_at` is a finding.
    pub max_standing: Span,
    /// Permissions that make a grant sensitive: patterns, case-insensitive
    /// (`*` any run of characters, `?` one); privileged roles and
    /// `data_scope: all` are sensitive too.
    pub sensitive_permissions: Vec<String>,
    /// Account types whose holders are not employees.
    pub account_types: Vec<AccountType>,
    /// Kinds of work (`people.worker_type`) whose people are not employees.
    pub worker_types: Vec<WorkerType>,
    /// Raise to high when the access is sensitive.
    pub escalate_sensitive: bool,
    /// Account statuses that are checked.
    pub statuses: Vec<AccountStatus>,
}

impl Default for NonEmployeeAccess {
    fn default() -> Self {
        NonEmployeeAccess {
            max_standing: Span::days(90),
            sensitive_permissions: crate::engine::roles::default_sensitive_permissions(),
            account_types: vec![AccountType::External],
            worker_types: vec![
                WorkerType::Contractor,
                WorkerType::Intern,
                WorkerType::Vendor,
            ],
            escalate_sensitive: true,
            statuses: statuses_usable(),
        }
    }
}

impl Kind for NonEmployeeAccess {
    const NAME: &'static str = "non_employee_access";

    /// One finding per grant.
    fn event_reach(&self) -> EventReach {
        EventReach::None
    }

    fn defaults() -> Result<Self, &'static str> {
        Ok(Self::default())
    }

    fn check(&self) -> Result<(), (String, String)> {
        if self.account_types.is_empty() && self.worker_types.is_empty() {
            return invalid(
                "worker_types",
                "account_types and worker_types cannot both be empty: nobody would be checked",
            );
        }
        if self.worker_types.contains(&WorkerType::Employee) {
            return invalid("worker_types", "employees are not non-employees");
        }
        non_empty("statuses", &self.statuses, "account status")?;
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
        let b = ctx.backend;
        let account_types = names(&p.account_types, AccountType::as_str);
        let worker_types = names(&p.worker_types, WorkerType::as_str);
        // Without a typed account or a filled worker_type, every holder
        // looks like an employee: say so rather than pass clean.
        let principals = &ctx.principals;
        let marked = tx
            .fetch_optional(
                &format!(
                    "SELECT 1 AS marked WHERE EXISTS (SELECT 1 FROM {principals} p WHERE {types})
                        OR EXISTS (SELECT 1 FROM people h WHERE h.worker_type IS NOT NULL)",
                    types = b.in_short_list("p.account_type", 1, account_types.len()),
                ),
                &[SqlValue::TextList(account_types.clone())],
            )
            .await?;
        if marked.is_none() {
            let typed = if account_types.is_empty() {
                "no account type is watched".to_string()
            } else {
                format!("no account is typed {}", account_types.join(" or "))
            };
            return Ok(Evaluation::not_applicable(format!(
                "{typed} and no row of people fills worker_type: nothing tells a non-employee from an employee"
            )));
        }

        let roles = RoleInfo::load_all(tx, &p.sensitive_permissions).await?;
        // $1 = T, $2 = statuses, $3 = account types, $4 = worker types.
        // Starts from the accounts that may be non-employees (typed, or
        // whose attributes are those of a non-employee person), not from
        // every account with its grants: at 1M accounts 0.9 s against
        // 1.85 s on SQLite, 3.0 s against 4.0-4.3 s on PostgreSQL.
        // One row per account, its live grants aggregated as JSON: with a
        // row per grant, `ORDER BY` had to keep an account's grants
        // together, and PostgreSQL sorted all of them before the first row
        // left (at 1M, 2.1 s in which nothing could be recorded).
        let identity = &ctx.deployment.identity;
        let grants = b.json_rows_agg(&[
            "g.id",
            "g.role_id",
            &b.micros("g.granted_at"),
            &b.micros("g.expires_at"),
        ]);
        let sql = format!(
            "SELECT p.id AS principal_id, p.login, p.account_type, h.id AS person_id, h.worker_type,
                    (SELECT {grants} FROM grants g WHERE g.principal_id = p.id AND {GRANT_LIVE}) AS grants
               FROM {principals} p
               LEFT JOIN people h ON h.id = {person}
              WHERE ({types} OR {candidates})
                AND {statuses} AND (p.created_at IS NULL OR p.created_at <= $1)
                AND ({types} OR {workers})",
            person = person_of(b, "p", identity),
            candidates = may_be_person_in(
                b,
                "p",
                identity,
                &b.in_short_list("w.worker_type", 4, worker_types.len())
            ),
            statuses = b.in_short_list("p.status", 2, p.statuses.len()),
            types = b.in_short_list("p.account_type", 3, account_types.len()),
            workers = b.in_short_list("h.worker_type", 4, worker_types.len()),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::TextList(names(&p.statuses, AccountStatus::as_str)),
            SqlValue::TextList(account_types.clone()),
            SqlValue::TextList(worker_types.clone()),
        ];
        let max_standing = p.max_standing.chrono();
        let mut rows = tx.fetch(&sql, &params);
        while let Some(row) = rows.next().await {
            let row = row?;
            let Some(live) = row.text("grants")? else {
                continue;
            };
            let mut live = live_grants(&live)?;
            // Grants in the order of their ids, the same on both backends.
            live.sort_by(|a, b| a.id.cmp(&b.id));
            let account_type = row.req_text("account_type")?;
            let worker_type = row.text("worker_type")?;
            let mut holder = Holder {
                principal_id: row.req_text("principal_id")?,
                login: row.req_text("login")?,
                person_id: row.text("person_id")?,
                who: Vec::new(),
                grants: Vec::new(),
                reasons: Vec::new(),
                sensitive: false,
                account_type,
                worker_type,
            };
            for g in live {
                let role = roles.get(&g.role_id);
                let mut reasons: Vec<&'static str> = Vec::new();
                match (g.granted_at, g.expires_at) {
                    (_, None) => reasons.push("no_end"),
                    (Some(granted), Some(expires)) if expires - granted > max_standing => {
                        reasons.push("longer_than_max_standing")
                    }
                    _ => {}
                }
                let sensitive = role.filter(|r| r.sensitive());
                if sensitive.is_some() {
                    reasons.push("sensitive");
                }
                if reasons.is_empty() {
                    continue;
                }
                let mut grant = evidence();
                grant.insert("grant".into(), g.id.into());
                grant.insert(
                    "role".into(),
                    role.map_or_else(|| g.role_id.clone(), |r| r.name.clone())
                        .into(),
                );
                grant.insert("role_id".into(), g.role_id.into());
                grant.insert("reasons".into(), reasons.clone().into());
                grant.insert("granted_at".into(), json_time(g.granted_at));
                grant.insert("expires_at".into(), json_time(g.expires_at));
                if let Some(r) = sensitive {
                    grant.insert("sensitive_access".into(), r.sensitive_access().into());
                    holder.sensitive = true;
                }
                holder.grants.push(serde_json::Value::Object(grant));
                for r in reasons {
                    if !holder.reasons.contains(&r) {
                        holder.reasons.push(r);
                    }
                }
            }
            if holder.grants.is_empty() {
                continue;
            }
            if account_types.contains(&holder.account_type) {
                holder
                    .who
                    .push(format!("account_type {}", holder.account_type));
            }
            if let Some(w) = holder
                .worker_type
                .as_ref()
                .filter(|w| worker_types.contains(w))
            {
                holder.who.push(format!("worker_type {w}"));
            }
            holder.emit(p, rule, sink).await?;
        }
        Ok(Evaluation::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_grants_read_the_aggregated_json() {
        let grants = live_grants(r#"[["g2","r1",1761955200000000,null],["g1","r2",null,null]]"#)
            .expect("valid grants");
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[0].id, "g2");
        assert_eq!(grants[0].role_id, "r1");
        assert_eq!(
            grants[0].granted_at.map(|t| t.to_rfc3339()),
            Some("2025-11-01T00:00:00+00:00".to_string())
        );
        assert!(grants[0].expires_at.is_none() && grants[1].granted_at.is_none());
    }

    #[test]
    fn malformed_grants_name_the_column() {
        for text in [r#"[["g1"]]"#, r#"[["g1","r1",9223372036854775807,null]]"#] {
            let err = match live_grants(text) {
                Ok(_) => panic!("{text} was accepted"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains("grants"), "{err}");
        }
    }
}
