//! `separation_of_duties`: conflicting permissions held together. Each
//! conflict names two sides, each a list of permission patterns
//! (case-insensitive, `*` a wildcard); a role is on a side when one of its
//! permissions matches one of the side's patterns. A holder with live access
//! to both sides of a conflict is a finding: a person across all their
//! accounts (`across_accounts`, the default: two accounts of one person are
//! one pair of hands), else each account on its own.
//!
//! The roles are few, so which roles are on which side is worked out here;
//! the database then selects the live grants of those roles and keeps only
//! the holders with both sides (a window over the holder), so only the
//! conflicting holders' grants are read back. One finding per holder,
//! naming each conflict it is in: subject `principal` when one account
//! holds the conflict, `person` (the `people.id`) when it takes several
//! accounts of one person.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{Context, Evaluation, GRANT_LIVE, Needed, RuleMeta, evidence, names};
use crate::engine::error::Result;
use crate::engine::identity::person_of;
use crate::engine::kind::{EventReach, Kind, invalid, non_empty, statuses_usable};
use crate::engine::roles::RoleInfo;
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, Finding, SubjectType};
use crate::store::{SqlValue, Tx};
use crate::support::wildcard::{self, Case};

/// `separation_of_duties`: conflicting permission sets held by one holder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeparationOfDuties {
    /// The conflicts: each two sides that one holder must not have both of.
    pub conflicts: Vec<Conflict>,
    /// Judge a person across all their accounts (`true`), or each account alone.
    pub across_accounts: bool,
    /// Account statuses whose access counts.
    pub statuses: Vec<AccountStatus>,
}

/// Two sets of permissions that one holder must not have both of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conflict {
    /// Names the conflict in findings and reports.
    pub name: String,
    /// Permission patterns of one side.
    pub left: Vec<String>,
    /// Permission patterns of the other side.
    pub right: Vec<String>,
}

impl Default for SeparationOfDuties {
    fn default() -> Self {
        SeparationOfDuties {
            conflicts: Vec::new(),
            across_accounts: true,
            statuses: statuses_usable(),
        }
    }
}

impl Kind for SeparationOfDuties {
    const NAME: &'static str = "separation_of_duties";
    const NEEDS: &'static [Needed] = &[("role_permissions", "permission")];

    fn event_reach(&self) -> EventReach {
        EventReach::None
    }

    fn defaults() -> Result<Self, &'static str> {
        Err(
            "kind `separation_of_duties` needs `params.conflicts`: the permission sets that must not be held together",
        )
    }

    fn check(&self) -> Result<(), (String, String)> {
        non_empty("conflicts", &self.conflicts, "conflict")?;
        non_empty("statuses", &self.statuses, "account status")?;
        for (i, c) in self.conflicts.iter().enumerate() {
            if c.name.trim().is_empty() {
                return invalid(&format!("conflicts[{i}].name"), "must not be empty");
            }
            if self.conflicts[..i].iter().any(|o| o.name == c.name) {
                return invalid(
                    &format!("conflicts[{i}].name"),
                    &format!("`{}` names two conflicts", c.name),
                );
            }
            for (side, patterns) in [("left", &c.left), ("right", &c.right)] {
                if patterns.is_empty() || patterns.iter().any(|p| p.trim().is_empty()) {
                    return invalid(
                        &format!("conflicts[{i}].{side}"),
                        "must list at least one permission pattern, none empty",
                    );
                }
            }
        }
        Ok(())
    }

    async fn evaluate(
        &self,
        tx: &mut Tx,
        ctx: &Context,
        rule: &RuleMeta<'_>,
        sink: &mut Sink,
    ) -> Result<Evaluation> {
        let roles = RoleInfo::load_all(tx, &[]).await?;
        let sides: Vec<Sides> = self
            .conflicts
            .iter()
            .map(|conflict| Sides {
                conflict,
                left: roles_on_side(&roles, &conflict.left),
                right: roles_on_side(&roles, &conflict.right),
            })
            .collect();
        // A conflict with an empty side is clean (nobody can hold both);
        // but when no pattern matches any permission at all, the patterns
        // speak another naming than the source: the rule cannot see.
        if sides
            .iter()
            .all(|s| s.left.is_empty() && s.right.is_empty())
        {
            return Ok(Evaluation::not_applicable(
                "no permission in role_permissions matches a pattern of any conflict".to_string(),
            ));
        }
        let complete: Vec<Sides> = sides
            .into_iter()
            .filter(|s| !s.left.is_empty() && !s.right.is_empty())
            .collect();
        if !complete.is_empty() {
            self.holders(tx, ctx, rule, sink, &complete, &roles).await?;
        }
        Ok(Evaluation::default())
    }
}

