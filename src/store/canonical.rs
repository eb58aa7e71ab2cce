//! Reads of the canonical tables that are not a rule: the facts a report
//! gives as proof that the audit looked (rows per table as of T, the newest
//! event). Writes to these tables are the import's and the sync's
//! (`collect`), through the column lists of `collect::tables`.

use chrono::{DateTime, Utc};

use super::Store;
use super::error::Result;
use super::tx::Tx;
use super::value::SqlValue;

/// Rows per canonical table at or before T (tables without a time column:
/// all rows), in the order a report lists them.
const COUNTS: [(&str, &str); 6] = [
    ("people", "SELECT COUNT(*) AS n FROM people"),
    (
        "principals",
        "SELECT COUNT(*) AS n FROM principals WHERE created_at IS NULL OR created_at <= $1",
    ),
    ("roles", "SELECT COUNT(*) AS n FROM roles"),
    (
        "role_permissions",
        "SELECT COUNT(*) AS n FROM role_permissions",
    ),
    (
        "grants",
        "SELECT COUNT(*) AS n FROM grants WHERE granted_at IS NULL OR granted_at <= $1",
    ),
    (
        "events",
        "SELECT COUNT(*) AS n FROM events WHERE occurred_at <= $1",
    ),
];

const NEWEST_EVENT: &str = "SELECT MAX(occurred_at) AS newest FROM events WHERE occurred_at <= $1";

/// The order that picks one person among several records matching one
/// email or login (a rehire): the most recent hire, then the smallest id.
/// `alias` names the `people` row (`x.`, or empty for an unaliased table).
pub fn newest_hire_first(alias: &str) -> String {
    format!(
        "ORDER BY CASE WHEN {alias}hired_at IS NULL THEN 1 ELSE 0 END, {alias}hired_at DESC, {alias}id"
    )
}

impl Store {
    /// How many rows each canonical table holds as of `as_of`.
    pub async fn table_counts(&self, as_of: DateTime<Utc>) -> Result<Vec<(&'static str, i64)>> {
        let mut tables = Vec::new();
        for (table, sql) in COUNTS {
            let params = if sql.contains("$1") {
                vec![SqlValue::time(as_of)]
            } else {
                vec![]
            };
            tables.push((table, self.count(sql, &params).await?));
        }
        Ok(tables)
    }

    /// Accounts per application (as the store holds them now), by name.
    pub async fn accounts_per_application(&self) -> Result<Vec<(String, i64)>> {
        let rows = self
            .fetch_all(
                "SELECT application, COUNT(*) AS n FROM principals GROUP BY application ORDER BY application",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.req_text("application")?, r.i64("n")?.unwrap_or(0))))
            .collect()
    }

    /// The full name of the person with this id, else with this email
    /// (ignoring ASCII case): how a configured owner is shown.
    pub async fn person_name(&self, id_or_email: &str) -> Result<Option<String>> {
        let b = self.backend();
        let by_id = "SELECT full_name FROM people WHERE id = $1".to_string();
        let by_email = format!(
            "SELECT full_name FROM people WHERE {} = {} {} LIMIT 1",
            b.fold_case("email"),
            b.fold_case("$1"),
            newest_hire_first("")
        );
        for sql in [by_id, by_email] {
            if let Some(r) = self
                .fetch_all(&sql, &[SqlValue::text(id_or_email)])
                .await?
                .first()
            {
                return r.text("full_name");
            }
        }
        Ok(None)
    }

    /// Whether the store holds any account at all, of any time (a run over
    /// none would be an empty audit, not a clean one).
    pub async fn has_accounts(&self) -> Result<bool> {
        Ok(!self
            .fetch_all("SELECT 1 AS any_account FROM principals LIMIT 1", &[])
            .await?
            .is_empty())
    }

    /// Each source's latest succeeded sync that finished at or before
    /// `before`, by source.
    pub async fn latest_syncs(&self, before: DateTime<Utc>) -> Result<Vec<SyncRecord>> {
        let rows = self
            .fetch_all(
                "SELECT s.source, s.id, s.finished_at, s.summary, s.write_check FROM syncs s
                  WHERE s.id = (SELECT MAX(l.id) FROM syncs l
                                 WHERE l.source = s.source AND l.status = 'succeeded'
                                   AND l.finished_at <= $1)
                  ORDER BY s.source",
                &[SqlValue::time(before)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SyncRecord {
                    source: r.req_text("source")?,
                    id: r.i64("id")?.unwrap_or(0),
                    finished_at: r.time("finished_at")?.unwrap_or(before),
                    summary: r.text("summary")?,
                    write_check: r.text("write_check")?,
                })
            })
            .collect()
    }

    /// The newest event at or before `as_of`.
    pub async fn newest_event(&self, as_of: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let rows = self
            .fetch_all(NEWEST_EVENT, &[SqlValue::time(as_of)])
            .await?;
        match rows.first() {
            Some(r) => r.time("newest"),
            None => Ok(None),
        }
    }
}

