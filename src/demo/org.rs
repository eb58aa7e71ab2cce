//! The organisation: HR roster, CRM accounts, roles, grants, and the planted
//! cases (with the few events that make them).
//!
//! The clean population is clean by construction under the shipped rule
//! defaults: everyone who holds an export, delete or grant right uses it at
//! least monthly; privileged roles stay in IT; every sensitive role is held by
//! a whole title group, never by one peer in a crowd; nobody signs in from
//! more than two IPs or devices; no export window reaches 200 records; leavers
//! are disabled on the day.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use fastrand::Rng;

use super::names;
use super::roles::*;
use super::{Event, date, days_before, window_start};

/// The WukongCRM go-live: accounts of earlier hires were created that day.
fn rollout() -> DateTime<Utc> {
    date(2019, 3, 4) + Duration::hours(9)
}

pub(crate) const DOMAIN: &str = "hxtrade.example.com";

pub(crate) struct Person {
    pub id: String,
    pub email: String,
    pub full_name: String,
    pub department: &'static str,
    pub title: &'static str,
    pub manager_id: Option<String>,
    pub status: &'static str,
    pub hired_at: DateTime<Utc>,
    pub terminated_at: Option<DateTime<Utc>>,
    pub department_since: Option<DateTime<Utc>>,
}

pub(crate) struct Account {
    pub id: String,
    pub login: String,
    pub display_name: String,
    pub email: Option<String>,
    pub person_id: Option<String>,
    pub department: &'static str,
    pub account_type: &'static str,
    pub status: &'static str,
    pub mfa: bool,
    pub created_at: DateTime<Utc>,
    /// Set by [`settle_last_logins`], or fixed here for sign-ins older than the log.
    pub last_login_at: Option<DateTime<Utc>>,
    pub password_changed_at: Option<DateTime<Utc>>,
    pub habit: Habit,
    /// Disabled by IT: when and by whom (an `update` event on the user).
    pub disabled: Option<(DateTime<Utc>, String)>,
}

/// How an account is used, day by day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// Working days: sign in, view, update, export or delete on a cadence.
    Worker,
    /// Signs in every few weeks and does nothing else.
    LoginOnly,
    /// The ERP sync: a sign-in a night and an update every hour.
    Etl,
    /// Ticket intake from the support mailbox.
    Intake,
    /// The reception PC's shared account.
    Frontdesk,
    /// The external agency.
    Agency,
    /// The installer's `admin` account, used by IT on Mondays.
    Admin,
    /// The `sales01` team login.
    Team,
    /// Never used.
    Dormant,
}

#[derive(Debug, Clone)]
pub(crate) struct Cadence {
    pub object: &'static str,
    pub gap: (i64, i64),
    pub records: (i64, i64),
    /// Share of exports without a row count (WukongCRM's 全部导出).
    pub uncounted: f64,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Habit {
    pub pattern: Pattern,
    /// Active from this instant to the end of the day `until` (inclusive).
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub login_p: f64,
    pub weekend_p: f64,
    /// One or two of each: never three (that would be a shared account).
    pub ips: Vec<String>,
    pub devices: Vec<String>,
    pub objects: &'static [&'static str],
    pub update_p: f64,
    pub export: Option<Cadence>,
    pub delete: Option<Cadence>,
    /// IT: daily chance of user / role maintenance (`update`).
    pub admin_p: f64,
    /// `Team`: the accounts whose owners share this login.
    pub members: Vec<usize>,
}

