//! `transfer_kept_access`: access kept after a transfer (调岗后权限未调整).
//! A person whose `department_since` is more than `grace` before T still
//! holds, through any of their accounts, a live grant made before
//! `department_since` that is rare in the new department: held by fewer than
//! `peer_max_share` of the department's other accounts, in departments of at
//! least `peer_min_group` accounts.
//!
//! The new department is `people.department`; its accounts are the accounts
//! (of `statuses`, existing at T) linked to people of that department,
//! ignoring case. The old department is known where `principal_history` (the
//! account's last version from before the transfer) or the account's own
//! `department` still shows another one. Grants without `granted_at` are not
//! judged: nothing says they predate the transfer. One finding per grant.

use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{
    Context, Evaluation, GRANT_LIVE, Needed, RuleMeta, days_between, evidence, json_time, names,
};
use crate::engine::error::Result;
use crate::engine::identity::person_of;
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, Finding, Span, SubjectType};
use crate::store::{SqlValue, Tx};

use crate::engine::kind::{EventReach, Kind, invalid, non_empty, statuses_usable};

/// `transfer_kept_access`: grants from before a transfer that the new
/// department does not hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferKeptAccess {
    /// How long after `department_since` old access may stay.
    pub grace: Span,
    /// Peer check: only in departments of at least this many accounts.
    pub peer_min_group: u32,
    /// Peer check: a grant is rare when fewer than this share of the
    /// department's other accounts hold the role.
    pub peer_max_share: f64,
    /// Account statuses that are checked (and counted as the department's).
    pub statuses: Vec<AccountStatus>,
}

impl Default for TransferKeptAccess {
    fn default() -> Self {
        TransferKeptAccess {
            grace: Span::days(30),
            peer_min_group: 5,
            peer_max_share: 0.1,
            statuses: statuses_usable(),
        }
    }
}

impl Kind for TransferKeptAccess {
    const NAME: &'static str = "transfer_kept_access";
    const NEEDS: &'static [Needed] = &[("people", "department_since"), ("grants", "granted_at")];

    /// One finding per grant.
    fn event_reach(&self) -> EventReach {
        EventReach::None
    }

    fn subject_type(&self) -> SubjectType {
        SubjectType::Grant
    }

