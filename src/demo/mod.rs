//! `accessaudit demo`: a realistic CRM organisation with planted cases.
//!
//! A trading company of about 400 CRM accounts, modelled on WukongCRM 11:
//! Sales (the largest department, nine teams), Support, Finance, Marketing
//! and IT, an HR roster with leavers, transfers and people on leave, the
//! company directory in front of the CRM (a second application: one
//! account per employee, see `directory`), the
//! WukongCRM seed roles (超级管理员, 销售经理角色, 销售员角色, …) with dotted
//! permissions, and six months of sign-ins, views, updates, exports and admin
//! actions. Among many clean accounts it plants a few cases of every shipped
//! rule; [`DemoOrg::planted`] lists exactly what the rules must find.
//!
//! Everything is generated from one seed (`fastrand`), written as CSV text
//! with the canonical headers and loaded through the real import path
//! ([`crate::collect::csv_import::import_reader`]), so the demo also exercises
//! the CSV contract.
//!
//! - `roles`: the roles, modelled on WukongCRM's seed roles;
//! - `org`: the roster, the accounts and their grants;
//! - `plant`: the planted cases, one paragraph each;
//! - `activity`: the event log the accounts leave behind;
//! - `names`: Chinese names for the roster.

mod activity;
mod builder;
pub use builder::objects_of;
mod directory;
mod timeline;
pub use timeline::as_of;
mod names;
pub(crate) mod org;
mod plant;
pub mod roles;

use std::io::Cursor;
use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::collect::csv_import::import_reader;
use crate::collect::tables::{self, TableSpec};
use crate::model::format_instant;
use crate::store::Store;

/// What the demo built.
#[derive(Debug, Clone)]
pub struct DemoOrg {
    pub as_of: DateTime<Utc>,
    pub people: u64,
    pub principals: u64,
    pub roles: u64,
    pub grants: u64,
    pub events: u64,
    /// The planted cases: (rule id, subject type, subject id).
    pub planted: Vec<(String, String, String)>,
    /// Its applications: (name, description, the owner's people.id,
    /// whether it is a directory).
    pub applications: Vec<(&'static str, &'static str, String, bool)>,
}

/// The generated organisation as CSV files, before anything is imported.
#[derive(Debug, Clone)]
pub struct DemoData {
    pub org: DemoOrg,
    /// One CSV text per canonical table, in import order (people first).
    pub tables: Vec<(&'static TableSpec, Vec<u8>)>,
}

/// Generates the organisation for `seed` without touching a store: the same
/// seed always gives byte-identical CSV.
pub fn generate(seed: u64) -> anyhow::Result<DemoData> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut org = org::build(&mut rng);
    let mut events = activity::generate(&org, &mut rng);
    events.append(&mut org.events);
    let cutoff = as_of();
    events.retain(|e| e.at < cutoff);
    // Stable: events of one instant keep their generation order.
    events.sort_by_key(|e| e.at);
    org::settle_last_logins(&mut org, &events);

    let out = vec![
        (&tables::PEOPLE, people_csv(&org)?),
        (&tables::PRINCIPALS, principals_csv(&org)?),
        (&tables::ROLES, roles_csv(&org)?),
        (&tables::ROLE_PERMISSIONS, role_permissions_csv()?),
        (&tables::GRANTS, grants_csv(&org)?),
        (&tables::EVENTS, events_csv(&events)?),
    ];

    let mut planted = org.planted.clone();
    planted.sort();
    let owner = |title: &str| holder_of(&org, title);
    let applications = vec![
        (
            directory::CRM,
            "WukongCRM 11: customers, contracts, receivables",
            owner("Sales Director"),
            false,
        ),
        (
            directory::DIRECTORY,
            "The company directory in front of the CRM (single sign-on)",
            owner("IT Manager"),
            true,
        ),
    ];
    Ok(DemoData {
        org: DemoOrg {
            as_of: as_of(),
            people: org.people.len() as u64,
            principals: (org.accounts.len() + org.directory.len()) as u64,
            roles: (roles::roles().len() + directory::groups().len()) as u64,
            grants: (org.grants.len() + org.directory.len()) as u64,
            events: events.len() as u64,
            planted,
            applications,
        },
        tables: out,
    })
}

/// Builds the demo organisation into `store` through the CSV import path,
/// each table as one file: all or nothing.
pub async fn build(store: &Store, seed: u64) -> anyhow::Result<DemoOrg> {
    let data = generate(seed)?;
    for (spec, bytes) in data.tables {
        let file = PathBuf::from(format!("demo/{}.csv", spec.name));
        import_reader(store, spec, &file, Cursor::new(bytes), None)
            .await
            .with_context(|| format!("loading the demo's {} table", spec.name))?;
    }
    Ok(data.org)
}

/// The id of the person with this title (the owners of roles and
/// applications: one IT manager, one sales director).
fn holder_of(org: &builder::Org, title: &str) -> String {
    org.people
        .iter()
        .find(|p| p.title == title)
        .map(|p| p.id.clone())
        .unwrap_or_default()
}

fn t(at: DateTime<Utc>) -> String {
    format_instant(at)
}

