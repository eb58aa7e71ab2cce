//! Opening a campaign: its population frozen as of T, one item per live
//! grant in scope, each with its reviewer and the facts a reviewer needs.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::record::{self, NewDecision, NewItem, PreviousDecision, WriteTx};
use super::{DecisionSource, Result, ReviewError, Reviewer};
use crate::config::{Config, DeltaPolicy, ReviewConfig, ReviewerRule};
use crate::engine::json_time;
use crate::engine::roles::{RoleInfo, default_sensitive_permissions};
use crate::model::{AccountType, format_instant};
use crate::store::{SqlValue, Store, Tx};

/// What opening did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Opened {
    pub campaign_id: i64,
    pub definition: String,
    pub items: usize,
    /// Reviewers and how many items each has.
    pub reviewers: BTreeMap<String, usize>,
    /// Items certified by policy because they were kept unchanged
    /// (`unchanged: skip`).
    pub certified_unchanged: usize,
}

/// A person of `people` (current).
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub id: String,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub manager_id: Option<String>,
    pub employment_status: String,
}

/// The people by id, and their ids by lower-case email.
pub struct People {
    pub by_id: HashMap<String, Person>,
    pub by_email: HashMap<String, String>,
}

impl People {
    pub async fn load(tx: &mut Tx) -> Result<People> {
        let mut by_id = HashMap::new();
        let mut by_email = HashMap::new();
        let rows = tx
            .fetch_all(
                "SELECT id, email, full_name, department, title, manager_id, employment_status FROM people",
                &[],
            )
            .await?;
        for r in rows {
            let p = Person {
                id: r.req_text("id")?,
                email: r.text("email")?,
                full_name: r.text("full_name")?,
                department: r.text("department")?,
                title: r.text("title")?,
                manager_id: r.text("manager_id")?,
                employment_status: r.req_text("employment_status")?,
            };
            if let Some(e) = &p.email {
                by_email.insert(e.trim().to_ascii_lowercase(), p.id.clone());
            }
            by_id.insert(p.id.clone(), p);
        }
        Ok(People { by_id, by_email })
    }

    /// A person by id, or by email.
    pub fn find(&self, id_or_email: &str) -> Option<&Person> {
        self.by_id.get(id_or_email).or_else(|| {
            self.by_email
                .get(&id_or_email.trim().to_ascii_lowercase())
                .and_then(|id| self.by_id.get(id))
        })
    }
}

/// One live grant at T with its account.
struct Live {
    grant_id: String,
    principal_id: String,
    role_id: String,
    granted_at: Option<DateTime<Utc>>,
    granted_by: Option<String>,
    approved_by: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    login: String,
    display_name: Option<String>,
    account_email: Option<String>,
    person_id: Option<String>,
    account_department: Option<String>,
    account_type: String,
    status: String,
    last_login_at: Option<DateTime<Utc>>,
}

/// What `roles` says beyond RoleInfo.
struct RoleRow {
    description: Option<String>,
    data_scope: Option<String>,
    owner_id: Option<String>,
}

