//! The large-data generator: the demo's organisation model (departments,
//! titles, WukongCRM roles and the roles each title is given, the objects
//! each department works on) stretched to any number of accounts, written
//! straight into the canonical tables with the store's bulk path.
//!
//! Everything follows from the seed and the account number, so one account's
//! rows never depend on another's: the generator streams account by account
//! and holds one batch in memory, whatever the scale.
//!
//! The population: mostly active human accounts of a CRM, each with the
//! roles of its title plus `Staff`, leaving an event log of 18 months in which
//! sign-ins and views dominate and exports are rare. A small fraction of
//! accounts (one in 1,000 per kind) carries a planted case of a shipped rule;
//! the rest produce the findings real data produces (idle accounts, unused
//! grants, leavers' accounts).

use chrono::{DateTime, Duration, Utc};
use fastrand::Rng;

use accessaudit::collect::tables::{self, TableSpec};
use accessaudit::demo::objects_of;
use accessaudit::demo::roles;
use accessaudit::store::{IndexDef, SqlValue, Store, StoreError, Tx};

/// What to generate. `scale` 1.0 is 1,000,000 accounts, ~3,000,000 grants
/// and `events_per_account` × accounts events (50,000,000 by default).
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub scale: f64,
    pub events_per_account: f64,
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            scale: 0.001,
            events_per_account: 50.0,
            seed: 7,
        }
    }
}

impl GenerateOptions {
    pub fn accounts(&self) -> u64 {
        ((1_000_000.0 * self.scale).round() as u64).max(10)
    }
}

/// What the generator wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    pub people: u64,
    pub principals: u64,
    pub grants: u64,
    pub events: u64,
}

/// The audit instant of every generated data set: the demo's, 1 November 2026
/// 08:00 UTC; the event log covers the 18 months (540 days) before it.
pub fn as_of() -> DateTime<Utc> {
    accessaudit::demo::as_of()
}

pub const LOG_DAYS: i64 = 540;

/// Departments and titles with their share of the accounts (of 1,000), as
/// the demo's company has them; roles follow from `roles::roles_of(title)`.
const TITLES: &[(&str, &str, u32)] = &[
    ("Sales", "Account Executive", 330),
    ("Sales", "Senior Account Executive", 60),
    ("Sales", "Sales Manager", 30),
    ("Sales", "Sales Director", 4),
    ("Sales", "Sales Operations Analyst", 20),
    ("Sales", "Sales Intern", 40),
    ("Support", "Support Agent", 200),
    ("Support", "Support Team Lead", 20),
    ("Support", "Support Manager", 4),
    ("Finance", "Accountant", 60),
    ("Finance", "Billing Specialist", 40),
    ("Finance", "Finance Manager", 8),
    ("Finance", "Finance Director", 2),
    ("Marketing", "Marketing Specialist", 80),
    ("Marketing", "Content Designer", 20),
    ("Marketing", "Marketing Director", 2),
    ("Marketing", "Internal Communications Manager", 6),
    ("IT", "IT Support Specialist", 50),
    ("IT", "CRM Administrator", 10),
    ("IT", "IT Manager", 4),
];

/// Event actions and their share (of 1,000) of an account's log.
const ACTIONS: &[(&str, u32)] = &[
    ("login", 300),
    ("view", 450),
    ("update", 140),
    ("logout", 60),
    ("login_failed", 30),
    ("export", 15),
    ("delete", 5),
];

/// Planted cases: account number modulo 1,000.
const PLANT_BULK_EXPORT: u64 = 101;
const PLANT_CONCURRENT: u64 = 202;
const PLANT_DEPARTED_ACTIVE: u64 = 303;
const PLANT_IDLE: u64 = 404;
const PLANT_OUTSIDE_ADMIN: u64 = 505;
const PLANT_GENERIC_LOGIN: u64 = 606;
const PLANT_SHARED_TYPE: u64 = 707;
const PLANT_BULK_DELETE: u64 = 150;
const PLANT_SOD: u64 = 250;