pub(crate) struct Grant {
    pub id: String,
    pub principal_id: String,
    pub role_id: &'static str,
    pub granted_at: DateTime<Utc>,
    pub granted_by: Option<String>,
    pub approved_by: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub(crate) struct Org {
    pub people: Vec<Person>,
    pub accounts: Vec<Account>,
    pub grants: Vec<Grant>,
    /// The planted cases' own events.
    pub events: Vec<Event>,
    pub planted: Vec<(String, String, String)>,
}

/// Who is who: the accounts (indexes) the planted cases are picked from, and
/// the HR records of two department heads.
pub(crate) struct Crew {
    pub crm_admins: Vec<usize>,
    pub net: Vec<usize>,
    pub managers: Vec<usize>,
    pub seniors: Vec<usize>,
    pub aes: Vec<usize>,
    pub interns: Vec<usize>,
    pub agents: Vec<usize>,
    pub fin_mgrs: Vec<usize>,
    pub accountants: Vec<usize>,
    pub billing: Vec<usize>,
    pub marketers: Vec<usize>,
    pub fin_head: usize,
    pub mkt_head: usize,
}

pub(crate) struct Builder<'r> {
    pub(crate) rng: &'r mut Rng,
    pub(crate) people: Vec<Person>,
    pub(crate) person_account: Vec<Option<usize>>,
    pub(crate) accounts: Vec<Account>,
    pub(crate) account_person: Vec<Option<usize>>,
    pub(crate) grants: Vec<Grant>,
    pub(crate) events: Vec<Event>,
    pub(crate) planted: Vec<(String, String, String)>,
    pub(crate) logins: BTreeSet<String>,
    /// Per person: the login and the name in characters.
    pub(crate) person_names: Vec<(String, String)>,
    /// IT staff who grant and revoke roles and disable accounts.
    pub(crate) granters: Vec<usize>,
}

fn dept_code(dept: &str) -> u32 {
    match dept {
        "IT" => 10,
        "Sales" => 20,
        "Support" => 30,
        "Finance" => 40,
        "Marketing" => 50,
        _ => 90,
    }
}

pub(crate) fn objects_of(dept: &str) -> &'static [&'static str] {
    match dept {
        "Sales" => &[
            "customer", "customer", "lead", "contact", "business", "contract",
        ],
        "Support" => &["ticket", "ticket", "ticket", "customer"],
        "Finance" => &["receivable", "invoice", "contract", "receivable"],
        "Marketing" => &["lead", "campaign", "lead"],
        _ => &["user", "role", "system", "customer"],
    }
}

fn cadence(object: &'static str, gap: (i64, i64), records: (i64, i64), uncounted: f64) -> Cadence {
    Cadence {
        object,
        gap,
        records,
        uncounted,
        from: None,
        until: None,
    }
}

/// What a title exports or deletes, and how often: at least monthly, so that
/// every such right is in use, and never 200 records in one hour.
pub(crate) fn cadences_of(title: &str) -> (Option<Cadence>, Option<Cadence>) {
    match title {
        "Sales Director" => (Some(cadence("customer", (10, 25), (20, 150), 0.2)), None),
        "Sales Manager" => (Some(cadence("customer", (7, 18), (20, 160), 0.25)), None),
        "Senior Account Executive" => (Some(cadence("customer", (8, 24), (15, 120), 0.2)), None),
        "Sales Operations Analyst" => (None, Some(cadence("contract", (8, 25), (1, 1), 0.0))),
        "Support Manager" | "Support Team Lead" => {
            (Some(cadence("ticket", (10, 26), (20, 150), 0.2)), None)
        }
        "Finance Director" | "Finance Manager" | "Accountant" => {
            (Some(cadence("receivable", (6, 20), (10, 90), 0.1)), None)
        }
        "Marketing Director" | "Marketing Specialist" | "Internal Communications Manager" => {
            (Some(cadence("lead", (5, 14), (30, 180), 0.3)), None)
        }
        _ => (None, None),
    }
}

