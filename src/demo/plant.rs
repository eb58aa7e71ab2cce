//! The planted cases: what each shipped rule must find, and nothing else.
//! Each paragraph picks accounts from the population, bends their habits or
//! grants, adds the events that make the case, and records the expected
//! finding with [`Builder::plant`]. (The `admin` and `frontdesk` accounts are
//! planted where they are created, in `org`.)

use chrono::Duration;

use super::builder::{Builder, Crew, DOMAIN, Pattern, cadences_of, objects_of};
use super::roles::*;
use super::timeline::{Event, date, days_before};

pub(crate) fn plant(b: &mut Builder, c: &Crew) {
    // ---- Planted: shared-account ----
    // A team login for the inside-sales desk, typed human by whoever created it.
    let id = b.next_id();
    let team = b.system_account(
        id,
        "sales01",
        "销售一组",
        "Sales",
        "human",
        date(2023, 4, 10),
        Pattern::Team,
        "",
        "",
    );
    b.accounts[team].email = Some(format!("sales01@{DOMAIN}"));
    b.accounts[team].habit.members = vec![c.aes[3], c.aes[12], c.aes[21], c.aes[30]];
    for role in [STAFF, SALES_REP] {
        b.grant(team, role, date(2023, 4, 10) + Duration::hours(2));
    }
    let team_id = b.id(team);
    b.plant("shared-account", "principal", &team_id);
    // The desk's password is the one IT typed in 2023; no one owns it in HR.
    b.plant("initial-password-unchanged", "principal", &team_id);
    b.plant("orphan-account", "principal", &team_id);
    // Four desks, four browsers: more devices than one person has.
    b.plant("device-sprawl", "principal", &team_id);
    // A UAT account nobody removed: generic and idle.
    let id = b.next_id();
    let test = b.system_account(
        id,
        "test01",
        "测试账号",
        "IT",
        "human",
        date(2025, 11, 3),
        Pattern::Dormant,
        "10.10.0.40",
        "web-uat",
    );
    b.accounts[test].last_login_at = Some(date(2026, 3, 12) + Duration::hours(15));
    b.grant(test, SALES_REP, date(2025, 11, 3) + Duration::hours(1));
    let test_id = b.id(test);
    b.plant("shared-account", "principal", &test_id);
    b.plant("idle-accounts", "principal", &test_id);
    // Still on the UAT password, and nobody's in HR.
    b.plant("initial-password-unchanged", "principal", &test_id);
    b.plant("orphan-account", "principal", &test_id);
    // One support agent's account signs in from four places within an hour.
    let roamer = c.agents[17];
    let at = days_before(2, 19, 5);
    b.event(roamer, at, "login", None, None, 0);
    let rid = b.id(roamer);
    for (i, (ip, dev)) in [
        ("36.112.8.77", "android-77c1"),
        ("120.229.14.3", "web-51aa"),
        ("183.6.51.200", "web-9e02"),
    ]
    .into_iter()
    .enumerate()
    {
        b.events.push(Event {
            at: at + Duration::minutes(15 + 14 * i as i64),
            principal: rid.clone(),
            action: "login",
            object: None,
            records: None,
            ip: Some(ip.into()),
            device: Some(dev.into()),
            success: true,
        });
    }
    b.plant("shared-account", "principal", &rid);
    b.plant("device-sprawl", "principal", &rid);

    // ---- Planted: idle-accounts ----
    // Moved to field work in June and stopped using the CRM.
    let field = c.aes[40];
    b.accounts[field].habit.until = date(2026, 6, 19);
    let fid = b.id(field);
    b.plant("idle-accounts", "principal", &fid);
    // A billing clerk whose account was created and never activated.
    let pending = b.pending_employee(
        "Finance",
        "Billing Specialist",
        Some(c.fin_head),
        days_before(123, 9, 20),
    );
    let pid = b.id(pending);
    b.plant("idle-accounts", "principal", &pid);
    // On long leave since July: the account waits, idle.
    let leave = c.agents[33];
    let lp = b.person_of(leave);
    b.people[lp].status = "on_leave";
    b.accounts[leave].habit.until = days_before(105, 0, 0);
    let lid = b.id(leave);
    b.plant("idle-accounts", "principal", &lid);
    // Their directory account has waited as long.
    let login = b.accounts[leave].login.clone();
    b.plant(
        "idle-accounts",
        "principal",
        &super::directory::account_id(&login),
    );

    // ---- Planted: departed-still-active ----
    // Left 25 days ago; the account (matched to HR by email only) is open.
    let gone = c.aes[55];
    b.accounts[gone].person_id = None;
    if let Some(email) = b.accounts[gone].email.clone() {
        b.accounts[gone].email = Some(email.to_uppercase());
    }
    b.terminate(gone, days_before(25, 17, 30), false);
    let gid = b.id(gone);
    b.plant("departed-still-active", "principal", &gid);
    // Nobody closed their directory account either: both show together.
    let person = b.person_of(gone);
    b.directory_left_open.push(person);
    let login = b.accounts[gone].login.clone();
    b.plant(
        "departed-still-active",
        "principal",
        &super::directory::account_id(&login),
    );
    // Left on a Friday two weeks ago, signed in from home on Thursday night.
    let back = c.aes[71];
    b.terminate(back, days_before(16, 18, 0), false);
    b.ensure_second_ip(back);
    b.event(back, days_before(3, 21, 14), "login", None, None, 1);
    for k in 0..6 {
        b.event(
            back,
            days_before(3, 21, 16 + 4 * k),
            "view",
            Some("customer"),
            None,
            1,
        );
    }
    let bid = b.id(back);
    b.plant("departed-still-active", "principal", &bid);
    // A support agent who left last Monday.
    let agent_gone = c.agents[44];
    b.terminate(agent_gone, days_before(6, 12, 0), false);
    let aid = b.id(agent_gone);
    b.plant("departed-still-active", "principal", &aid);
    // Resigned last week: IT closed the directory account on the day, HR
    // has not recorded the leaving yet, and nobody told the CRM
    // (departed-still-active's directory_disabled reason).
    let resigned = c.aes[110];
    let person = b.person_of(resigned);
    b.directory_closed.push(person);
    let rid = b.id(resigned);
    b.plant("departed-still-active", "principal", &rid);
    // Not a finding: a billing clerk left last night, within the grace day
    // (IT closes the directory account in the morning).
    b.terminate(c.billing[2], days_before(1, 20, 0), false);
    let clerk = b.person_of(c.billing[2]);
    b.directory_left_open.push(clerk);

    // ---- Planted: over-privileged ----
    b.plant("over-privileged", "role", CUSTOMER_ADMIN);
    b.plant("over-privileged", "role", MIGRATION);
    // The migration role, granted for the spring migration; it expired.
    let g = b.grant(
        c.crm_admins[0],
        MIGRATION,
        date(2026, 4, 8) + Duration::hours(10),
    );
    b.temporary(&g, date(2026, 5, 31), None);
    // Nobody revoked it when it ended (WukongCRM does not enforce an end).
    b.plant("expired-grant-still-live", "grant", &g);
    // An intern given the super-admin role "for a data import": no approval,
    // no end, no MFA.
    let intern = c.interns[2];
    let g = b.grant(intern, SUPER, days_before(61, 10, 0));
    if let Some(grant) = b.grant_mut(&g) {
        grant.approved_by = None;
    }
    b.accounts[intern].mfa = false;
    b.plant("over-privileged", "grant", &g);
    b.plant("grant-without-approval", "grant", &g);
    // (non-employee-access finds this intern's account below, with the others.)
    let iid = b.id(intern);
    b.plant("privileged-without-mfa", "principal", &iid);
    // A sales manager who stopped exporting in the spring.
    let quiet = c.managers[4];
    if let Some(c) = b.accounts[quiet].habit.export.as_mut() {
        c.until = Some(days_before(140, 0, 0));
    }
    let g = b
        .grants
        .iter()
        .find(|x| x.principal_id == b.accounts[quiet].id && x.role_id == SALES_MANAGER)
        .map(|x| x.id.clone())
        .unwrap_or_default();
    b.plant("over-privileged", "grant", &g);
    // A finance manager who was given staff administration to onboard clerks.
    let g = b.grant(
        c.fin_mgrs[1],
        STAFF_ADMIN,
        date(2025, 11, 17) + Duration::hours(14),
    );
    b.plant("over-privileged", "grant", &g);
    // The helpdesk specialist who granted it also approved it.
    if let Some(grant) = b.grant_mut(&g) {
        grant.approved_by = grant.granted_by.clone();
    }
    b.plant("grant-without-approval", "grant", &g);
    // A network engineer, once a CRM administrator, keeps super admin unused.
    let idle_admin = c.net[0];
    b.accounts[idle_admin].habit.pattern = Pattern::LoginOnly;
    let g = b.grant(idle_admin, SUPER, date(2024, 2, 5) + Duration::hours(11));
    b.plant("over-privileged", "grant", &g);
    b.event(
        idle_admin,
        date(2026, 5, 20) + Duration::minutes(612),
        "login",
        None,
        None,
        0,
    );
    b.event(
        idle_admin,
        date(2026, 5, 20) + Duration::minutes(618),
        "update",
        Some("system"),
        None,
        0,
    );
    // The other network engineer had it too, revoked in June: not a finding.
    let g = b.grant(c.net[1], SUPER, date(2023, 8, 1) + Duration::hours(11));
    if let Some(grant) = b.grants.iter_mut().find(|x| x.id == g) {
        grant.revoked_at = Some(date(2026, 6, 22) + Duration::hours(16));
    }
    // An accountant moved to Marketing in August and kept Finance Officer.
    let moved = b.employee(
        "Finance",
        "Accountant",
        Some(b.person_of(c.fin_mgrs[0])),
        date(2020, 7, 6) + Duration::hours(9),
    );
    let since = date(2026, 8, 3) + Duration::hours(9);
    let mp = b.person_of(moved);
    b.people[mp].department = "Marketing";
    b.people[mp].title = "Marketing Specialist";
    b.people[mp].manager_id = Some(b.people[c.mkt_head].id.clone());
    b.people[mp].department_since = Some(since);
    b.accounts[moved].department = "Marketing";
    b.accounts[moved].habit.objects = objects_of("Marketing");
    b.accounts[moved].habit.export = cadences_of("Marketing Specialist").0;
    b.grant(moved, MARKETING, since);
    let g = b
        .grants
        .iter()
        .find(|x| x.principal_id == b.accounts[moved].id && x.role_id == FINANCE_OFFICER)
        .map(|x| x.id.clone())
        .unwrap_or_default();
    b.plant("over-privileged", "grant", &g);
    // Nobody else in Marketing holds it: access kept after the transfer.
    b.plant("transfer-kept-access", "grant", &g);

    // ---- Planted: bulk-export ----
    // 5,000 customers in half an hour, a week before resigning.
    let leaver = c.seniors[6];
    for (k, n) in [1200, 1300, 1250, 1250].into_iter().enumerate() {
        if k == 0 {
            b.event(leaver, days_before(9, 13, 58), "login", None, None, 0);
        }
        b.event(
            leaver,
            days_before(9, 14, 5 + 8 * k as i64),
            "export",
            Some("customer"),
            Some(n),
            0,
        );
    }
    b.terminate(leaver, days_before(2, 17, 0), true);
    let lid = b.id(leaver);
    b.plant("bulk-export", "principal", &lid);
    // Twelve 全部导出 exports (no row count) in 45 minutes.
    let burst = c.marketers[5];
    b.event(burst, days_before(4, 15, 55), "login", None, None, 0);
    for k in 0..12 {
        b.event(
            burst,
            days_before(4, 16, 2 + 4 * k),
            "export",
            Some("lead"),
            None,
            0,
        );
    }
    let bid = b.id(burst);
    b.plant("bulk-export", "principal", &bid);
    // An accountant who exports ~25 receivables a day pulls 650 at once.
    let spiker = c.accountants[3];
    if let Some(c) = b.accounts[spiker].habit.export.as_mut() {
        c.gap = (1, 1);
        c.records = (15, 40);
        c.uncounted = 0.0;
        c.from = Some(date(2026, 8, 3));
    }
    b.event(spiker, days_before(6, 11, 5), "login", None, None, 0);
    b.event(
        spiker,
        days_before(6, 11, 10),
        "export",
        Some("receivable"),
        Some(320),
        0,
    );
    b.event(
        spiker,
        days_before(6, 11, 25),
        "export",
        Some("receivable"),
        Some(330),
        0,
    );
    let sid = b.id(spiker);
    b.plant("bulk-export", "principal", &sid);
    // A sales manager exports 1,400 leads late on a Friday night over VPN.
    let night = c.managers[7];
    b.ensure_second_ip(night);
    b.event(night, days_before(16, 22, 35), "login", None, None, 1);
    b.event(
        night,
        days_before(16, 22, 40),
        "export",
        Some("lead"),
        Some(1400),
        1,
    );
    let nid = b.id(night);
    b.plant("bulk-export", "principal", &nid);

    // ---- Planted: bulk-delete ----
    // An account executive on notice wipes their pipeline: 150 leads in 20 minutes.
    let wiper = c.aes[64];
    b.event(wiper, days_before(5, 17, 40), "login", None, None, 0);
    for k in 0..5 {
        b.event(
            wiper,
            days_before(5, 17, 45 + 4 * k),
            "delete",
            Some("lead"),
            Some(30),
            0,
        );
    }
    let wid = b.id(wiper);
    b.plant("bulk-delete", "principal", &wid);
    // Twelve deletes of contacts without a row count within half an hour.
    let purger = c.marketers[9];
    b.event(purger, days_before(3, 10, 0), "login", None, None, 0);
    for k in 0..12 {
        b.event(
            purger,
            days_before(3, 10, 5 + 2 * k),
            "delete",
            Some("contact"),
            None,
            0,
        );
    }
    let pid = b.id(purger);
    b.plant("bulk-delete", "principal", &pid);
    // A billing specialist who never deletes removes 60 invoices at once.
    let remover = c.billing[4];
    b.event(remover, days_before(8, 15, 0), "login", None, None, 0);
    b.event(
        remover,
        days_before(8, 15, 10),
        "delete",
        Some("invoice"),
        Some(60),
        0,
    );
    let rid = b.id(remover);
    b.plant("bulk-delete", "principal", &rid);

    // ---- Planted: separation-of-duties ----
    // The IT manager, who controls the approval flows, also took a sales
    // role "to help with quarter-end contracts".
    let it_mgr = c.it_mgr;
    b.grant(it_mgr, SALES_REP, date(2026, 9, 28) + Duration::hours(9));
    // One account holds both sides: the finding is the account's.
    let it_mgr_id = b.id(it_mgr);
    b.plant("separation-of-duties", "principal", &it_mgr_id);
    // A sales operations analyst who records contracts runs the approval
    // flows through a second account of her own, kept in IT's books.
    let analyst = c.ops[1];
    let person = b.person_of(analyst);
    let email = b.people[person].email.clone();
    let login = format!("{}-flows", b.accounts[analyst].login);
    let id = b.next_id();
    let second = b.system_account(
        id,
        &login,
        "审批流维护",
        "IT",
        "human",
        date(2026, 9, 1),
        Pattern::LoginOnly,
        "10.10.0.41",
        "web-flows",
    );
    b.accounts[second].email = Some(email.clone());
    b.accounts[second].mfa = true;
    b.accounts[second].password_changed_at = Some(date(2026, 9, 1) + Duration::hours(2));
    // Granted under 90 days ago: over-privileged does not judge it unused yet.
    let g = b.grant(
        second,
        APPROVAL_ADMIN,
        date(2026, 9, 1) + Duration::hours(1),
    );
    // She approved the request herself, with her own e-mail.
    if let Some(grant) = b.grant_mut(&g) {
        grant.approved_by = Some(email);
    }
    b.plant("grant-without-approval", "grant", &g);
    // Two accounts of one person hold the two sides: the finding is hers.
    let analyst_person = b.people[person].id.clone();
    b.plant("separation-of-duties", "person", &analyst_person);
    // And signs in to it from her sales laptop, a device it never used.
    let laptop = &b.accounts[analyst].habit;
    let (ip, device) = (laptop.ips.first().cloned(), laptop.devices.first().cloned());
    b.events.push(Event {
        at: days_before(9, 8, 55),
        principal: b.id(second),
        action: "login",
        object: None,
        records: None,
        ip,
        device,
        success: true,
    });
    let sid = b.id(second);
    b.plant("device-sprawl", "principal", &sid);
    // An accountant who records receivables was given the system settings
    // role, workflows included, for a month-end and kept it.
    let fm = c.accountants[7];
    let g = b.grant(fm, SYS_SETTINGS, date(2026, 5, 11) + Duration::hours(14));
    let fm_id = b.id(fm);
    b.plant("separation-of-duties", "principal", &fm_id);
    // A privileged role outside IT: over-privileged finds the grant too.
    b.plant("over-privileged", "grant", &g);

    // ---- Planted: expired-grant-still-live ----
    // (And the migration role above.) Key-account export for the quarter-end
    // review, ended 30 September; exports went on in October: critical.
    let exporter = c.aes[47];
    let g = b.grant(
        exporter,
        KEY_EXPORT,
        date(2026, 9, 21) + Duration::hours(10),
    );
    b.temporary(&g, date(2026, 9, 30), None);
    b.accounts[exporter].mfa = true;
    for (day, n) in [(13, 45), (6, 38)] {
        b.event(
            exporter,
            days_before(day, 14, 20),
            "export",
            Some("customer"),
            Some(n),
            0,
        );
    }
    b.plant("expired-grant-still-live", "grant", &g);
    // The same right for a trade-fair follow-up, ended 16 October, unused since.
    let fair = c.aes[93];
    let g = b.grant(fair, KEY_EXPORT, date(2026, 10, 5) + Duration::hours(10));
    b.temporary(&g, date(2026, 10, 16), None);
    b.accounts[fair].mfa = true;
    b.plant("expired-grant-still-live", "grant", &g);

    // ---- Planted: privileged-without-mfa ----
    // (And admin, etl_sync and the intern above.) A senior account executive
    // changed phones in the spring; IT switched MFA off to let them in.
    let senior = c.seniors[11];
    b.accounts[senior].mfa = false;
    let sid = b.id(senior);
    b.plant("privileged-without-mfa", "principal", &sid);

    // ---- Planted: initial-password-unchanged ----
    // (And admin, sales01 and test01.) A support agent still signs in with the
    // password of the welcome mail: opened before the change was enforced.
    let agent = c.agents[12];
    b.accounts[agent].password_changed_at = None;
    let aid = b.id(agent);
    b.events
        .retain(|e| !(e.principal == aid && e.action == "password_change"));
    b.plant("initial-password-unchanged", "principal", &aid);

    // ---- Planted: orphan-account ----
    // (And admin, sales01 and test01.) The employee id was typed with a digit
    // missing, so no HR record stands behind the account.
    let typo = c.aes[77];
    let person = b.person_of(typo);
    let wrong = format!("E1{}", b.people[person].id.get(3..).unwrap_or_default());
    b.accounts[typo].person_id = Some(wrong);
    let tid = b.id(typo);
    b.plant("orphan-account", "principal", &tid);

    // ---- Planted: non-employee-access ----
    // (And the agency and the intern's super admin.) The spring interns were
    // onboarded like employees: standing roles without an end.
    for &intern in &c.interns[..3] {
        let id = b.id(intern);
        b.plant("non-employee-access", "principal", &id);
    }

    // ---- Planted: admin-actions-review ----
    // Every month a second person reviews what IT's administrators did to
    // users and roles: each of them is a finding by design.
    for &a in std::iter::once(&c.it_mgr)
        .chain(&c.crm_admins)
        .chain(&c.helpdesk)
    {
        let id = b.id(a);
        b.plant("admin-actions-review", "principal", &id);
    }
    // A helpdesk specialist reset a password at 23:10 on a Saturday: medium.
    b.event(
        c.helpdesk[2],
        days_before(15, 23, 10),
        "update",
        Some("user"),
        None,
        1,
    );
    // IT opened October's new hires with the shared admin login: nobody is
    // accountable for it, medium.
    for k in 0..3 {
        b.event(
            0,
            days_before(19, 9, 5 + 4 * k),
            "update",
            Some("user"),
            None,
            0,
        );
    }
    b.plant("admin-actions-review", "principal", "14773");

    // ---- Planted: device-sprawl ----
    // (And sales01, the roaming support agent and the approval-flow account.)
    // The finance manager's account signed in at 02:50 from a PC and an IP
    // nobody had seen, the night after a phishing mail: high.
    let fm = c.fin_mgrs[0];
    b.events.push(Event {
        at: days_before(12, 2, 50),
        principal: b.id(fm),
        action: "login",
        object: None,
        records: None,
        ip: Some("45.137.21.9".into()),
        device: Some("win-7f3a".into()),
        success: true,
    });
    let fid = b.id(fm);
    b.plant("device-sprawl", "principal", &fid);
}