// Planted cases of transfer-kept-access, non-employee-access,
// admin-actions-review and device-sprawl (account number modulo 1,000).
/// Moved to another department 90 days ago, keeps a role of the old one.
const PLANT_TRANSFER: u64 = 611;
/// An external account with an export role and no end.
const PLANT_EXTERNAL_EXPORT: u64 = 622;
/// A contractor's account, its roles without an end.
const PLANT_CONTRACTOR: u64 = 633;
/// A privileged account granting and revoking on a Wednesday morning (UTC).
const PLANT_ADMIN_ACTIONS: u64 = 644;
/// A privileged account granting on a Saturday.
const PLANT_ADMIN_WEEKEND: u64 = 655;
/// Sign-ins from five devices within the last 30 days.
const PLANT_MANY_DEVICES: u64 = 666;
/// An account with export rights signing in from a device never seen.
const PLANT_NEW_DEVICE: u64 = 677;
/// An intern who can delete contracts (实习生的删除权限).
const PLANT_INTERN_DELETE: u64 = 688;
/// The plants above: active human (or external) accounts that exist all along.
const PLANTS_B: &[u64] = &[
    PLANT_TRANSFER,
    PLANT_EXTERNAL_EXPORT,
    PLANT_CONTRACTOR,
    PLANT_ADMIN_ACTIONS,
    PLANT_ADMIN_WEEKEND,
    PLANT_MANY_DEVICES,
    PLANT_NEW_DEVICE,
    PLANT_INTERN_DELETE,
];

/// Rows per bulk batch: large enough that round trips vanish, small enough
/// that memory stays at a few megabytes.
const BATCH_ROWS: usize = 20_000;

// Issue 12, rules-a: planted cases of expired-grant-still-live,
// grant-without-approval, initial-password-unchanged, privileged-without-mfa
// and orphan-account (active human accounts from before the log).
const PLANT_EXPIRED_GRANT: u64 = 111;
const PLANT_EXPIRED_GRANT_USED: u64 = 122;
const PLANT_NO_APPROVAL: u64 = 133;
const PLANT_SELF_APPROVED: u64 = 144;
const PLANT_INITIAL_PASSWORD: u64 = 155;
const PLANT_NO_MFA: u64 = 166;
const PLANT_ORPHAN_NO_MATCH: u64 = 177;
const PLANT_ORPHAN_UNKNOWN_ID: u64 = 188;
const RULES_A_PLANTS: &[u64] = &[
    PLANT_EXPIRED_GRANT,
    PLANT_EXPIRED_GRANT_USED,
    PLANT_NO_APPROVAL,
    PLANT_SELF_APPROVED,
    PLANT_INITIAL_PASSWORD,
    PLANT_NO_MFA,
    PLANT_ORPHAN_NO_MATCH,
    PLANT_ORPHAN_UNKNOWN_ID,
];
/// When the planted temporary grants ended: a month before the audit instant.
const PLANT_EXPIRED_DAYS: i64 = 30;

/// Privileged, over all data, or with a permission matching the default
/// sensitive patterns (`*.export`, `*.delete`, `user.grant`): the roles whose
/// holders have MFA and whose grants are approved, so that only the planted
/// accounts are findings of the rules about them.
fn sensitive_role(id: &str) -> bool {
    roles::roles().iter().any(|r| {
        r.id == id
            && (r.privileged
                || r.scope == "all"
                || r.permissions.iter().any(|p| {
                    p.ends_with(".export") || p.ends_with(".delete") || *p == "user.grant"
                }))
    })
}

/// A planted grant: role, granted_by, approved_by, expires_at.
type PlantedGrant<'a> = (&'a str, &'a str, Option<String>, Option<DateTime<Utc>>);

/// The planted grants of rules-a, granted when the account was created.
fn rules_a_grants(
    n: u64,
    plant: u64,
    id: &str,
    email: &str,
    created_at: DateTime<Utc>,
    b: &mut Batches,
) {
    let ended = Some(as_of() - Duration::days(PLANT_EXPIRED_DAYS));
    let approver = Some("u0000001".to_string());
    let planted: Vec<PlantedGrant> = match plant {
        // The temporary migration role, never revoked.
        PLANT_EXPIRED_GRANT => vec![(roles::MIGRATION, "u0000000", approver, ended)],
        PLANT_EXPIRED_GRANT_USED => vec![(roles::KEY_EXPORT, "u0000000", approver, ended)],
        // No approval at all; approved by the one who granted it.
        PLANT_NO_APPROVAL => vec![
            (roles::CUSTOMER_ADMIN, "u0000000", None, None),
            (
                roles::CONTRACT_ADMIN,
                "u0000002",
                Some("u0000002".into()),
                None,
            ),
        ],
        // Privileged roles approved by their holder (email in another case; id).
        PLANT_SELF_APPROVED => vec![
            (
                roles::STAFF_ADMIN,
                "u0000000",
                Some(email.to_uppercase()),
                None,
            ),
            (roles::SUPER, "u0000000", Some(id.to_string()), None),
        ],
        // Sensitive access for the account without MFA.
        PLANT_NO_MFA => vec![(roles::KEY_EXPORT, "u0000000", approver, None)],
        _ => vec![],
    };
    for (k, (role, granted_by, approved_by, expires)) in planted.into_iter().enumerate() {
        b.grants.push(vec![
            SqlValue::text(format!("g{n:07}-p{k}")),
            SqlValue::text(id),
            SqlValue::text(role),
            SqlValue::time(created_at),
            SqlValue::text(granted_by),
            SqlValue::Text(approved_by),
            SqlValue::Time(expires),
            SqlValue::Time(None),
        ]);
    }
}