    fn defaults() -> Result<Self, &'static str> {
        Ok(Self::default())
    }

    fn check(&self) -> Result<(), (String, String)> {
        if !(0.0..=1.0).contains(&self.peer_max_share) {
            return invalid("peer_max_share", "must be a share between 0 and 1");
        }
        if self.peer_min_group < 2 {
            return invalid(
                "peer_min_group",
                "must be at least 2 (a holder and one peer)",
            );
        }
        non_empty("statuses", &self.statuses, "account status")?;
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
        // $1 = T, $2 = T - grace, $3 = statuses, $4 = peer_min_group.
        // The peer share is worked out below, from the counts.
        let principals = &ctx.principals;
        let sql = format!(
            "WITH who AS (
                SELECT p.id, p.login, p.department AS account_department, h.id AS person_id,
                       h.department, h.department_since, {dept_key} AS dept_key
                  FROM {principals} p
                  JOIN people h ON h.id = {person}
                 WHERE {statuses} AND (p.created_at IS NULL OR p.created_at <= $1)
                   AND h.department IS NOT NULL
             ),
             members AS (SELECT dept_key, COUNT(*) AS n FROM who GROUP BY dept_key),
             live AS (
                SELECT g.id, g.principal_id, g.role_id, g.granted_at
                  FROM grants g
                 WHERE {GRANT_LIVE}
             ),
             moved AS (
                SELECT l.id, l.principal_id, l.role_id, l.granted_at, w.login, w.account_department,
                       w.person_id, w.department, w.department_since, w.dept_key
                  FROM live l JOIN who w ON w.id = l.principal_id
                 WHERE w.department_since < $2 AND l.granted_at < w.department_since
             ),
             holders AS (
                SELECT w.dept_key, l.role_id, COUNT(DISTINCT l.principal_id) AS n
                  FROM live l JOIN who w ON w.id = l.principal_id
                 WHERE l.role_id IN (SELECT role_id FROM moved)
                 GROUP BY w.dept_key, l.role_id
             )
             SELECT m.id AS grant_id, m.principal_id, m.role_id, r.name AS role_name, m.granted_at,
                    m.login, m.account_department, m.person_id, m.department, m.department_since,
                    mb.n AS members, ho.n AS holders,
                    (SELECT ph.department FROM principal_history ph
                      WHERE ph.principal_id = m.principal_id AND ph.valid_from < m.department_since
                        AND ph.department IS NOT NULL
                      ORDER BY ph.valid_from DESC LIMIT 1) AS history_department
               FROM moved m
               JOIN members mb ON mb.dept_key = m.dept_key
               LEFT JOIN holders ho ON ho.dept_key = m.dept_key AND ho.role_id = m.role_id
               LEFT JOIN roles r ON r.id = m.role_id
              WHERE mb.n >= $4
              ORDER BY m.id",
            dept_key = b.fold_case("h.department"),
            person = person_of(b, "p", &ctx.deployment.identity),
            statuses = b.in_short_list("p.status", 3, p.statuses.len()),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::time(ctx.before(p.grace)),
            SqlValue::TextList(names(&p.statuses, AccountStatus::as_str)),
            SqlValue::int(i64::from(p.peer_min_group)),
        ];
        let mut rows = tx.fetch(&sql, &params);
        while let Some(row) = rows.next().await {
            let row = row?;
            let members = row.i64("members")?.unwrap_or(0);
            let holders = row.i64("holders")?.unwrap_or(0);
            if members < 2 {
                continue;
            }
            // The holder's own account is among the holders and the members.
            let peers = members - 1;
            let peers_holding = (holders - 1).max(0);
            let share = peers_holding as f64 / peers as f64;
            if share >= p.peer_max_share {
                continue;
            }
            let department = row.req_text("department")?;
            let fold = |s: &str| s.to_ascii_lowercase();
            let differs = |d: &String| fold(d) != fold(&department);
            let (old_department, old_source) = match (
                row.text("history_department")?,
                row.text("account_department")?,
            ) {
                (Some(h), _) if differs(&h) => (Some(h), Some("principal_history")),
                (_, Some(a)) if differs(&a) => (Some(a), Some("account")),
                _ => (None, None),
            };
            let login = row.req_text("login")?;
            let role_id = row.req_text("role_id")?;
            let role = row.text("role_name")?.unwrap_or_else(|| role_id.clone());
            let since = row.time("department_since")?;
            let mut ev = evidence();
            ev.insert("principal_id".into(), row.req_text("principal_id")?.into());
            ev.insert("login".into(), login.clone().into());
            ev.insert("person_id".into(), row.req_text("person_id")?.into());
            ev.insert("role_id".into(), role_id.into());
            ev.insert("role".into(), role.clone().into());
            ev.insert("new_department".into(), department.clone().into());
            ev.insert("old_department".into(), old_department.into());
            ev.insert("old_department_source".into(), old_source.into());
            ev.insert("granted_at".into(), json_time(row.time("granted_at")?));
            ev.insert("department_since".into(), json_time(since));
            ev.insert(
                "days_in_department".into(),
                since.map(|s| days_between(s, ctx.as_of)).into(),
            );
            ev.insert("peers".into(), peers.into());
            ev.insert("peers_holding".into(), peers_holding.into());
            ev.insert(
                "peer_share".into(),
                ((share * 1000.0).round() / 1000.0).into(),
            );
            sink.push(Finding {
application: None,
                rule: rule.id.to_string(),
                severity: rule.severity,
                subject_type: SubjectType::Grant,
                subject_id: row.req_text("grant_id")?,
                title: format!(
                    "{login} keeps {role} from before joining {department} ({peers_holding} of {peers} there hold it)"
                ),
                evidence: ev,
            })
            .await?;
        }
        Ok(Evaluation::default())
    }
}
