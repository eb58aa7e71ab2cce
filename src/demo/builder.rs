//! The organisation's parts (people, accounts, grants, habits) and the
//! builder that hands them out; `org` builds the clean population with it and
//! `plant` the planted cases.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use fastrand::Rng;

use super::names;
use super::roles::*;
use super::timeline::{Event, date, days_before, window_start};

/// The WukongCRM go-live: accounts of earlier hires were created that day.
pub(crate) fn rollout() -> DateTime<Utc> {
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
    /// The hire date, or the date of the last transfer.
    pub department_since: Option<DateTime<Utc>>,
    /// `employee`, `contractor`, `intern` or `vendor`.
    pub worker_type: Option<&'static str>,
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

/// An account of the directory in front of the CRM (built by `directory`).
pub(crate) struct DirectoryAccount {
    pub id: String,
    pub login: String,
    pub display_name: String,
    pub email: String,
    pub person_id: String,
    pub department: &'static str,
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub password_changed_at: DateTime<Utc>,
}

pub(crate) struct Org {
    pub people: Vec<Person>,
    pub accounts: Vec<Account>,
    /// The directory's accounts (the second application).
    pub directory: Vec<DirectoryAccount>,
    pub grants: Vec<Grant>,
    /// The planted cases' own events.
    pub events: Vec<Event>,
    pub planted: Vec<(String, String, String)>,
}

/// Who is who: the accounts (indexes) the planted cases are picked from, and
/// the HR records of two department heads.
pub(crate) struct Crew {
    pub it_mgr: usize,
    pub ops: Vec<usize>,
    pub crm_admins: Vec<usize>,
    pub helpdesk: Vec<usize>,
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
    /// People (indexes) whose directory account was left open when they left.
    pub(crate) directory_left_open: Vec<usize>,
    /// People (indexes) whose directory account IT closed while HR still
    /// has them as employed.
    pub(crate) directory_closed: Vec<usize>,
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

pub fn objects_of(dept: &str) -> &'static [&'static str] {
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
            directory_left_open: Vec::new(),
            directory_closed: Vec::new(),
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
            department_since: Some(hired),
            worker_type: Some("employee"),
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
        // MFA is required for IT and for every title with sensitive access
        // (export, delete, administration, all data); others may opt in.
        let required = dept == "IT" || roles_of(title).iter().any(|r| sensitive(r));
        let mfa = self.rng.f64() < 0.25 || required;
        // The first sign-in, an hour or a few after the account was opened,
        // forces the change of the initial password.
        let first_sign_in = created + Duration::minutes(self.rng.i64(70..300));
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
            password_changed_at: Some(first_sign_in + Duration::minutes(1)),
            habit: Habit {
                export,
                delete,
                ..habit
            },
            disabled: None,
        });
        self.account_person.push(Some(person));
        self.person_account[person] = Some(account);
        if first_sign_in >= window_start() {
            self.event(account, first_sign_in, "login", None, None, 0);
            let at = first_sign_in + Duration::minutes(1);
            self.event(account, at, "password_change", Some("user"), None, 0);
        }
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
        // Nobody has signed in yet.
        self.events.retain(|e| e.principal != id);
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
            "IT Manager" => 0.5,
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

    /// Grants `role` at `at`: by one of IT's granters, approved by the
    /// holder's manager (by e-mail when the manager has no CRM account: the
    /// department heads, approved by the CEO).
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
            .map(|m| match self.person_account[m] {
                Some(a) => self.id(a),
                None => self.people[m].email.clone(),
            });
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
            let closed = at + Duration::minutes(self.rng.i64(10..50));
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
        self.hire_between(date(from_year, 1, 1), to)
    }

    /// 09:00 on a day between two instants.
    pub(crate) fn hire_between(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
        let d = self.between(from, to);
        d - Duration::minutes(d.timestamp() / 60 % 1440) + Duration::hours(9)
    }

    pub(crate) fn grant_mut(&mut self, id: &str) -> Option<&mut Grant> {
        self.grants.iter_mut().find(|g| g.id == id)
    }

    /// Makes a grant temporary: it ends at `expires`, and IT revokes it at
    /// `revoked` (on the day, in a clean company).
    pub(crate) fn temporary(
        &mut self,
        id: &str,
        expires: DateTime<Utc>,
        revoked: Option<DateTime<Utc>>,
    ) {
        if let Some(g) = self.grant_mut(id) {
            g.expires_at = Some(expires);
            g.revoked_at = revoked;
        }
    }
}