struct Batches {
    people: Vec<Vec<SqlValue>>,
    principals: Vec<Vec<SqlValue>>,
    grants: Vec<Vec<SqlValue>>,
    events: Vec<Vec<SqlValue>>,
}

/// Fills an empty, migrated store. One transaction: on any error nothing
/// stays. The secondary indexes of the big tables are dropped first and built
/// once at the end.
pub async fn generate(store: &Store, opts: &GenerateOptions) -> Result<Generated, StoreError> {
    let mut tx = store.begin().await?;
    let mut dropped: Vec<IndexDef> = Vec::new();
    for table in ["principals", "grants", "events", "people"] {
        let indexes = tx.secondary_indexes(table).await?;
        tx.drop_indexes(&indexes).await?;
        dropped.extend(indexes);
    }
    write_roles(&mut tx).await?;
    let mut out = Generated::default();
    let mut b = Batches {
        people: Vec::with_capacity(BATCH_ROWS),
        principals: Vec::with_capacity(BATCH_ROWS),
        grants: Vec::with_capacity(BATCH_ROWS),
        events: Vec::with_capacity(BATCH_ROWS),
    };
    let mut next_event: u64 = 1;
    for n in 0..opts.accounts() {
        account(n, opts, &mut next_event, &mut b);
        if b.events.len() >= BATCH_ROWS || b.principals.len() >= BATCH_ROWS {
            flush(&mut tx, &mut b, &mut out).await?;
        }
    }
    flush(&mut tx, &mut b, &mut out).await?;
    tx.create_indexes(&dropped).await?;
    tx.commit().await?;
    // Fresh statistics: without them PostgreSQL plans the first scans blind.
    analyze_canonical_tables(store).await?;
    Ok(out)
}

/// Appends `count` new events after [`as_of`], spread over `minutes`, for
/// the alert benchmark: the log grows while history stays. Returns the new
/// audit instant (the end of the span).
pub async fn append_events(
    store: &Store,
    opts: &GenerateOptions,
    count: u64,
    minutes: i64,
) -> Result<DateTime<Utc>, StoreError> {
    let mut rng = Rng::with_seed(opts.seed ^ 0xa1e7);
    let start = as_of();
    let end = start + Duration::minutes(minutes);
    let accounts = opts.accounts();
    let mut tx = store.begin().await?;
    // The generated log ends at the audit instant: whatever lies after it was
    // appended by an earlier measurement, so that the command can be rerun.
    tx.execute(
        "DELETE FROM events WHERE occurred_at > $1",
        &[SqlValue::time(start)],
    )
    .await?;
    let mut rows = Vec::with_capacity(count as usize);
    for i in 0..count {
        let n = rng.u64(..accounts);
        let at = start + Duration::milliseconds(rng.i64(1..=minutes * 60_000));
        let action = pick(&mut rng, ACTIONS);
        let records = (action == "export").then(|| rng.i64(1..=150));
        rows.push(event_row(
            format!("n{i:09}"),
            at,
            Some(principal_id(n)),
            action,
            Some("customer"),
            records,
            ip(n, rng.u64(..2)),
            device(n, rng.u64(..2)),
            true,
        ));
    }
    tx.bulk_insert(tables::EVENTS.name, &names(&tables::EVENTS), &rows)
        .await?;
    tx.commit().await?;
    analyze_canonical_tables(store).await?;
    Ok(end)
}

