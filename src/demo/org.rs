//! The organisation: HR roster, CRM accounts, roles, grants, and the planted
//! cases (with the few events that make them).
//!
//! The clean population is clean by construction under the shipped rule
//! defaults: everyone who holds an export, delete or grant right uses it at
//! least monthly; privileged roles stay in IT; every sensitive role is held by
//! a whole title group, never by one peer in a crowd; nobody signs in from
//! more than two IPs or devices, and each device at least every three weeks;
//! no export window reaches 200 records; leavers are disabled on the day.
//! Every holder of sensitive access has MFA; everyone changes the initial
//! password at the first sign-in; every grant is approved by the holder's
//! manager (the CEO for department heads), never by whoever grants it;
//! temporary grants are revoked on the day they end; HR records when each
//! person joined their department and whether they are an employee; IT's
//! user and role maintenance happens in office hours (admin-actions-review
//! still lists it every month: that review is its purpose).

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use fastrand::Rng;

use super::builder::*;
use super::roles::*;
use super::timeline::{Event, date, days_before, window_start};

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
    // Still on the password of the install guide, since 2019.
    b.plant("initial-password-unchanged", "principal", "14773");
    // Super administrator behind a password alone: it is shared, so no one's phone.
    b.plant("privileged-without-mfa", "principal", "14773");
    // Nobody in HR owns it: no person, no e-mail.
    b.plant("orphan-account", "principal", "14773");

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
    for i in 0..10 {
        let h = b.hire_date(2016, recent);
        let p = b.hire("Logistics", "Warehouse Operator", Some(logistics), h);
        // Agency workers (劳务派遣) in the warehouse; none has a CRM account.
        if i % 3 == 2 {
            b.people[p].worker_type = Some("contractor");
        }
    }

    // IT.
    let it_mgr = b.employee(
        "IT",
        "IT Manager",
        Some(ceo),
        date(2016, 9, 5) + Duration::hours(9),
    );
    let it_head = b.person_of(it_mgr);
    // The go-live sign-off: the IT manager approved the installer's account.
    let it_mgr_id = b.id(it_mgr);
    if let Some(g) = b.grants.first_mut() {
        g.approved_by = Some(it_mgr_id.clone());
    }
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
    // Sales interns: three long-term interns since spring, onboarded with the
    // employees' standing roles (planted), and three summer interns whose
    // access ends with their three months, the rule since July.
    let mut interns = Vec::new();
    for i in 0..6 {
        let h = if i < 3 {
            b.hire_between(date(2026, 1, 5), date(2026, 4, 30))
        } else {
            b.hire_between(date(2026, 8, 3), date(2026, 8, 31))
        };
        let a = b.employee("Sales", "Sales Intern", Some(mgr_people[i % 9]), h);
        let p = b.person_of(a);
        b.people[p].worker_type = Some("intern");
        if i >= 3 {
            let id = b.id(a);
            for g in b.grants.iter_mut().filter(|g| g.principal_id == id) {
                g.expires_at = Some(h + Duration::days(90));
            }
        }
        interns.push(a);
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
    // Hired by June: a privileged account's first sign-ins are new devices,
    // and the run 45 days before the audit day would list them.
    let mut marketers = Vec::new();
    for _ in 0..15 {
        let h = b.hire_date(2018, date(2026, 6, 30));
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
    let g = b.grant(etl, INTEGRATION, date(2021, 4, 12) + Duration::hours(2));
    if let Some(g) = b.grant_mut(&g) {
        g.approved_by = Some(it_mgr_id.clone());
    }
    // A service account cannot answer an OTP prompt: all data behind a
    // password, and no exception recorded for it.
    let etl_id = b.id(etl);
    b.plant("privileged-without-mfa", "principal", &etl_id);
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
    // The agency's account has no end, though its contract is renewed yearly.
    let aid = b.id(agency);
    b.plant("non-employee-access", "principal", &aid);

    let crew = Crew {
        it_mgr,
        ops: ops.clone(),
        crm_admins: crm_admins.clone(),
        helpdesk: helpdesk.clone(),
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
    // Transfers from Support into Sales: IT took the support role away on
    // the day for two of them; the three who kept it are planted.
    for (n, &a) in aes[100..105].iter().enumerate() {
        let day = b.between(date(2025, 6, 1), date(2026, 9, 30));
        let since = day - Duration::minutes(day.timestamp() / 60 % 1440) + Duration::hours(10);
        let p = b.person_of(a);
        b.people[p].department_since = Some(since);
        let old = b.accounts[a].created_at + Duration::minutes(40);
        let kept = b.grant(a, SUPPORT_AGENT, old);
        for g in b
            .grants
            .iter_mut()
            .filter(|g| g.principal_id == b.accounts[a].id && g.role_id == SALES_REP)
        {
            g.granted_at = since;
        }
        if n < 3 {
            // Kept the support role nobody else in Sales has.
            b.plant("transfer-kept-access", "grant", &kept);
        } else if let Some(g) = b.grant_mut(&kept) {
            g.revoked_at = Some(since);
        }
    }
    // A temporary export right for a key-account review, revoked on the day it
    // ended (IT turned MFA on when granting it).
    let g = b.grant(aes[88], KEY_EXPORT, date(2026, 8, 24) + Duration::hours(10));
    b.temporary(
        &g,
        date(2026, 9, 30),
        Some(date(2026, 9, 30) + Duration::hours(10)),
    );
    b.accounts[aes[88]].mfa = true;
    // Agents standing in for their team lead over the summer holidays, and a
    // billing clerk helping Finance close the half-year: ended, revoked.
    for (a, role, from, to) in [
        (agents[5], SUPPORT_LEAD, date(2026, 7, 6), date(2026, 7, 24)),
        (
            agents[26],
            SUPPORT_LEAD,
            date(2026, 8, 10),
            date(2026, 8, 28),
        ),
        (
            billing[1],
            FINANCE_OFFICER,
            date(2026, 6, 22),
            date(2026, 7, 3),
        ),
    ] {
        let g = b.grant(a, role, from + Duration::hours(9));
        b.temporary(&g, to, Some(to + Duration::hours(11)));
        b.accounts[a].mfa = true;
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
    // New hires whose accounts are waiting for their first day (opened by
    // IT on Tuesdays).
    for k in 0..3 {
        let hired = days_before(5 + 7 * k, 9, 0);
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
            // The last day is a working day (a weekend date moves to Friday).
            let left = match left.weekday() {
                Weekday::Sat => left - Duration::days(1),
                Weekday::Sun => left - Duration::days(2),
                _ => left,
            };
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

    let directory = super::directory::build(&b);
    Org {
        directory,
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