fn ot(at: Option<DateTime<Utc>>) -> String {
    at.map(format_instant).unwrap_or_default()
}

fn os(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn write_csv<I>(spec: &TableSpec, rows: I) -> anyhow::Result<Vec<u8>>
where
    I: IntoIterator<Item = Vec<String>>,
{
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(spec.columns.iter().map(|c| c.name))?;
    for row in rows {
        debug_assert_eq!(row.len(), spec.columns.len(), "{}", spec.name);
        w.write_record(&row)?;
    }
    w.into_inner()
        .map_err(|e| anyhow::anyhow!("writing the demo's {} CSV: {e}", spec.name))
}

fn people_csv(org: &builder::Org) -> anyhow::Result<Vec<u8>> {
    write_csv(
        &tables::PEOPLE,
        org.people.iter().map(|p| {
            vec![
                p.id.clone(),
                p.email.clone(),
                p.full_name.clone(),
                p.department.to_string(),
                p.title.to_string(),
                os(&p.manager_id),
                p.status.to_string(),
                t(p.hired_at),
                ot(p.terminated_at),
                ot(p.department_since),
                p.worker_type.unwrap_or_default().to_string(),
            ]
        }),
    )
}

fn principals_csv(org: &builder::Org) -> anyhow::Result<Vec<u8>> {
    let crm = org.accounts.iter().map(|a| {
        vec![
            a.id.clone(),
            a.login.clone(),
            a.display_name.clone(),
            os(&a.email),
            os(&a.person_id),
            a.department.to_string(),
            a.account_type.to_string(),
            a.status.to_string(),
            a.mfa.to_string(),
            t(a.created_at),
            ot(a.last_login_at),
            ot(a.password_changed_at),
            directory::CRM.to_string(),
            String::new(),
        ]
    });
    let directory = org.directory.iter().map(|a| {
        vec![
            a.id.clone(),
            a.login.clone(),
            a.display_name.clone(),
            a.email.clone(),
            a.person_id.clone(),
            a.department.to_string(),
            "human".to_string(),
            a.status.to_string(),
            "true".to_string(),
            t(a.created_at),
            ot(a.last_login_at),
            t(a.password_changed_at),
            directory::DIRECTORY.to_string(),
            a.person_id.clone(),
        ]
    });
    write_csv(&tables::PRINCIPALS, crm.chain(directory))
}

fn roles_csv(org: &builder::Org) -> anyhow::Result<Vec<u8>> {
    // Role owners (the reviewers of `role_owner` access reviews): IT's
    // manager owns the administrative roles, the sales director the rest.
    let owner = |title: &str| holder_of(org, title);
    let (it_owner, business_owner) = (owner("IT Manager"), owner("Sales Director"));
    let crm = roles::roles().iter().map(|r| {
        vec![
            r.id.to_string(),
            r.name.to_string(),
            r.description.to_string(),
            r.scope.to_string(),
            r.privileged.to_string(),
            if r.privileged {
                it_owner.clone()
            } else {
                business_owner.clone()
            },
            directory::CRM.to_string(),
        ]
    });
    let groups = directory::groups().into_iter().map(|(id, name)| {
        vec![
            id,
            name.to_string(),
            "the directory group of every employee: single sign-on, no CRM permission".to_string(),
            "self".to_string(),
            "false".to_string(),
            it_owner.clone(),
            directory::DIRECTORY.to_string(),
        ]
    });
    write_csv(&tables::ROLES, crm.chain(groups))
}

fn role_permissions_csv() -> anyhow::Result<Vec<u8>> {
    write_csv(
        &tables::ROLE_PERMISSIONS,
        roles::roles().iter().flat_map(|r| {
            r.permissions
                .iter()
                .map(|p| vec![r.id.to_string(), p.to_string()])
        }),
    )
}

fn grants_csv(org: &builder::Org) -> anyhow::Result<Vec<u8>> {
    let crm = org.grants.iter().map(|g| {
        vec![
            g.id.clone(),
            g.principal_id.clone(),
            g.role_id.to_string(),
            t(g.granted_at),
            os(&g.granted_by),
            os(&g.approved_by),
            ot(g.expires_at),
            ot(g.revoked_at),
        ]
    });
    let staff = directory::groups()[0].0.clone();
    let memberships = org.directory.iter().map(|a| {
        vec![
            format!("{}@{}", a.id, directory::STAFF_GROUP),
            a.id.clone(),
            staff.clone(),
            t(a.created_at),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]
    });
    write_csv(&tables::GRANTS, crm.chain(memberships))
}

fn events_csv(events: &[timeline::Event]) -> anyhow::Result<Vec<u8>> {
    write_csv(
        &tables::EVENTS,
        events.iter().enumerate().map(|(i, e)| {
            vec![
                format!("ev{:06}", i + 1),
                t(e.at),
                e.principal.clone(),
                e.action.to_string(),
                e.object.unwrap_or_default().to_string(),
                e.records.map(|n| n.to_string()).unwrap_or_default(),
                os(&e.ip),
                os(&e.device),
                (if e.success { "success" } else { "failure" }).to_string(),
            ]
        }),
    )
}