/// ANALYZE of the canonical tables only: a bare ANALYZE inside a
/// transaction locks every table of the database (every schema), which
/// exhausts PostgreSQL's lock table on a shared server.
/// (SQLite's ANALYZE takes one name at most, and its database is ours alone.)
async fn analyze_canonical_tables(store: &Store) -> accessaudit::store::Result<()> {
    let sql = match store.backend() {
        accessaudit::store::Backend::Sqlite => "ANALYZE".to_string(),
        accessaudit::store::Backend::Postgres => {
            let names: Vec<&str> = tables::ALL.iter().map(|t| t.name).collect();
            format!("ANALYZE {}", names.join(", "))
        }
    };
    store.execute(&sql, &[]).await?;
    Ok(())
}

async fn flush(tx: &mut Tx, b: &mut Batches, out: &mut Generated) -> Result<(), StoreError> {
    out.people += insert(tx, &tables::PEOPLE, &mut b.people).await?;
    out.principals += insert(tx, &tables::PRINCIPALS, &mut b.principals).await?;
    out.grants += insert(tx, &tables::GRANTS, &mut b.grants).await?;
    out.events += insert(tx, &tables::EVENTS, &mut b.events).await?;
    Ok(())
}

async fn insert(
    tx: &mut Tx,
    spec: &TableSpec,
    rows: &mut Vec<Vec<SqlValue>>,
) -> Result<u64, StoreError> {
    let n = tx.bulk_insert(spec.name, &names(spec), rows).await?;
    rows.clear();
    Ok(n)
}

fn names(spec: &TableSpec) -> Vec<&'static str> {
    spec.columns.iter().map(|c| c.name).collect()
}

async fn write_roles(tx: &mut Tx) -> Result<(), StoreError> {
    let roles: Vec<Vec<SqlValue>> = roles::roles()
        .iter()
        .map(|r| {
            vec![
                SqlValue::text(r.id),
                SqlValue::text(r.name),
                SqlValue::text(r.description),
                SqlValue::text(r.scope),
                SqlValue::Bool(Some(r.privileged)),
                // No role owners: the benchmark has no access reviews.
                SqlValue::Text(None),
                SqlValue::text(tables::DEFAULT_APPLICATION),
            ]
        })
        .collect();
    tx.bulk_insert(tables::ROLES.name, &names(&tables::ROLES), &roles)
        .await?;
    let perms: Vec<Vec<SqlValue>> = roles::roles()
        .iter()
        .flat_map(|r| {
            r.permissions
                .iter()
                .map(|p| vec![SqlValue::text(r.id), SqlValue::text(*p)])
        })
        .collect();
    tx.bulk_insert(
        tables::ROLE_PERMISSIONS.name,
        &names(&tables::ROLE_PERMISSIONS),
        &perms,
    )
    .await?;
    Ok(())
}

