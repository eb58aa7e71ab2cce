//! `orphan_account`: 僵尸账号 / 无 HR 记录. An open human account that no
//! person in the HR roster owns:
//! - `no_hr_match`: no `person_id`, and no person whose email matches the
//!   account's (ignoring ASCII case; an account without email matches nobody);
//! - `unknown_person_id`: a `person_id` that is not in `people`.
//!
//! One finding per account (subject `principal`). Not applicable when the
//! people table is empty (a deployment without an HR feed would otherwise
//! see every account as an orphan).

use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{Context, Evaluation, Needed, RuleMeta, evidence, json_time, names};
use crate::engine::deployment::{DEFAULT_IDENTITY, IdentityMatch};
use crate::engine::error::Result;
use crate::engine::identity;
use crate::engine::kind::{EventReach, Kind, non_empty, statuses_active_pending};
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, AccountType, Finding, SubjectType};
use crate::store::{SqlValue, Tx};

/// `orphan_account`: accounts without an owner in HR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrphanAccount {
    /// Account statuses that are checked.
    pub statuses: Vec<AccountStatus>,
    /// Account types that are checked (service and shared accounts have no
    /// person of their own by design).
    pub account_types: Vec<AccountType>,
}

impl Default for OrphanAccount {
    fn default() -> Self {
        OrphanAccount {
            statuses: statuses_active_pending(),
            account_types: vec![AccountType::Human],
        }
    }
}

impl Kind for OrphanAccount {
    const NAME: &'static str = "orphan_account";
    const NEEDS: &'static [Needed] = &[("people", "id")];

    fn event_reach(&self) -> EventReach {
        EventReach::None
    }

    fn defaults() -> Result<Self, &'static str> {
        Ok(Self::default())
    }

    fn check(&self) -> Result<(), (String, String)> {
        non_empty("statuses", &self.statuses, "account status")?;
        non_empty("account_types", &self.account_types, "account type")?;
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
        let principals = &ctx.principals;
        let methods = &ctx.deployment.identity;
        // $1 = T, $2 = statuses, $3 = account types. A person_id is looked up
        // by key; each attribute match is one seek per account (by default
        // the email on the people_email_ci index: a NOT EXISTS under OR made
        // PostgreSQL fold every person's email instead).
        let unlinked = identity::unlinked(b, "p", methods);
        let sql = format!(
            "SELECT p.id, p.login, p.status, p.email, p.person_id, p.employee_number, p.created_at
               FROM {principals} p
               {join}
              WHERE {statuses} AND {types}
                AND (p.created_at IS NULL OR p.created_at <= $1)
                AND {condition}
              ORDER BY {order}",
            join = unlinked.join,
            condition = unlinked.condition,
            order = b.sorted_by("p.id"),
            statuses = b.in_short_list("p.status", 2, p.statuses.len()),
            types = b.in_short_list("p.account_type", 3, p.account_types.len()),
        );
        let by_id = methods.contains(&IdentityMatch::PersonId);
        let tried: Vec<serde_json::Value> = methods.iter().map(|m| m.as_str().into()).collect();
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::TextList(names(&p.statuses, AccountStatus::as_str)),
            SqlValue::TextList(names(&p.account_types, AccountType::as_str)),
        ];
        let mut rows = tx.fetch(&sql, &params);
        while let Some(row) = rows.next().await {
            let row = row?;
            let login = row.req_text("login")?;
            let person_id = row.text("person_id")?;
            let email = row.text("email")?;
            let employee_number = row.text("employee_number")?;
            let (reason, title) = match (&person_id, &email) {
                (Some(pid), _) if by_id => (
                    "unknown_person_id",
                    format!("{login}: its person_id {pid} is not in the HR roster"),
                ),
                (None, Some(mail)) if methods[..] == DEFAULT_IDENTITY => (
                    "no_hr_match",
                    format!("{login}: no person_id, and no HR record has the email {mail}"),
                ),
                (None, None) if methods[..] == DEFAULT_IDENTITY => (
                    "no_hr_match",
                    format!("{login}: no person_id and no email to match an HR record"),
                ),
                _ => (
                    "no_hr_match",
                    format!(
                        "{login}: no HR record matches it by {}",
                        methods
                            .iter()
                            .map(|m| m.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            };
            let mut ev = evidence();
            ev.insert("login".into(), login.clone().into());
            ev.insert("status".into(), row.req_text("status")?.into());
            ev.insert("reason".into(), reason.into());
            ev.insert("person_id".into(), person_id.into());
            ev.insert("email".into(), email.into());
            if methods.contains(&IdentityMatch::EmployeeNumber) {
                ev.insert("employee_number".into(), employee_number.into());
            }
            ev.insert("tried".into(), tried.clone().into());
            ev.insert("created_at".into(), json_time(row.time("created_at")?));
            sink.push(Finding {
                application: None,
                rule: rule.id.to_string(),
                severity: rule.severity,
                subject_type: SubjectType::Principal,
                subject_id: row.req_text("id")?,
                title,
                evidence: ev,
            })
            .await?;
        }
        Ok(Evaluation::default())
    }
}