fn capitalise(part: &str) -> String {
    let mut chars = part.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn remote_ip(rng: &mut Rng) -> String {
    match rng.u8(..3) {
        0 => format!("172.16.{}.{}", rng.u8(..=255), rng.u8(2..=254)),
        1 => format!("223.104.{}.{}", rng.u8(..=255), rng.u8(2..=254)),
        _ => format!(
            "116.{}.{}.{}",
            rng.u8(1..=254),
            rng.u8(..=255),
            rng.u8(2..=254)
        ),
    }
}

impl<'r> Builder<'r> {
    pub(crate) fn new(rng: &'r mut Rng) -> Self {
        Builder {
            rng,
            people: Vec::new(),
            person_account: Vec::new(),
            accounts: Vec::new(),
            account_person: Vec::new(),
            grants: Vec::new(),
            events: Vec::new(),
            planted: Vec::new(),
            logins: BTreeSet::new(),
            person_names: Vec::new(),
            granters: Vec::new(),
        }
    }

    pub(crate) fn plant(&mut self, rule: &str, subject_type: &str, subject_id: &str) {
        self.planted.push((
            rule.to_string(),
            subject_type.to_string(),
            subject_id.to_string(),
        ));
    }

    /// The id the next account gets (WukongCRM numbers users from 14773).
    pub(crate) fn next_id(&self) -> String {
        (14_774 + self.accounts.len()).to_string()
    }

    pub(crate) fn id(&self, account: usize) -> String {
        self.accounts[account].id.clone()
    }

    /// A random instant between two instants.
    pub(crate) fn between(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
        let span = (to - from).num_minutes().max(1);
        from + Duration::minutes(self.rng.i64(0..span))
    }

    pub(crate) fn unique_login(&mut self, base: &str) -> String {
        let mut login = base.to_string();
        let mut n = 2;
        while self.logins.contains(&login) {
            login = format!("{base}{n}");
            n += 1;
        }
        self.logins.insert(login.clone());
        login
    }

    /// An HR record (no CRM account yet).
    pub(crate) fn hire(
        &mut self,
        dept: &'static str,
        title: &'static str,
        manager: Option<usize>,
        hired: DateTime<Utc>,
    ) -> usize {
        let name = names::pick(self.rng);
        let login = self.unique_login(&name.login_base);
        let person = self.people.len();
        let manager_id = manager.map(|m| self.people[m].id.clone());
        self.people.push(Person {
            id: format!("E{:05}", 10_001 + person),
            email: format!("{login}@{DOMAIN}"),
            full_name: name.full,
            department: dept,
            title,
            manager_id,
            status: "active",
            hired_at: hired,
            terminated_at: None,
            department_since: None,
        });
        self.person_account.push(None);
        self.person_names.push((login, name.hanzi));
        person
    }

    /// Opens the CRM account of a person (active, in use) with the roles of
    /// their title.
    pub(crate) fn open_account(&mut self, person: usize) -> usize {
        let (dept, title, hired) = {
            let p = &self.people[person];
            (p.department, p.title, p.hired_at)
        };
        let (login, hanzi) = self.person_names[person].clone();
        let created = hired.max(rollout()) + Duration::minutes(self.rng.i64(30..2_880));
        // Some accounts carry no employee id: HR matches them by email, in
        // whatever case the CRM admin typed it.
        let by_email = self.rng.f64() < 0.12;
        let email = if by_email {
            let local: Vec<String> = login.split('.').map(capitalise).collect();
            format!("{}@HXTrade.Example.com", local.join("."))
        } else {
            format!("{login}@{DOMAIN}")
        };
        let habit = self.habit(dept, title, created);
        let (export, delete) = cadences_of(title);
        let account = self.accounts.len();
        let mfa = dept == "IT" || self.rng.f64() < 0.2;
        let password_changed_at = if self.rng.f64() < 0.15 {
            None
        } else {
            let since = created.max(date(2026, 1, 1));
            Some(self.between(since, days_before(3, 0, 0)).max(created))
        };
        self.accounts.push(Account {
            id: (14_774 + account).to_string(),
            login,
            display_name: hanzi,
            email: Some(email),
            person_id: (!by_email).then(|| self.people[person].id.clone()),
            department: dept,
            account_type: "human",
            status: "active",
            mfa,
            created_at: created,
            last_login_at: None,
            password_changed_at,
            habit: Habit {
                export,
                delete,
                ..habit
            },
            disabled: None,
        });
        self.account_person.push(Some(person));
        self.person_account[person] = Some(account);
        for role in std::iter::once(&STAFF).chain(roles_of(title)) {
            let at = created + Duration::minutes(self.rng.i64(5..600));
            self.grant(account, role, at);
        }
        account
    }

    /// An employee with a CRM account.
    pub(crate) fn employee(
        &mut self,
        dept: &'static str,
        title: &'static str,
        manager: Option<usize>,
        hired: DateTime<Utc>,
    ) -> usize {
        let person = self.hire(dept, title, manager, hired);
        self.open_account(person)
    }

    /// An employee whose account was created at `created` and never used.
    pub(crate) fn pending_employee(
        &mut self,
        dept: &'static str,
        title: &'static str,
        manager: Option<usize>,
        created: DateTime<Utc>,
    ) -> usize {
        let a = self.employee(dept, title, manager, created);
        let acc = &mut self.accounts[a];
        acc.status = "pending";
        acc.created_at = created;
        acc.password_changed_at = None;
        acc.habit.pattern = Pattern::Dormant;
        let id = acc.id.clone();
        for g in self.grants.iter_mut().filter(|g| g.principal_id == id) {
            g.granted_at = created + Duration::minutes(20);
        }
        a
    }

    pub(crate) fn person_of(&self, account: usize) -> usize {
        self.account_person[account].unwrap_or(0)
    }

    pub(crate) fn habit(
        &mut self,
        dept: &'static str,
        title: &str,
        created: DateTime<Utc>,
    ) -> Habit {
        let seq = self.accounts.len() as u32;
        let mut ips = vec![format!(
            "10.{}.{}.{}",
            dept_code(dept),
            1 + seq / 200,
            10 + seq % 200
        )];
        if self.rng.f64() < 0.6 {
            ips.push(remote_ip(self.rng));
        }
        let mut devices = vec![format!("web-{:04x}", self.rng.u16(..))];
        if self.rng.f64() < 0.5 {
            let os = if self.rng.bool() { "ios" } else { "android" };
            devices.push(format!("{os}-{:04x}", self.rng.u16(..)));
        }
        let admin_p = match title {
            "IT Manager" => 0.3,
            "CRM Administrator" => 0.6,
            "IT Support Specialist" => 0.5,
            _ => 0.0,
        };
        Habit {
            pattern: Pattern::Worker,
            from: created + Duration::hours(1),
            until: days_before(0, 0, 0),
            login_p: 0.8 + self.rng.f64() * 0.15,
            weekend_p: if dept == "Sales" { 0.06 } else { 0.02 },
            ips,
            devices,
            objects: objects_of(dept),
            update_p: 0.15 + self.rng.f64() * 0.15,
            export: None,
            delete: None,
            admin_p,
            members: Vec::new(),
        }
    }

    /// Grants `role` at `at`: by one of IT's granters, approved by the manager.
    pub(crate) fn grant(
        &mut self,
        account: usize,
        role: &'static str,
        at: DateTime<Utc>,
    ) -> String {
        let granted_by = if self.granters.is_empty() {
            None
        } else {
            let g = self.granters[self.rng.usize(..self.granters.len())];
            Some(self.id(g))
        };
        let approved_by = self.account_person[account]
            .and_then(|p| self.people[p].manager_id.clone())
            .and_then(|m| self.people.iter().position(|x| x.id == m))
            .and_then(|m| self.person_account[m])
            .map(|a| self.id(a));
        let id = format!("g{:05}", self.grants.len() + 1);
        self.grants.push(Grant {
            id: id.clone(),
            principal_id: self.id(account),
            role_id: role,
            granted_at: at,
            granted_by,
            approved_by,
            expires_at: None,
            revoked_at: None,
        });
        id
    }

    /// An account nobody's HR record stands behind (admin, team, service, …).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn system_account(
        &mut self,
        id: String,
        login: &str,
        display: &str,
        dept: &'static str,
        account_type: &'static str,
        created: DateTime<Utc>,
        pattern: Pattern,
        ip: &str,
        device: &str,
    ) -> usize {
        self.logins.insert(login.to_string());
        let account = self.accounts.len();
        self.accounts.push(Account {
            id,
            login: login.to_string(),
            display_name: display.to_string(),
            email: None,
            person_id: None,
            department: dept,
            account_type,
            status: "active",
            mfa: false,
            created_at: created,
            last_login_at: None,
            password_changed_at: Some(created),
            habit: Habit {
                pattern,
                from: created + Duration::hours(1),
                until: days_before(0, 0, 0),
                login_p: 0.9,
                weekend_p: 0.0,
                ips: vec![ip.to_string()],
                devices: vec![device.to_string()],
                objects: objects_of(dept),
                update_p: 0.5,
                export: None,
                delete: None,
                admin_p: 0.0,
                members: Vec::new(),
            },
            disabled: None,
        });
        self.account_person.push(None);
        account
    }

    /// Ends someone's employment at `at`; with `disable`, IT closes the account
    /// within the hour and revokes about half of its grants.
    pub(crate) fn terminate(&mut self, account: usize, at: DateTime<Utc>, disable: bool) {
        let person = self.person_of(account);
        self.people[person].status = "terminated";
        self.people[person].terminated_at = Some(at);
        // Last working day: the day before.
        let last_day = at - Duration::days(1);
        self.accounts[account].habit.until = self.accounts[account].habit.until.min(last_day);
        if disable {
            let closed = at + Duration::minutes(self.rng.i64(10..60));
            let by = self.granters[self.rng.usize(..self.granters.len())];
            let by = self.id(by);
            let a = &mut self.accounts[account];
            a.status = "disabled";
            a.disabled = Some((closed, by));
            let id = a.id.clone();
            for g in self.grants.iter_mut().filter(|g| g.principal_id == id) {
                if self.rng.bool() {
                    g.revoked_at = Some(closed + Duration::minutes(2));
                }
            }
        }
    }

    /// A planted event from one of the account's own IPs and devices.
    pub(crate) fn event(
        &mut self,
        account: usize,
        at: DateTime<Utc>,
        action: &'static str,
        object: Option<&'static str>,
        records: Option<i64>,
        slot: usize,
    ) {
        let h = &self.accounts[account].habit;
        let ip = h.ips.get(slot).or(h.ips.first()).cloned();
        let device = h.devices.get(slot).or(h.devices.first()).cloned();
        self.events.push(Event {
            at,
            principal: self.id(account),
            action,
            object,
            records,
            ip,
            device,
            success: true,
        });
    }

    pub(crate) fn ensure_second_ip(&mut self, account: usize) {
        if self.accounts[account].habit.ips.len() < 2 {
            let ip = remote_ip(self.rng);
            self.accounts[account].habit.ips.push(ip);
        }
    }

    pub(crate) fn hire_date(&mut self, from_year: i32, to: DateTime<Utc>) -> DateTime<Utc> {
        let d = self.between(date(from_year, 1, 1), to);
        d - Duration::minutes(d.timestamp() / 60 % 1440) + Duration::hours(9)
    }
}