fn pick<T: Copy>(rng: &mut Rng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.u32(..total);
    for (v, w) in table {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    table[0].0
}

pub fn principal_id(n: u64) -> String {
    format!("u{n:07}")
}

fn ip(n: u64, k: u64) -> Option<String> {
    Some(format!(
        "10.{}.{}.{}",
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        ((n & 0xff) + 97 * k) & 0xff
    ))
}

fn device(n: u64, k: u64) -> Option<String> {
    Some(format!("d{n:07}-{k}"))
}

#[allow(clippy::too_many_arguments)]
fn event_row(
    id: String,
    at: DateTime<Utc>,
    principal: Option<String>,
    action: &str,
    object: Option<&str>,
    records: Option<i64>,
    ip: Option<String>,
    device: Option<String>,
    success: bool,
) -> Vec<SqlValue> {
    vec![
        SqlValue::Text(Some(id)),
        SqlValue::time(at),
        SqlValue::Text(principal),
        SqlValue::text(action),
        SqlValue::Text(object.map(str::to_string)),
        SqlValue::Int(records),
        SqlValue::Text(ip),
        SqlValue::Text(device),
        SqlValue::text(if success { "success" } else { "failure" }),
    ]
}

/// One account: its person, its grants and its event log.
fn account(n: u64, opts: &GenerateOptions, next_event: &mut u64, b: &mut Batches) {
    let mut rng = Rng::with_seed(opts.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n);
    let plant = n % 1000;
    let t = as_of();
    let log_start = t - Duration::days(LOG_DAYS);
    let (dept, title) = pick(
        &mut rng,
        &TITLES
            .iter()
            .map(|(d, t, w)| ((*d, *t), *w))
            .collect::<Vec<_>>(),
    );
    let id = principal_id(n);
    let person_id = format!("p{n:07}");
    let login = match plant {
        PLANT_GENERIC_LOGIN => format!("sales{n:07}"),
        _ => format!("emp{n:07}"),
    };
    let email = format!("{login}@hxtrade.example.com");
    let account_type = match (plant, rng.u32(..1000)) {
        (PLANT_SHARED_TYPE, _) => "shared",
        (
            PLANT_BULK_EXPORT
            | PLANT_BULK_DELETE
            | PLANT_SOD
            | PLANT_CONCURRENT
            | PLANT_DEPARTED_ACTIVE
            | PLANT_IDLE,
            _,
        ) => "human",
        (_, 0..=14) => "service",
        (_, 15..=24) => "external",
        _ => "human",
    };
    let account_type = match plant {
        PLANT_EXTERNAL_EXPORT => "external",
        p if PLANTS_B.contains(&p) => "human",
        _ => account_type,
    };
    let created_at = log_start - Duration::days(rng.i64(0..1500))
        + Duration::days(if rng.u32(..10) == 0 {
            rng.i64(0..LOG_DAYS)
        } else {
            0
        });
    let created_at = if PLANTS_B.contains(&plant) {
        created_at.min(log_start)
    } else {
        created_at
    };
    // HR: 6% have left; their accounts are disabled on the day, except the
    // planted ones.
    let left = plant == PLANT_DEPARTED_ACTIVE || (plant > 710 && rng.u32(..100) < 6);
    let terminated_at = left.then(|| t - Duration::days(rng.i64(10..LOG_DAYS)));
    // rules-a plants: active human accounts older than the log (their
    // grants end inside it); the orphans have no HR record.
    let rules_a_plant = RULES_A_PLANTS.contains(&plant);
    let account_type = if rules_a_plant { "human" } else { account_type };
    let created_at = if rules_a_plant {
        created_at.min(log_start)
    } else {
        created_at
    };
    let in_hr = matches!(account_type, "human" | "external")
        && !matches!(plant, PLANT_ORPHAN_NO_MATCH | PLANT_ORPHAN_UNKNOWN_ID);
    let mut status = match rng.u32(..100) {
        0..=2 => "pending",
        3..=5 => "disabled",
        6 => "locked",
        _ => "active",
    };
    if left {
        status = "disabled";
    }
    if rules_a_plant {
        status = "active";
    }
    if matches!(
        plant,
        PLANT_BULK_EXPORT
            | PLANT_BULK_DELETE
            | PLANT_SOD
            | PLANT_CONCURRENT
            | PLANT_DEPARTED_ACTIVE
            | PLANT_IDLE
            | PLANT_OUTSIDE_ADMIN
            | PLANT_GENERIC_LOGIN
            | PLANT_SHARED_TYPE
    ) {
        status = "active";
    }
    if PLANTS_B.contains(&plant) {
        status = "active";
    }
    // The department before a planted transfer, and a role of it that the
    // new department does not hold.
    let (old_dept, old_role) = if dept == "Finance" {
        ("Support", roles::SUPPORT_LEAD)
    } else {
        ("Finance", roles::FINANCE_OFFICER)
    };
    let has_person = matches!(account_type, "human" | "external");
    if in_hr {
        b.people.push(vec![
            SqlValue::text(person_id.clone()),
            // Upper case for some: accounts match HR by email ignoring case.
            SqlValue::text(if n.is_multiple_of(7) {
                email.to_uppercase()
            } else {
                email.clone()
            }),
            SqlValue::text(format!("Person {n}")),
            SqlValue::text(dept),
            SqlValue::text(title),
            SqlValue::Text(None),
            SqlValue::text(if left { "terminated" } else { "active" }),
            SqlValue::time(created_at - Duration::days(3)),
            SqlValue::Time(terminated_at),
            // department_since: the hire, or the planted transfer.
            SqlValue::time(if plant == PLANT_TRANSFER {
                t - Duration::days(90)
            } else {
                created_at - Duration::days(3)
            }),
            // worker_type: NULL (an employee) for a third.
            SqlValue::Text(
                match (plant, account_type, title) {
                    (PLANT_CONTRACTOR, _, _) => Some("contractor"),
                    (PLANT_INTERN_DELETE, _, _) | (_, _, "Sales Intern") => Some("intern"),
                    (_, "external", _) => Some("vendor"),
                    _ if n.is_multiple_of(3) => None,
                    _ => Some("employee"),
                }
                .map(str::to_string),
            ),
        ]);
    }

    // The event log: an exponential number of events per account (many quiet
    // accounts, a few busy ones), uniformly over the account's active span.
    let active_from = created_at.max(log_start);
    let mut active_to = terminated_at.unwrap_or(t);
    if plant == PLANT_IDLE {
        active_to = t - Duration::days(120 + rng.i64(0..200));
    }
    if status == "pending" {
        active_to = active_from; // created, never activated
    }
    let span_ms = (active_to - active_from).num_milliseconds().max(0);
    let mean = opts.events_per_account;
    let count = if span_ms == 0 {
        0
    } else {
        (-(1.0 - rng.f64()).ln() * mean).round() as u64
    };
    let mut last_login: Option<DateTime<Utc>> = None;
    let objects = objects_of(dept);
    let mut push = |b: &mut Batches,
                    at: DateTime<Utc>,
                    action: &str,
                    records: Option<i64>,
                    ip_k: u64,
                    dev_k: u64,
                    ok: bool,
                    rng: &mut Rng| {
        if action == "login" && ok && last_login.is_none_or(|l| at > l) {
            last_login = Some(at);
        }
        let object = match action {
            "login" | "logout" | "login_failed" => None,
            _ => Some(objects[rng.usize(..objects.len())]),
        };
        b.events.push(event_row(
            format!("e{:010}", *next_event),
            at,
            Some(id.clone()),
            action,
            object,
            records,
            ip(n, ip_k),
            device(n, dev_k),
            ok,
        ));
        *next_event += 1;
    };
    for _ in 0..count {
        let at = active_from + Duration::milliseconds(rng.i64(0..=span_ms));
        let action = pick(&mut rng, ACTIONS);
        let records = match action {
            "export" if rng.u32(..10) == 0 => None,
            "export" => Some(rng.i64(1..=150)),
            _ => None,
        };
        let (ok, action) = match action {
            "login_failed" => (false, "login"),
            a => (true, a),
        };
        let (ip_k, dev_k) = (rng.u64(..2), rng.u64(..2));
        push(b, at, action, records, ip_k, dev_k, ok, &mut rng);
    }
    match plant {
        // Signed in, never changed the initial password.
        PLANT_INITIAL_PASSWORD => {
            let at = t - Duration::days(5);
            push(b, at, "login", None, 0, 0, true, &mut rng);
        }
        // Exports through a temporary grant that ended a month ago.
        PLANT_EXPIRED_GRANT_USED => {
            let at = t - Duration::days(PLANT_EXPIRED_DAYS - 20);
            push(b, at, "export", Some(20), 0, 0, true, &mut rng);
        }
        _ => {}
    }
    let recent = |rng: &mut Rng| t - Duration::minutes(rng.i64(90..29 * 24 * 60));
    match plant {
        PLANT_BULK_EXPORT => {
            let start = recent(&mut rng);
            for k in 0..5 {
                push(
                    b,
                    start + Duration::minutes(6 * k),
                    "export",
                    Some(300),
                    0,
                    0,
                    true,
                    &mut rng,
                );
            }
        }
        PLANT_BULK_DELETE => {
            let start = recent(&mut rng);
            for k in 0..5 {
                push(
                    b,
                    start + Duration::minutes(6 * k),
                    "delete",
                    Some(30),
                    0,
                    0,
                    true,
                    &mut rng,
                );
            }
        }
        PLANT_CONCURRENT => {
            let start = recent(&mut rng);
            for k in 0..3 {
                push(
                    b,
                    start + Duration::minutes(10 * k as i64),
                    "login",
                    None,
                    k,
                    k,
                    true,
                    &mut rng,
                );
            }
        }
        PLANT_DEPARTED_ACTIVE => {
            if let Some(left_at) = terminated_at {
                let at = left_at + Duration::days(3).min(t - left_at);
                push(b, at, "login", None, 0, 0, true, &mut rng);
            }
        }
        _ => {}
    }
    // Wednesday 28 October 2026, 10:00 UTC, and Saturday 31 October.
    let wednesday = t - Duration::days(4) + Duration::hours(2);
    let saturday = t - Duration::days(1);
    match plant {
        PLANT_ADMIN_ACTIONS => {
            for (k, action) in ["grant", "revoke", "grant"].iter().enumerate() {
                let at = wednesday + Duration::minutes(10 * k as i64);
                push(b, at, action, None, 0, 0, true, &mut rng);
            }
        }
        PLANT_ADMIN_WEEKEND => push(b, saturday, "grant", None, 0, 0, true, &mut rng),
        PLANT_MANY_DEVICES => {
            let start = recent(&mut rng);
            for k in 0..5 {
                let at = start + Duration::minutes(30 * k as i64);
                push(b, at, "login", None, 0, 10 + k, true, &mut rng);
            }
        }
        PLANT_NEW_DEVICE => {
            let at = recent(&mut rng);
            push(b, at, "login", None, 0, 9, true, &mut rng);
        }
        _ => {}
    }

    // A fifth of the sources do not keep last_login_at; the rest keep it
    // (idle accounts then rest on the column alone when the log is younger).
    let last_login_at = if n.is_multiple_of(5) {
        None
    } else {
        last_login.or_else(|| (rng.u32(..3) == 0).then(|| created_at + Duration::days(1)))
    };
    // Holders of sensitive roles have MFA (but the planted one); everyone
    // who ever signed in changed the initial password within three days
    // (but the planted ones: never, or at the very instant of creation).
    let mfa_draw = rng.u32(..10) < 8;
    let holds_sensitive = roles::roles_of(title).iter().any(|r| sensitive_role(r));
    let mfa = plant != PLANT_NO_MFA && (mfa_draw || holds_sensitive);
    let password_changed_at = match plant {
        PLANT_INITIAL_PASSWORD if (n / 1000) % 2 == 1 => Some(created_at),
        PLANT_INITIAL_PASSWORD => None,
        _ => (status != "pending").then(|| created_at + Duration::hours(1 + (n % 72) as i64)),
    };
    b.principals.push(vec![
        SqlValue::text(id.clone()),
        SqlValue::text(login.clone()),
        SqlValue::text(format!("User {n}")),
        SqlValue::Text(has_person.then(|| email.clone())),
        // One in ten is matched to HR by email instead of person_id.
        SqlValue::Text((has_person && n % 10 != 3).then(|| person_id.clone())),
        SqlValue::Text(match plant {
            // the application still shows the department before the transfer
            PLANT_TRANSFER => Some(old_dept.to_string()),
            _ => (!n.is_multiple_of(4)).then(|| dept.to_string()),
        }),
        SqlValue::text(account_type),
        SqlValue::text(status),
        SqlValue::Bool(Some(mfa)),
        SqlValue::time(created_at),
        SqlValue::Time(last_login_at),
        SqlValue::Time(password_changed_at),
        // One application (the store's default), no employee number.
        SqlValue::text(tables::DEFAULT_APPLICATION),
        SqlValue::Text(None),
    ]);
    if plant == PLANT_ORPHAN_NO_MATCH {
        // No person_id: only its email could link it to HR, which lacks it.
        let column = tables::PRINCIPALS
            .columns
            .iter()
            .position(|c| c.name == "person_id");
        if let (Some(row), Some(i)) = (b.principals.last_mut(), column) {
            row[i] = SqlValue::Text(None);
        }
    }
    rules_a_grants(n, plant, &id, &email, created_at, b);

    // Grants: Staff plus the roles of the title, granted at creation; some
    // revoked, some temporary.
    let mut role_ids: Vec<&str> = vec![roles::STAFF];
    role_ids.extend(roles::roles_of(title));
    if plant == PLANT_OUTSIDE_ADMIN {
        role_ids.push(roles::SUPER);
    }
    if plant == PLANT_SOD {
        // Creates contracts and controls their approval flow.
        role_ids.extend([roles::SALES_REP, roles::APPROVAL_ADMIN]);
    }
    for (k, role) in role_ids.iter().enumerate() {
        let revoked = (rng.u32(..100) < 4).then(|| created_at + Duration::days(rng.i64(1..400)));
        let expires = (rng.u32(..100) < 3).then(|| created_at + Duration::days(rng.i64(30..900)));
        // A temporary grant that ended is revoked on the day.
        let revoked = match expires {
            Some(e) if e <= t => Some(revoked.map_or(e, |r| r.min(e))),
            _ => revoked,
        };
        b.grants.push(vec![
            SqlValue::text(format!("g{n:07}-{k}")),
            SqlValue::text(id.clone()),
            SqlValue::text(*role),
            SqlValue::time(created_at),
            SqlValue::text("u0000000"),
            // Sensitive grants are always approved; a tenth of the others not.
            SqlValue::Text(
                (rng.u32(..10) != 0 || sensitive_role(role)).then(|| "u0000001".to_string()),
            ),
            SqlValue::Time(expires),
            SqlValue::Time(revoked),
        ]);
    }
    // The planted grants above, without an end.
    let planted: &[&str] = match plant {
        PLANT_TRANSFER => &[old_role],
        PLANT_EXTERNAL_EXPORT | PLANT_NEW_DEVICE => &[roles::KEY_EXPORT],
        PLANT_ADMIN_ACTIONS | PLANT_ADMIN_WEEKEND => &[roles::STAFF_ADMIN],
        PLANT_INTERN_DELETE => &[roles::CONTRACT_ADMIN],
        _ => &[],
    };
    for (k, role) in planted.iter().enumerate() {
        b.grants.push(vec![
            SqlValue::text(format!("g{n:07}-p{k}")),
            SqlValue::text(id.clone()),
            SqlValue::text(*role),
            SqlValue::time(created_at),
            SqlValue::text("u0000000"),
            SqlValue::text("u0000001"),
            SqlValue::Time(None),
            SqlValue::Time(None),
        ]);
    }
}

/// Writes the first `rows` events of the data set as a CSV file with the
/// canonical header: the input of the import benchmark.
pub fn write_events_csv(
    path: &std::path::Path,
    opts: &GenerateOptions,
    rows: u64,
) -> std::io::Result<u64> {
    let file = std::fs::File::create(path)?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    w.write_record(names(&tables::EVENTS))?;
    let mut b = Batches {
        people: vec![],
        principals: vec![],
        grants: vec![],
        events: Vec::with_capacity(BATCH_ROWS),
    };
    let mut next = 1;
    let mut written = 0;
    let mut n = 0;
    while written < rows {
        account(n, opts, &mut next, &mut b);
        n += 1;
        for row in b.events.drain(..) {
            if written == rows {
                break;
            }
            w.write_record(row.iter().map(csv_cell))?;
            written += 1;
        }
        b.people.clear();
        b.principals.clear();
        b.grants.clear();
    }
    w.flush()?;
    Ok(written)
}

fn csv_cell(v: &SqlValue) -> String {
    match v {
        SqlValue::Text(Some(s)) => s.clone(),
        SqlValue::Int(Some(i)) => i.to_string(),
        SqlValue::Float(Some(f)) => f.to_string(),
        SqlValue::Bool(Some(b)) => b.to_string(),
        SqlValue::Time(Some(t)) => accessaudit::model::format_instant(*t),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_rows_and_one_account_at_a_time() {
        let opts = GenerateOptions::default();
        let run = || {
            let mut b = Batches {
                people: vec![],
                principals: vec![],
                grants: vec![],
                events: vec![],
            };
            let mut next = 1;
            for n in 0..50 {
                account(n, &opts, &mut next, &mut b);
            }
            b
        };
        let (a, c) = (run(), run());
        assert_eq!(a.events, c.events);
        assert_eq!(a.grants, c.grants);
        assert_eq!(a.principals.len(), 50);
        assert!(a.grants.len() >= 50, "everyone holds Staff at least");
    }

    #[test]
    fn exports_are_rare_and_sign_ins_and_views_dominate() {
        let opts = GenerateOptions {
            events_per_account: 200.0,
            ..Default::default()
        };
        let mut b = Batches {
            people: vec![],
            principals: vec![],
            grants: vec![],
            events: vec![],
        };
        let mut next = 1;
        for n in 0..200 {
            account(n, &opts, &mut next, &mut b);
        }
        let count = |a: &str| {
            b.events
                .iter()
                .filter(|r| r[3] == SqlValue::text(a))
                .count()
        };
        let total = b.events.len();
        assert!(total > 10_000, "{total}");
        assert!(count("login") + count("view") > total * 7 / 10);
        assert!(count("export") * 30 < total, "exports are rare");
        assert!(count("export") > 0);
    }
}