impl Tx {
    /// The newest event at or before `as_of`, inside this transaction's
    /// snapshot (the engine's freshness gate).
    pub async fn newest_event(&mut self, as_of: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        match self
            .fetch_optional(NEWEST_EVENT, &[SqlValue::time(as_of)])
            .await?
        {
            Some(row) => row.time("newest"),
            None => Ok(None),
        }
    }

    /// Whether the store holds any event at all, of any time.
    pub async fn has_events(&mut self) -> Result<bool> {
        Ok(self
            .fetch_optional("SELECT 1 AS any_event FROM events LIMIT 1", &[])
            .await?
            .is_some())
    }
}

/// Who a finding is about, as of T, for a person reading the report: the
/// account (its version valid at T when synced), its owner in HR, the
/// owner's manager, and for a grant the role it gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectInfo {
    pub login: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    /// The manager's name (else their id).
    pub manager: Option<String>,
    pub manager_id: Option<String>,
    /// For a grant or a role: the role's name.
    pub role: Option<String>,
}

#[derive(Default, Clone)]
struct Account {
    login: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    person_id: Option<String>,
    department: Option<String>,
}

#[derive(Default, Clone)]
struct Person {
    email: Option<String>,
    full_name: Option<String>,
    department: Option<String>,
    title: Option<String>,
    manager_id: Option<String>,
}

impl Store {
    /// What a report shows of each subject `(subject_type, subject_id)`.
    /// People have no history in the model: their current record is used.
    /// Its statements share one transaction: one snapshot, and no round
    /// trips to begin and commit each.
    pub async fn subjects(
        &self,
        as_of: DateTime<Utc>,
        subjects: &[(String, String)],
    ) -> Result<std::collections::HashMap<(String, String), SubjectInfo>> {
        let mut tx = self.begin().await?;
        let found = subjects_in(&mut tx, as_of, subjects).await?;
        tx.commit().await?;
        Ok(found)
    }
}

/// Rows of `sql_head`, which ends in an open parenthesis, where
/// `column` is one of `ids`; `$1` is `first` when given. The ids are
/// bound as one list (`Backend::in_list`): one statement of one text
/// whatever their number, and no parameter limit to cut the ids into
/// chunks for.
async fn fetch_in(
    tx: &mut Tx,
    sql_head: &str,
    column: &str,
    first: Option<SqlValue>,
    ids: &[String],
) -> Result<Vec<super::value::DbRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let n = usize::from(first.is_some()) + 1;
    let sql = format!("{sql_head}{})", tx.backend().in_list(column, n));
    let mut params: Vec<SqlValue> = first.into_iter().collect();
    params.push(SqlValue::list(ids));
    tx.fetch_all(&sql, &params).await
}