/// Builds the roster, the accounts and their grants, and plants the cases.
pub(crate) fn build(rng: &mut Rng) -> Org {
    let mut b = Builder::new(rng);
    let recent = date(2026, 8, 31);

    // The installer's account: WukongCRM's hard-coded super user 14773.
    let admin = b.system_account(
        "14773".into(),
        "admin",
        "超级管理员",
        "IT",
        "human",
        rollout() - Duration::days(3),
        Pattern::Admin,
        "10.10.0.2",
        "web-admin-console",
    );
    b.grant(admin, SUPER, rollout() - Duration::days(3));
    b.plant("shared-account", "principal", "14773");

    // HR roster without CRM accounts.
    let ceo = b.hire(
        "Management",
        "Chief Executive Officer",
        None,
        date(2012, 3, 1),
    );
    let hr_head = b.hire("HR", "HR Manager", Some(ceo), date(2015, 6, 1));
    for _ in 0..2 {
        let h = b.hire_date(2017, recent);
        b.hire("HR", "HR Specialist", Some(hr_head), h);
    }
    let logistics = b.hire(
        "Logistics",
        "Logistics Supervisor",
        Some(ceo),
        date(2016, 4, 11),
    );
    for _ in 0..10 {
        let h = b.hire_date(2016, recent);
        b.hire("Logistics", "Warehouse Operator", Some(logistics), h);
    }

    // IT.
    let it_mgr = b.employee(
        "IT",
        "IT Manager",
        Some(ceo),
        date(2016, 9, 5) + Duration::hours(9),
    );
    let it_head = b.person_of(it_mgr);
    let mut crm_admins = Vec::new();
    for _ in 0..2 {
        let h = b.hire_date(2016, date(2021, 12, 31));
        crm_admins.push(b.employee("IT", "CRM Administrator", Some(it_head), h));
    }
    let mut helpdesk = Vec::new();
    for _ in 0..6 {
        let h = b.hire_date(2017, date(2024, 6, 30));
        helpdesk.push(b.employee("IT", "IT Support Specialist", Some(it_head), h));
    }
    b.granters = crm_admins.iter().chain(&helpdesk).copied().collect();
    let mut net = Vec::new();
    for _ in 0..2 {
        let h = b.hire_date(2017, date(2023, 12, 31));
        net.push(b.employee("IT", "Network Engineer", Some(it_head), h));
    }

    // Sales: a director, nine teams, operations.
    let director = b.employee(
        "Sales",
        "Sales Director",
        Some(ceo),
        date(2015, 2, 2) + Duration::hours(9),
    );
    let director_p = b.person_of(director);
    let mut managers = Vec::new();
    for _ in 0..9 {
        let h = b.hire_date(2015, date(2022, 12, 31));
        managers.push(b.employee("Sales", "Sales Manager", Some(director_p), h));
    }
    let mgr_people: Vec<usize> = managers.iter().map(|&m| b.person_of(m)).collect();
    let mut ops = Vec::new();
    for _ in 0..3 {
        let h = b.hire_date(2018, date(2024, 12, 31));
        ops.push(b.employee("Sales", "Sales Operations Analyst", Some(director_p), h));
    }
    let mut seniors = Vec::new();
    for i in 0..25 {
        let h = b.hire_date(2016, date(2023, 6, 30));
        seniors.push(b.employee(
            "Sales",
            "Senior Account Executive",
            Some(mgr_people[i % 9]),
            h,
        ));
    }
    let mut aes = Vec::new();
    for i in 0..160 {
        // The first 140 have been here a while (the planted cases use them).
        let h = b.hire_date(2017, if i < 140 { date(2025, 3, 31) } else { recent });
        aes.push(b.employee("Sales", "Account Executive", Some(mgr_people[i % 9]), h));
    }
    let mut interns = Vec::new();
    for i in 0..6 {
        let h = b.hire_date(2026, date(2026, 7, 15));
        interns.push(b.employee("Sales", "Sales Intern", Some(mgr_people[i % 9]), h));
    }

    // Support.
    let support_mgr = b.employee(
        "Support",
        "Support Manager",
        Some(ceo),
        date(2017, 5, 8) + Duration::hours(9),
    );
    let support_head = b.person_of(support_mgr);
    let mut leads = Vec::new();
    for _ in 0..4 {
        let h = b.hire_date(2017, date(2023, 12, 31));
        leads.push(b.employee("Support", "Support Team Lead", Some(support_head), h));
    }
    let lead_people: Vec<usize> = leads.iter().map(|&l| b.person_of(l)).collect();
    let mut agents = Vec::new();
    for i in 0..55 {
        let h = b.hire_date(2018, if i < 50 { date(2025, 3, 31) } else { recent });
        agents.push(b.employee("Support", "Support Agent", Some(lead_people[i % 4]), h));
    }

    // Finance.
    let fin_dir = b.employee(
        "Finance",
        "Finance Director",
        Some(ceo),
        date(2014, 10, 13) + Duration::hours(9),
    );
    let fin_head = b.person_of(fin_dir);
    let mut fin_mgrs = Vec::new();
    for _ in 0..2 {
        let h = b.hire_date(2016, date(2022, 12, 31));
        fin_mgrs.push(b.employee("Finance", "Finance Manager", Some(fin_head), h));
    }
    let mut accountants = Vec::new();
    for i in 0..13 {
        let h = b.hire_date(2017, date(2025, 12, 31));
        let m = b.person_of(fin_mgrs[i % 2]);
        accountants.push(b.employee("Finance", "Accountant", Some(m), h));
    }
    let mut billing = Vec::new();
    for _ in 0..5 {
        let h = b.hire_date(2019, recent);
        billing.push(b.employee("Finance", "Billing Specialist", Some(fin_head), h));
    }

    // Marketing.
    let mkt_dir = b.employee(
        "Marketing",
        "Marketing Director",
        Some(ceo),
        date(2018, 3, 19) + Duration::hours(9),
    );
    let mkt_head = b.person_of(mkt_dir);
    let mut marketers = Vec::new();
    for _ in 0..15 {
        let h = b.hire_date(2018, recent);
        marketers.push(b.employee("Marketing", "Marketing Specialist", Some(mkt_head), h));
    }
    let comms_h = b.hire_date(2019, date(2024, 12, 31));
    b.employee(
        "Marketing",
        "Internal Communications Manager",
        Some(mkt_head),
        comms_h,
    );
    for _ in 0..4 {
        let h = b.hire_date(2019, recent);
        b.employee("Marketing", "Content Designer", Some(mkt_head), h);
    }

    // Service, shared and external accounts.
    let id = b.next_id();
    let etl = b.system_account(
        id,
        "etl_sync",
        "ERP 同步",
        "IT",
        "service",
        date(2021, 4, 12),
        Pattern::Etl,
        "10.10.5.20",
        "etl-node-01",
    );
    b.grant(etl, INTEGRATION, date(2021, 4, 12) + Duration::hours(2));
    let id = b.next_id();
    let intake = b.system_account(
        id,
        "support",
        "客服邮箱",
        "Support",
        "service",
        date(2020, 9, 1),
        Pattern::Intake,
        "10.10.5.31",
        "mail-gw-01",
    );
    b.grant(intake, SUPPORT_AGENT, date(2020, 9, 1) + Duration::hours(1));
    let id = b.next_id();
    let frontdesk = b.system_account(
        id,
        "frontdesk",
        "前台",
        "Support",
        "shared",
        date(2022, 2, 14),
        Pattern::Frontdesk,
        "10.30.0.5",
        "web-reception",
    );
    b.grant(
        frontdesk,
        SUPPORT_AGENT,
        date(2022, 2, 14) + Duration::hours(1),
    );
    b.grant(frontdesk, STAFF, date(2022, 2, 14) + Duration::hours(1));
    let fd = b.id(frontdesk);
    b.plant("shared-account", "principal", &fd);
    let id = b.next_id();
    let agency = b.system_account(
        id,
        "brightpath.agency",
        "BrightPath 广告 (代理)",
        "Marketing",
        "external",
        date(2025, 3, 3),
        Pattern::Agency,
        "203.0.113.45",
        "web-agency-01",
    );
    b.accounts[agency].email = Some("crm@brightpath-agency.example.net".into());
    b.grant(agency, AGENCY, date(2025, 3, 3) + Duration::hours(3));

    let crew = Crew {
        crm_admins: crm_admins.clone(),
        net: net.clone(),
        managers: managers.clone(),
        seniors: seniors.clone(),
        aes: aes.clone(),
        interns: interns.clone(),
        agents: agents.clone(),
        fin_mgrs: fin_mgrs.clone(),
        accountants: accountants.clone(),
        billing: billing.clone(),
        marketers: marketers.clone(),
        fin_head,
        mkt_head,
    };
    super::plant::plant(&mut b, &crew);

    // ---- Clean texture ----
    // Transfers from Support into Sales who kept their support role (harmless).
    for &a in &aes[100..105] {
        let since = b.between(date(2025, 6, 1), date(2026, 9, 30));
        let p = b.person_of(a);
        b.people[p].department_since = Some(since);
        let old = b.accounts[a].created_at + Duration::minutes(40);
        b.grant(a, SUPPORT_AGENT, old);
        for g in b
            .grants
            .iter_mut()
            .filter(|g| g.principal_id == b.accounts[a].id && g.role_id == SALES_REP)
        {
            g.granted_at = since;
        }
    }
    // A temporary export right that expired in September.
    let g = b.grant(aes[88], KEY_EXPORT, date(2026, 8, 24) + Duration::hours(10));
    if let Some(grant) = b.grants.iter_mut().find(|x| x.id == g) {
        grant.expires_at = Some(date(2026, 9, 30));
    }
    // On leave for six weeks: not idle yet.
    let p = b.person_of(aes[120]);
    b.people[p].status = "on_leave";
    b.accounts[aes[120]].habit.until = days_before(41, 0, 0);
    // Locked after failed sign-ins.
    for (n, &a) in [aes[130], agents[50]].iter().enumerate() {
        b.accounts[a].status = "locked";
        let day = 19 + 5 * n as i64;
        b.accounts[a].habit.until = days_before(day + 1, 0, 0);
        for k in 0..6 {
            b.event(
                a,
                days_before(day, 8, 40 + k),
                "login_failed",
                None,
                None,
                0,
            );
            if let Some(e) = b.events.last_mut() {
                e.success = false;
            }
        }
    }
    // New hires whose accounts are waiting for their first day.
    for k in 0..3 {
        let hired = days_before(5 + 3 * k, 9, 0);
        let m = mgr_people[k as usize];
        b.pending_employee("Sales", "Account Executive", Some(m), hired);
    }
    // Leavers over the last three years, disabled on the day.
    let leaver_titles: [(&'static str, &'static str, usize); 6] = [
        ("Sales", "Account Executive", 24),
        ("Support", "Support Agent", 10),
        ("Sales", "Senior Account Executive", 2),
        ("Marketing", "Marketing Specialist", 3),
        ("Finance", "Accountant", 2),
        ("Sales", "Sales Manager", 1),
    ];
    for (dept, title, n) in leaver_titles {
        for _ in 0..n {
            let left = b.between(date(2023, 9, 1), date(2026, 10, 20));
            let left = left - Duration::minutes(left.timestamp() / 60 % 1440) + Duration::hours(17);
            let hired = b.hire_date(2016, left - Duration::days(200));
            let manager = match dept {
                "Sales" => Some(mgr_people[b.rng.usize(..9)]),
                "Support" => Some(lead_people[b.rng.usize(..4)]),
                "Marketing" => Some(mkt_head),
                "Finance" => Some(fin_head),
                _ => None,
            };
            let a = b.employee(dept, title, manager, hired);
            b.terminate(a, left, true);
            if left < window_start() {
                let last = left - Duration::days(b.rng.i64(1..6))
                    + Duration::minutes(b.rng.i64(-480..-60));
                b.accounts[a].last_login_at = Some(last.max(b.accounts[a].created_at));
            }
        }
    }

    Org {
        people: b.people,
        accounts: b.accounts,
        grants: b.grants,
        events: b.events,
        planted: b.planted,
    }
}

/// Sets each account's `last_login_at` to its newest successful sign-in in
/// the log, unless the sign-in predates the log (set when it was built).
pub(crate) fn settle_last_logins(org: &mut Org, events: &[Event]) {
    let index: std::collections::BTreeMap<&str, usize> = org
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    let mut newest: Vec<Option<DateTime<Utc>>> = vec![None; org.accounts.len()];
    for e in events.iter().filter(|e| e.action == "login" && e.success) {
        if let Some(&i) = index.get(e.principal.as_str()) {
            newest[i] = newest[i].max(Some(e.at));
        }
    }
    for (a, n) in org.accounts.iter_mut().zip(newest) {
        if n.is_some() {
            a.last_login_at = n;
        }
    }
}