/// A conflict with the roles on each of its sides.
struct Sides<'a> {
    conflict: &'a Conflict,
    left: BTreeSet<String>,
    right: BTreeSet<String>,
}

/// The ids of the roles with a permission matching one of `patterns`.
fn roles_on_side(roles: &BTreeMap<String, RoleInfo>, patterns: &[String]) -> BTreeSet<String> {
    roles
        .iter()
        .filter(|(_, r)| {
            r.permissions.iter().any(|perm| {
                patterns
                    .iter()
                    .any(|pat| wildcard::matches(pat, perm, Case::Insensitive))
            })
        })
        .map(|(id, _)| id.clone())
        .collect()
}

/// A grant that puts its holder on a side of a conflict.
struct Held {
    grant_id: String,
    role_id: String,
    principal_id: String,
    login: String,
}

impl SeparationOfDuties {
    /// Finds the holders of both sides of a conflict: one finding each,
    /// naming every conflict they are in.
    async fn holders(
        &self,
        tx: &mut Tx,
        ctx: &Context,
        rule: &RuleMeta<'_>,
        sink: &mut Sink,
        sides: &[Sides<'_>],
        roles: &BTreeMap<String, RoleInfo>,
    ) -> Result<()> {
        let b = ctx.backend;
        let person = person_of(b, "p", &ctx.deployment.identity);
        // The holder: the person when judged across accounts and known,
        // else the account.
        let holder = if self.across_accounts {
            format!(
                "CASE WHEN {person} IS NOT NULL THEN 'person:' || {person} ELSE 'principal:' || p.id END"
            )
        } else {
            "'principal:' || p.id".to_string()
        };
        // The database keeps the holders with a role on some left side and
        // one on some right side; which conflict is complete is decided
        // below, per holder.
        let left: BTreeSet<&String> = sides.iter().flat_map(|s| &s.left).collect();
        let right: BTreeSet<&String> = sides.iter().flat_map(|s| &s.right).collect();
        let principals = &ctx.principals;
        // $1 = T, $2 = statuses, $3 = roles on a left side, $4 = on a right side.
        let sql = format!(
            "SELECT x.holder, x.grant_id, x.role_id, x.principal_id, x.login
               FROM (SELECT h.*, MAX(h.on_left) OVER (PARTITION BY h.holder) AS any_left,
                            MAX(h.on_right) OVER (PARTITION BY h.holder) AS any_right
                       FROM (SELECT {holder} AS holder, g.id AS grant_id, g.role_id,
                                    p.id AS principal_id, p.login,
                                    CASE WHEN {in_left} THEN 1 ELSE 0 END AS on_left,
                                    CASE WHEN {in_right} THEN 1 ELSE 0 END AS on_right
                               FROM grants g JOIN {principals} p ON p.id = g.principal_id
                              WHERE ({in_left} OR {in_right}) AND {statuses}
                                AND {GRANT_LIVE}) h) x
              WHERE x.any_left = 1 AND x.any_right = 1
              ORDER BY x.holder, x.principal_id, x.grant_id",
            in_left = b.in_list("g.role_id", 3),
            in_right = b.in_list("g.role_id", 4),
            statuses = b.in_short_list("p.status", 2, self.statuses.len()),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::TextList(names(&self.statuses, AccountStatus::as_str)),
            SqlValue::list(&left.into_iter().collect::<Vec<_>>()),
            SqlValue::list(&right.into_iter().collect::<Vec<_>>()),
        ];
        // Rows come ordered by holder: a holder is complete when the next begins.
        let mut current: Option<(String, Vec<Held>)> = None;
        let mut rows = tx.fetch(&sql, &params);
        while let Some(row) = rows.next().await {
            let row = row?;
            let holder = row.req_text("holder")?;
            let held = Held {
                grant_id: row.req_text("grant_id")?,
                role_id: row.req_text("role_id")?,
                principal_id: row.req_text("principal_id")?,
                login: row.req_text("login")?,
            };
            match &mut current {
                Some((h, grants)) if *h == holder => grants.push(held),
                _ => {
                    if let Some((done, grants)) = current.replace((holder, vec![held])) {
                        emit(rule, sink, sides, roles, &done, &grants).await?;
                    }
                }
            }
        }
        drop(rows);
        if let Some((done, grants)) = current {
            emit(rule, sink, sides, roles, &done, &grants).await?;
        }
        Ok(())
    }
}

/// The finding of `holder` (`person:ID` or `principal:ID`), if its grants
/// complete a conflict: about the account that holds it, or about the
/// person when it takes several of their accounts.
async fn emit(
    rule: &RuleMeta<'_>,
    sink: &mut Sink,
    sides: &[Sides<'_>],
    roles: &BTreeMap<String, RoleInfo>,
    holder: &str,
    grants: &[Held],
) -> Result<()> {
    let described = |g: &Held| {
        serde_json::json!({
            "grant": g.grant_id,
            "account": g.login,
            "role": roles.get(&g.role_id).map_or(g.role_id.as_str(), |r| r.name.as_str()),
        })
    };
    let mut conflicts = Vec::new();
    let mut names = Vec::new();
    // The accounts and logins of the grants that complete a conflict.
    let mut involved: BTreeMap<&str, &str> = BTreeMap::new();
    for s in sides {
        let left: Vec<&Held> = grants
            .iter()
            .filter(|g| s.left.contains(&g.role_id))
            .collect();
        let right: Vec<&Held> = grants
            .iter()
            .filter(|g| s.right.contains(&g.role_id))
            .collect();
        if left.is_empty() || right.is_empty() {
            continue;
        }
        for g in left.iter().chain(&right) {
            involved.insert(&g.principal_id, &g.login);
        }
        names.push(s.conflict.name.as_str());
        conflicts.push(serde_json::json!({
            "conflict": s.conflict.name,
            "left": left.iter().map(|g| described(g)).collect::<Vec<_>>(),
            "right": right.iter().map(|g| described(g)).collect::<Vec<_>>(),
            "one_role_gives_both": left.iter().any(|g| s.right.contains(&g.role_id)),
        }));
    }
    if conflicts.is_empty() {
        return Ok(()); // a left side of one conflict and a right side of another
    }
    // The subject is the account when one account holds the conflict
    // (whoever owns it), the person only when it takes several of theirs.
    let person = holder.strip_prefix("person:");
    let (subject_type, subject_id) = match (person, involved.keys().next()) {
        (Some(person), _) if involved.len() > 1 => (SubjectType::Person, person.to_string()),
        (_, Some(account)) => (SubjectType::Principal, account.to_string()),
        (_, None) => return Ok(()),
    };
    let logins: Vec<&str> = involved.values().copied().collect();
    let mut ev = evidence();
    ev.insert("accounts".into(), logins.clone().into());
    ev.insert("person".into(), person.into());
    ev.insert("conflicts".into(), conflicts.into());
    let who = match subject_type {
        SubjectType::Person => format!("person {subject_id} (accounts {})", logins.join(", ")),
        _ => logins.join(", "),
    };
    sink.push(Finding {
        application: None,
        rule: rule.id.to_string(),
        severity: rule.severity,
        subject_type,
        subject_id,
        title: format!("{who} holds conflicting duties: {}", names.join("; ")),
        evidence: ev,
    })
    .await
}