/// Opens a campaign of `name` as of `as_of`. `slot_at`: the scheduled
/// instant (the daemon), so that one slot opens one campaign however many
/// daemons try; `None` for an opening by hand. Returns `None` when the
/// slot's campaign already exists.
pub async fn open(
    store: &Store,
    config: &Config,
    name: &str,
    as_of: DateTime<Utc>,
    slot_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<Opened>> {
    let def = config.reviews.get(name).ok_or_else(|| {
        let names: Vec<&str> = config.reviews.keys().map(String::as_str).collect();
        ReviewError::Refused(format!(
            "no campaign `{name}` in `reviews:` (defined: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
    })?;
    let mut tx = record::begin(store).await?;
    let Some(campaign_id) =
        record::insert_campaign(&mut tx, name, def, slot_at, as_of, now).await?
    else {
        tx.rollback().await?;
        return Ok(None);
    };
    let opened = populate(&mut tx, config, name, def, campaign_id, as_of, now).await?;
    tx.commit().await?;
    Ok(Some(opened))
}

async fn populate(
    tx: &mut WriteTx,
    config: &Config,
    name: &str,
    def: &ReviewConfig,
    campaign_id: i64,
    as_of: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Opened> {
    let backend = tx.backend();
    let sensitive_patterns = def
        .scope
        .sensitive_permissions
        .clone()
        .unwrap_or_else(default_sensitive_permissions);
    let roles = RoleInfo::load_all(tx, &sensitive_patterns).await?;
    let mut role_rows: HashMap<String, RoleRow> = HashMap::new();
    for r in tx
        .fetch_all(
            "SELECT id, description, data_scope, owner_id FROM roles",
            &[],
        )
        .await?
    {
        role_rows.insert(
            r.req_text("id")?,
            RoleRow {
                description: r.text("description")?,
                data_scope: r.text("data_scope")?,
                owner_id: r.text("owner_id")?,
            },
        );
    }
    let people = People::load(tx).await?;
    let principals = crate::engine::principals_at(tx, backend, as_of).await?;
    let sql = format!(
        "SELECT g.id AS grant_id, g.principal_id, g.role_id, g.granted_at, g.granted_by,
                g.approved_by, g.expires_at, p.login, p.display_name, p.email, p.person_id,
                p.department, p.account_type, p.status, p.last_login_at
           FROM grants g JOIN {principals} p ON p.id = g.principal_id
          WHERE (g.granted_at IS NULL OR g.granted_at <= $1)
            AND (g.revoked_at IS NULL OR g.revoked_at > $1)
            AND (g.expires_at IS NULL OR g.expires_at > $1)
            AND (p.created_at IS NULL OR p.created_at <= $1)
            AND p.status <> 'disabled'
          ORDER BY g.principal_id, g.role_id, g.id"
    );
    let mut live: Vec<Live> = Vec::new();
    {
        let params = [SqlValue::time(as_of)];
        let mut rows = tx.fetch(&sql, &params);
        while let Some(r) = rows.next().await {
            let r = r?;
            live.push(Live {
                grant_id: r.req_text("grant_id")?,
                principal_id: r.req_text("principal_id")?,
                role_id: r.req_text("role_id")?,
                granted_at: r.time("granted_at")?,
                granted_by: r.text("granted_by")?,
                approved_by: r.text("approved_by")?,
                expires_at: r.time("expires_at")?,
                login: r.req_text("login")?,
                display_name: r.text("display_name")?,
                account_email: r.text("email")?,
                person_id: r.text("person_id")?,
                account_department: r.text("department")?,
                account_type: r.req_text("account_type")?,
                status: r.req_text("status")?,
                last_login_at: r.time("last_login_at")?,
            });
        }
    }
    let person_of = |l: &Live| -> Option<&Person> {
        match &l.person_id {
            Some(id) => people.by_id.get(id),
            None => l
                .account_email
                .as_ref()
                .and_then(|e| people.by_email.get(&e.trim().to_ascii_lowercase()))
                .and_then(|id| people.by_id.get(id)),
        }
    };

    // Peers: people of the same department and title, and how many of them
    // hold each role (any account of theirs, live at T).
    let mut group_size: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for p in people.by_id.values() {
        if p.employment_status == "terminated" {
            continue;
        }
        if let (Some(d), Some(t)) = (&p.department, &p.title) {
            group_size
                .entry((d.clone(), t.clone()))
                .or_default()
                .insert(p.id.clone());
        }
    }
    let mut holders: HashMap<(String, String, String), HashSet<String>> = HashMap::new();
    for l in &live {
        if let Some(p) = person_of(l)
            && let (Some(d), Some(t)) = (&p.department, &p.title)
        {
            holders
                .entry((d.clone(), t.clone(), l.role_id.clone()))
                .or_default()
                .insert(p.id.clone());
        }
    }

    // The last use of each action by each account, up to T.
    let mut last_action: HashMap<(String, String), DateTime<Utc>> = HashMap::new();
    {
        let params = [SqlValue::time(as_of)];
        let mut rows = tx.fetch(
            "SELECT principal_id, action, MAX(occurred_at) AS last_at FROM events
              WHERE occurred_at <= $1 AND principal_id IS NOT NULL
              GROUP BY principal_id, action",
            &params,
        );
        while let Some(r) = rows.next().await {
            let r = r?;
            if let (Some(p), Some(at)) = (r.text("principal_id")?, r.time("last_at")?) {
                last_action.insert((p, r.req_text("action")?), at);
            }
        }
    }

    // The open findings of the latest run of the findings job on each
    // account, grant or person.
    let mut findings: HashMap<(String, String), Vec<Value>> = HashMap::new();
    let run = tx
        .fetch_optional(
            "SELECT MAX(id) AS id FROM runs WHERE job = $1 AND status = 'succeeded'",
            &[SqlValue::text(&def.findings_from)],
        )
        .await?
        .and_then(|r| r.i64("id").ok().flatten());
    let mut findings_run: Option<i64> = None;
    if let Some(run_id) = run {
        findings_run = Some(run_id);
        let rows = tx
            .fetch_all(
                "SELECT rule, severity, subject_type, subject_id, title FROM findings WHERE run_id = $1",
                &[SqlValue::int(run_id)],
            )
            .await?;
        for r in rows {
            findings
                .entry((r.req_text("subject_type")?, r.req_text("subject_id")?))
                .or_default()
                .push(json!({
                    "rule": r.req_text("rule")?,
                    "severity": r.req_text("severity")?,
                    "title": r.req_text("title")?,
                }));
        }
    }

    let previous = record::previous_decisions(tx, campaign_id).await?;
    let previous_campaign = record::previous_campaign(tx, name, campaign_id).await?;

    let scope = &def.scope;
    let mut opened = Opened {
        campaign_id,
        definition: name.to_string(),
        items: 0,
        reviewers: BTreeMap::new(),
        certified_unchanged: 0,
    };
    for l in &live {
        let info = roles.get(&l.role_id).cloned().unwrap_or_default();
        let role_row = role_rows.get(&l.role_id);
        let person = person_of(l);
        let sensitive = info.sensitive();
        // Scope.
        if scope.sensitive_only && !sensitive {
            continue;
        }
        if !scope.roles.is_empty() && !scope.roles.contains(&l.role_id) {
            continue;
        }
        let department = person
            .and_then(|p| p.department.clone())
            .or_else(|| l.account_department.clone());
        if !scope.departments.is_empty()
            && !department
                .as_ref()
                .is_some_and(|d| scope.departments.contains(d))
        {
            continue;
        }
        if !scope.account_types.is_empty()
            && !scope
                .account_types
                .iter()
                .any(|t: &AccountType| t.as_str() == l.account_type)
        {
            continue;
        }

        // The facts.
        let actions = info.enabled_actions();
        let last_use = actions
            .iter()
            .filter_map(|a| last_action.get(&(l.principal_id.clone(), a.clone())))
            .max()
            .copied();
        let title = person.and_then(|p| p.title.clone());
        let peers = match (&department, &title) {
            (Some(d), Some(t)) => {
                let size = group_size
                    .get(&(d.clone(), t.clone()))
                    .map_or(0, HashSet::len);
                let holding = holders
                    .get(&(d.clone(), t.clone(), l.role_id.clone()))
                    .map_or(0, HashSet::len);
                json!({"holding": holding, "of": size})
            }
            _ => Value::Null,
        };
        let mut item_findings: Vec<Value> = Vec::new();
        for key in [
            ("principal".to_string(), l.principal_id.clone()),
            ("grant".to_string(), l.grant_id.clone()),
        ] {
            item_findings.extend(findings.get(&key).cloned().unwrap_or_default());
        }
        if let Some(p) = person {
            item_findings.extend(
                findings
                    .get(&("person".to_string(), p.id.clone()))
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        let manager = person
            .and_then(|p| p.manager_id.as_ref())
            .and_then(|m| people.by_id.get(m));
        let owner = role_row
            .and_then(|r| r.owner_id.as_ref())
            .and_then(|o| people.by_id.get(o));
        let fingerprint = fingerprint(l, &info, role_row, person);
        let prev: Option<&PreviousDecision> =
            previous.get(&(l.principal_id.clone(), l.role_id.clone()));
        // Kept by a person in the previous campaign of this definition, on
        // the same facts. A keep by policy (the deadline, or an earlier
        // delta) certifies nothing: it is never carried forward.
        let unchanged_keep = prev.filter(|p| {
            Some(p.campaign_id) == previous_campaign
                && p.fingerprint == fingerprint
                && p.decision == super::Decision::Keep
                && !matches!(p.source.as_str(), "policy" | "delta")
        });
        let context = json!({
            "login": l.login,
            "display_name": l.display_name,
            "account_email": l.account_email,
            "account_type": l.account_type,
            "account_status": l.status,
            "person_id": person.map(|p| p.id.clone()),
            "person_name": person.and_then(|p| p.full_name.clone()),
            "employment_status": person.map(|p| p.employment_status.clone()),
            "department": department,
            "title": title,
            "manager": manager.map(|m| m.full_name.clone().or(m.email.clone()).unwrap_or(m.id.clone())),
            "role_id": l.role_id,
            "role_name": if info.name.is_empty() { l.role_id.clone() } else { info.name.clone() },
            "role_description": role_row.and_then(|r| r.description.clone()),
            "role_owner": owner.map(|o| o.full_name.clone().or(o.email.clone()).unwrap_or(o.id.clone())),
            "privileged": info.privileged,
            "data_scope": role_row.and_then(|r| r.data_scope.clone()),
            "permissions": info.permissions,
            "sensitive_access": info.sensitive_access(),
            "granted_at": json_time(l.granted_at),
            "granted_by": l.granted_by,
            "approved_by": l.approved_by,
            "expires_at": json_time(l.expires_at),
            "last_login_at": json_time(l.last_login_at),
            "last_used_at": json_time(last_use),
            "peers": peers,
            "findings": item_findings,
            "findings_run": findings_run,
            "previous": prev.map(|p| json!({
                "campaign_id": p.campaign_id,
                "definition": p.definition,
                "decision": p.decision.as_str(),
                "decided_by": p.decided_by,
                "decided_at": format_instant(p.decided_at),
                "source": p.source,
                "unchanged": p.fingerprint == fingerprint,
            })),
            "unchanged_since_keep": unchanged_keep.is_some(),
            "prefill": (unchanged_keep.is_some() && def.unchanged == DeltaPolicy::Prefill)
                .then_some("keep"),
        });
        let item_id = record::insert_item(
            tx,
            campaign_id,
            &NewItem {
                grant_id: &l.grant_id,
                principal_id: &l.principal_id,
                role_id: &l.role_id,
                person_id: person.map(|p| p.id.as_str()),
                sensitive,
                fingerprint: &fingerprint,
                context: &context,
            },
        )
        .await?;

        // The reviewer.
        let by_rule: Option<Reviewer> = match &def.reviewer {
            ReviewerRule::Manager => manager.map(|m| Reviewer::Person(m.id.clone())),
            ReviewerRule::RoleOwner => owner.map(|o| Reviewer::Person(o.id.clone())),
            ReviewerRule::Group(g) => Some(Reviewer::Group(g.clone())),
            ReviewerRule::Person(who) => Some(match people.find(who) {
                Some(p) => Reviewer::Person(p.id.clone()),
                None => Reviewer::Mail(who.trim().to_ascii_lowercase()),
            }),
        };
        let fallback = Reviewer::from_config(&def.fallback, config);
        let (reviewer, reason) = match by_rule {
            Some(r) if reviews_own(&r, person, l.account_email.as_deref(), config, &people) => {
                (fallback, "self")
            }
            Some(r) if reachable(&r, config, &people) => (r, "rule"),
            _ => (fallback, "fallback"),
        };
        record::assign(tx, item_id, &reviewer, reason, now, None).await?;
        *opened.reviewers.entry(reviewer.key()).or_default() += 1;
        opened.items += 1;

        if unchanged_keep.is_some() && def.unchanged == DeltaPolicy::Skip {
            record::insert_decision(
                tx,
                campaign_id,
                item_id,
                &NewDecision {
                    decision: super::Decision::Keep,
                    justification: Some("kept in the previous campaign, unchanged since"),
                    decided_by: "policy",
                    source: DecisionSource::Delta,
                    facts: &fingerprint,
                },
                now,
            )
            .await?;
            opened.certified_unchanged += 1;
        }
    }
    Ok(opened)
}

/// Whether a reviewer would review their own access: the same person, or
/// an address (of a group) that is the holder's.
/// The one test of "nobody reviews their own access", for the opening and
/// for delegation: `holder` is the item's person, `account_email` its
/// account's address.
pub fn reviews_own(
    r: &Reviewer,
    holder: Option<&Person>,
    account_email: Option<&str>,
    config: &Config,
    people: &People,
) -> bool {
    let mut own: Vec<String> = Vec::new();
    if let Some(e) = account_email.filter(|e| !e.trim().is_empty()) {
        own.push(e.trim().to_ascii_lowercase());
    }
    if let Some(p) = holder
        && let Some(e) = &p.email
    {
        own.push(e.trim().to_ascii_lowercase());
    }
    match r {
        Reviewer::Person(id) => {
            holder.is_some_and(|p| &p.id == id)
                || people
                    .by_id
                    .get(id)
                    .and_then(|p| p.email.as_ref())
                    .is_some_and(|e| own.contains(&e.trim().to_ascii_lowercase()))
        }
        Reviewer::Mail(a) => own.contains(a),
        Reviewer::Group(_) => {
            // A group reviews as a whole; its member who holds the access
            // is still one of its reviewers, so the item goes elsewhere.
            addresses(r, config, people)
                .iter()
                .any(|a| own.contains(&a.trim().to_ascii_lowercase()))
        }
    }
}

/// Whether a message can reach the reviewer.
fn reachable(r: &Reviewer, config: &Config, people: &People) -> bool {
    !addresses(r, config, people).is_empty()
}

/// The addresses of a reviewer.
pub fn addresses(r: &Reviewer, config: &Config, people: &People) -> Vec<String> {
    match r {
        Reviewer::Person(id) => people
            .by_id
            .get(id)
            .and_then(|p| p.email.clone())
            .into_iter()
            .collect(),
        Reviewer::Group(g) => config.addresses(std::slice::from_ref(g)),
        Reviewer::Mail(a) => vec![a.clone()],
    }
}

/// SHA-256 of the facts that decide an item: the same fingerprint in the
/// next campaign means nothing that matters changed.
fn fingerprint(l: &Live, info: &RoleInfo, role: Option<&RoleRow>, p: Option<&Person>) -> String {
    let facts = json!([
        l.principal_id,
        l.role_id,
        l.status,
        l.account_type,
        l.expires_at.map(format_instant),
        info.privileged,
        role.and_then(|r| r.data_scope.clone()),
        info.permissions,
        p.map(|p| (
            p.id.clone(),
            p.employment_status.clone(),
            p.department.clone(),
            p.title.clone()
        )),
    ]);
    crate::report::mime::sha256_hex(facts.to_string().as_bytes())
}