/// The accounts of `ids` as of `as_of`: the synced version valid then
/// when there is one, else the current row.
async fn accounts_at(
    tx: &mut Tx,
    as_of: DateTime<Utc>,
    ids: &[String],
) -> Result<std::collections::HashMap<String, Account>> {
    let read = |r: &super::value::DbRow| -> Result<Account> {
        Ok(Account {
            login: r.text("login")?,
            display_name: r.text("display_name")?,
            email: r.text("email")?,
            person_id: r.text("person_id")?,
            department: r.text("department")?,
        })
    };
    let mut out = std::collections::HashMap::new();
    for r in fetch_in(
        tx,
        "SELECT id, login, display_name, email, person_id, department FROM principals WHERE (",
        "id",
        None,
        ids,
    )
    .await?
    {
        out.insert(r.req_text("id")?, read(&r)?);
    }
    for r in fetch_in(
        tx,
        "SELECT principal_id AS id, login, display_name, email, person_id, department
               FROM principal_history
              WHERE valid_from <= $1 AND (valid_to IS NULL OR valid_to > $1) AND (",
        "principal_id",
        Some(SqlValue::time(as_of)),
        ids,
    )
    .await?
    {
        out.insert(r.req_text("id")?, read(&r)?);
    }
    Ok(out)
}

async fn people_by(
    tx: &mut Tx,
    column: &str,
    keys: &[String],
) -> Result<Vec<(String, String, Person)>> {
    let head = "SELECT id, email, full_name, department, title, manager_id FROM people WHERE (";
    let mut out = Vec::new();
    for r in fetch_in(tx, head, column, None, keys).await? {
        let p = Person {
            email: r.text("email")?,
            full_name: r.text("full_name")?,
            department: r.text("department")?,
            title: r.text("title")?,
            manager_id: r.text("manager_id")?,
        };
        let id = r.req_text("id")?;
        let key = match column {
            "id" => id.clone(),
            _ => p.email.clone().unwrap_or_default().to_ascii_lowercase(),
        };
        out.push((key, id, p));
    }
    Ok(out)
}

async fn subjects_in(
    tx: &mut Tx,
    as_of: DateTime<Utc>,
    subjects: &[(String, String)],
) -> Result<std::collections::HashMap<(String, String), SubjectInfo>> {
    use std::collections::{BTreeSet, HashMap};
    let of = |t: &str| -> Vec<String> {
        let set: BTreeSet<&String> = subjects
            .iter()
            .filter(|(ty, _)| ty == t)
            .map(|(_, id)| id)
            .collect();
        set.into_iter().cloned().collect()
    };
    // Grants: their account and role.
    let mut grant_of: HashMap<String, (String, Option<String>)> = HashMap::new();
    for r in fetch_in(
            tx,
            "SELECT g.id, g.principal_id, r.name AS role FROM grants g LEFT JOIN roles r ON r.id = g.role_id WHERE (",
            "g.id",
            None,
            &of("grant"),
        )
        .await?
    {
        grant_of.insert(
            r.req_text("id")?,
            (r.req_text("principal_id")?, r.text("role")?),
        );
    }
    let mut role_names: HashMap<String, Option<String>> = HashMap::new();
    for r in fetch_in(
        tx,
        "SELECT id, name FROM roles WHERE (",
        "id",
        None,
        &of("role"),
    )
    .await?
    {
        role_names.insert(r.req_text("id")?, r.text("name")?);
    }
    let mut account_ids: BTreeSet<String> = of("principal").into_iter().collect();
    account_ids.extend(grant_of.values().map(|(p, _)| p.clone()));
    let account_ids: Vec<String> = account_ids.into_iter().collect();
    let accounts = accounts_at(tx, as_of, &account_ids).await?;

    // Owners: by person_id, else by e-mail (ASCII case-insensitive, as the rules match).
    let mut person_ids: BTreeSet<String> = of("person").into_iter().collect();
    let mut emails: BTreeSet<String> = BTreeSet::new();
    for a in accounts.values() {
        match (&a.person_id, &a.email) {
            (Some(p), _) => {
                person_ids.insert(p.clone());
            }
            (None, Some(e)) => {
                emails.insert(e.to_ascii_lowercase());
            }
            _ => {}
        }
    }
    let mut people: HashMap<String, Person> = HashMap::new();
    for (key, _, p) in people_by(tx, "id", &person_ids.into_iter().collect::<Vec<_>>()).await? {
        people.insert(key, p);
    }
    let mut by_email: HashMap<String, Person> = HashMap::new();
    // The folded email as the index has it (`people_email_ci`): on
    // PostgreSQL, LOWER(email) would read every person once per chunk.
    let folded_email = tx.backend().fold_case("email");
    for (key, _, p) in people_by(tx, &folded_email, &emails.into_iter().collect::<Vec<_>>()).await?
    {
        by_email.entry(key).or_insert(p);
    }
    let manager_ids: BTreeSet<String> = people
        .values()
        .chain(by_email.values())
        .filter_map(|p| p.manager_id.clone())
        .collect();
    let mut managers: HashMap<String, Person> = HashMap::new();
    for (key, _, p) in people_by(tx, "id", &manager_ids.into_iter().collect::<Vec<_>>()).await? {
        managers.insert(key, p);
    }
    let person_info = |p: &Person| SubjectInfo {
        display_name: p.full_name.clone(),
        email: p.email.clone(),
        department: p.department.clone(),
        title: p.title.clone(),
        manager: p.manager_id.as_ref().map(|m| {
            managers
                .get(m)
                .and_then(|mp| mp.full_name.clone())
                .unwrap_or_else(|| m.clone())
        }),
        manager_id: p.manager_id.clone(),
        ..SubjectInfo::default()
    };
    let account_info = |id: &str| -> SubjectInfo {
        let Some(a) = accounts.get(id) else {
            return SubjectInfo::default();
        };
        let owner = match (&a.person_id, &a.email) {
            (Some(p), _) => people.get(p),
            (None, Some(e)) => by_email.get(&e.to_ascii_lowercase()),
            _ => None,
        };
        let mut info = owner.map(person_info).unwrap_or_default();
        info.login = a.login.clone();
        info.display_name = a.display_name.clone().or(info.display_name);
        info.email = a.email.clone().or(info.email);
        // HR's department is the owner's; the application's is a fallback.
        info.department = info.department.or_else(|| a.department.clone());
        info
    };
    let mut out = HashMap::new();
    for (ty, id) in subjects {
        let info = match ty.as_str() {
            "principal" => account_info(id),
            "grant" => match grant_of.get(id) {
                Some((p, role)) => SubjectInfo {
                    role: role.clone(),
                    ..account_info(p)
                },
                None => SubjectInfo::default(),
            },
            "person" => people.get(id).map(person_info).unwrap_or_default(),
            "role" => SubjectInfo {
                role: role_names.get(id).cloned().flatten(),
                ..SubjectInfo::default()
            },
            _ => SubjectInfo::default(),
        };
        out.insert((ty.clone(), id.clone()), info);
    }
    Ok(out)
}

/// A sync as recorded (`syncs`): its feeds' summary and what its account
/// could write, both JSON as the sync wrote them.
#[derive(Debug, Clone)]
pub struct SyncRecord {
    pub source: String,
    pub id: i64,
    pub finished_at: DateTime<Utc>,
    pub summary: Option<String>,
    pub write_check: Option<String>,
}
