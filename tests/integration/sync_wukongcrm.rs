//! WukongCRM 11 on a real MariaDB: the real dumps from
//! ../shared/peers/wukongcrm/ (never copied into this repository: their
//! licence forbids redistribution), planted accounts, roles, grants, HR rows
//! and logs for each rule the schema can carry, synced with the shipped
//! mapping into SQLite and PostgreSQL stores, then run; the rules it cannot
//! carry are asserted not applicable, with the reason (the WukongCRM table
//! of docs/MAPPINGS.md).
//!
//! Needs ACCESSAUDIT_TEST_MYSQL_URL (`eval "$(bash .ci/services)"`); the
//! dumps are required when CI=true. The scenario changes the CRM databases,
//! so the two store backends take turns.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use accessaudit::collect::sync::{SyncReport, sync_source};
use accessaudit::config::Config;
use accessaudit::engine;

use accessaudit::store::runs::OutcomeStatus;
use accessaudit::store::{SqlValue, Store};
use chrono::{DateTime, Duration, Timelike, Utc};
use sqlx::{Connection, Executor, MySqlConnection};
use tokio::sync::Mutex;

static CRM: Mutex<bool> = Mutex::const_new(false);

fn dumps_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peers/wukongcrm");
    if dir.join("wk_crm_single.sql").is_file() && dir.join("wk_hrm_single.sql").is_file() {
        Some(dir)
    } else if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "the WukongCRM dumps are missing from {}: CI needs them",
            dir.display()
        );
    } else {
        None
    }
}

fn mysql_url() -> String {
    std::env::var("ACCESSAUDIT_TEST_MYSQL_URL").unwrap_or_else(|_| {
        panic!(
            "ACCESSAUDIT_TEST_MYSQL_URL is not set: the WukongCRM tests need a real MariaDB. \
             Start one with `eval \"$(bash .ci/services)\"` (what .ci/run does)."
        )
    })
}

/// The server's URL with another database.
fn url_for(db: &str) -> String {
    let base = mysql_url();
    let (server, _) = base.rsplit_once('/').expect("URL with a database");
    format!("{server}/{db}")
}

async fn mysql(db: &str) -> MySqlConnection {
    MySqlConnection::connect(&url_for(db))
        .await
        .unwrap_or_else(|e| panic!("MariaDB at ACCESSAUDIT_TEST_MYSQL_URL is not reachable: {e}"))
}

/// Loads both dumps into wk_crm_single and wk_hrm_single (once per test
/// binary). MariaDB lacks MySQL 8's utf8mb4_0900_ai_ci collation: that name
/// is replaced on the way in, nothing else.
async fn load_dumps(dir: &Path) {
    let mut conn = mysql("mysql").await;
    for (db, file) in [
        ("wk_crm_single", "wk_crm_single.sql"),
        ("wk_hrm_single", "wk_hrm_single.sql"),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).expect("read dump");
        let text = text.replace("utf8mb4_0900_ai_ci", "utf8mb4_general_ci");
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}; USE {db}; SET autocommit = 0;"
        )))
        .await
        .expect("create database");
        conn.execute(sqlx::AssertSqlSafe(text))
            .await
            .unwrap_or_else(|e| panic!("loading {file}: {e}"));
        conn.execute("COMMIT; SET autocommit = 1;")
            .await
            .expect("commit");
    }
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The mobile number (and login) of planted user `id`: 13900000001 for 20001.
fn phone(id: i64) -> String {
    format!("139{:08}", id - 20000)
}

/// Removes what an earlier run planted and plants the scenario as of `now`.
async fn plant(now: DateTime<Utc>) {
    let mut crm = mysql("wk_crm_single").await;
    let ago = |d: i64| local(now - Duration::days(d));
    let mins = |m: i64| local(now - Duration::minutes(m));
    for sql in [
        "DELETE FROM wk_admin_user WHERE user_id = 14773 OR user_id BETWEEN 20001 AND 20099",
        "DELETE FROM wk_admin_user_role WHERE user_id BETWEEN 20001 AND 20099",
        "DELETE FROM wk_admin_role WHERE role_id IN (190001, 190002)",
        "DELETE FROM wk_admin_role_menu WHERE role_id IN (190001, 190002)",
        "DELETE FROM wk_admin_login_log",
        "DELETE FROM wk_admin_system_log",
        "DELETE FROM wk_crm_action_record",
        "DELETE FROM wk_hrm_single.wk_hrm_employee WHERE employee_id >= 90001",
        "DELETE FROM wk_hrm_single.wk_hrm_employee_quit_info WHERE employee_id >= 90001",
        "DELETE FROM wk_hrm_single.wk_hrm_employee_change_record WHERE employee_id >= 90001",
        "DELETE FROM wk_hrm_single.wk_hrm_dept WHERE dept_id >= 90001",
    ] {
        crm.execute(sql).await.expect(sql);
    }
    // (id, status, created days ago, last login days ago); login and mobile
    // are phone(id), the super user's 13800000000.
    let users: [(i64, i64, i64, Option<i64>); 17] = [
        (14773, 1, 700, Some(1)),   // the super user; reviews roles and users
        (20001, 1, 400, Some(200)), // idle
        (20002, 1, 400, Some(2)),   // departed
        (20003, 1, 300, Some(1)),   // bulk exporter
        (20004, 1, 300, Some(1)),   // shared
        (20005, 1, 300, Some(1)),   // a sales rep
        (20006, 1, 100, Some(1)),   // an intern (HR status 3)
        (20007, 1, 300, Some(1)),   // signs in from four phones
        (20008, 1, 300, Some(1)),   // bulk deleter
        (20009, 1, 50, Some(1)),    // orphan: no HR employee has its mobile
        (20010, 1, 300, Some(1)),   // enters contracts and edits their approval flow
        (20011, 1, 100, Some(1)),   // outsourced (HR status 8)
        (20020, 1, 300, Some(1)),   // moves from sales to finance between the syncs
        (20021, 1, 300, Some(1)),   // finance
        (20022, 1, 300, Some(1)),   // finance
        (20023, 1, 300, Some(1)),   // finance
        (20024, 1, 300, Some(1)),   // finance
    ];
    for (id, status, created, last) in users {
        let login = if id == 14773 {
            "13800000000".to_string()
        } else {
            phone(id)
        };
        sqlx::query(
            "INSERT INTO wk_admin_user (user_id, username, password, salt, realname, mobile, email, dept_id, post, status, parent_id, create_time, last_login_time, is_del)
             VALUES (?, ?, 'not-read', 'not-read', ?, ?, ?, 14852, 'sales', ?, 0, ?, ?, 0)",
        )
        .bind(id)
        .bind(&login)
        .bind(format!("user {id}"))
        .bind(&login)
        .bind(format!("u{id}@example.com"))
        .bind(status)
        .bind(ago(created))
        .bind(last.map(ago))
        .execute(&mut crm)
        .await
        .expect("insert user");
    }
    // A role bundling export and delete over all data (a finding itself),
    // and one that both enters contracts (crm.contract.save, menu 53) and
    // edits the approval flows that approve them (manage.examineFlow.update,
    // menu 179).
    crm.execute("INSERT INTO wk_admin_role (role_id, role_name, role_type, remark, status, data_type, is_hidden) VALUES (190001, 'Data cleaner', 2, NULL, 1, 5, 1), (190002, 'Contract desk', 0, NULL, 1, 1, 1)")
        .await
        .expect("roles");
    crm.execute(
        "INSERT INTO wk_admin_role_menu (role_id, menu_id) VALUES (190001, 31), (190001, 32), (190002, 53), (190002, 179)",
    )
    .await
    .expect("role menus");
    for (user, role) in [
        (20003, 180169),
        (20004, 180170),
        (20005, 180170),
        (20005, 190001),
        (20006, 180170),
        (20008, 180170),
        (20010, 190002),
        (20011, 180170),
        (20020, 180169), // the sales manager's role, kept in finance
    ] {
        sqlx::query("INSERT INTO wk_admin_user_role (user_id, role_id) VALUES (?, ?)")
            .bind(user)
            .bind(role)
            .execute(&mut crm)
            .await
            .expect("user role");
    }
    // HR departments (wk_hrm_dept, not the CRM's wk_admin_dept).
    crm.execute("INSERT INTO wk_hrm_single.wk_hrm_dept (dept_id, pid, dept_type, name, create_time, create_user_id) VALUES (90001, 18, 2, '销售部', NOW(), 14773), (90002, 18, 2, '财务部', NOW(), 14773)")
        .await
        .expect("HR departments");
    // HR: the departed rep left 10 days ago; the others are employed.
    // (employee, entry_status 1 在职 / 4 离职, status 1 正式 / 3 实习 / 8 外包, HR department)
    let employees: [(i64, i64, i64, Option<i64>); 14] = [
        (90002, 4, 1, None),
        (90003, 1, 1, None),
        (90005, 1, 1, None),
        (90006, 1, 3, None),
        (90007, 1, 1, None),
        (90008, 1, 1, None),
        (90010, 1, 1, None),
        (90011, 1, 8, None),
        (90020, 1, 1, Some(90001)),
        (90021, 1, 1, Some(90002)),
        (90022, 1, 1, Some(90002)),
        (90023, 1, 1, Some(90002)),
        (90024, 1, 1, Some(90002)),
        // An employee without a CRM account: no finding of any rule.
        (90099, 1, 1, Some(90002)),
    ];
    for (emp, entry_status, status, dept) in employees {
        sqlx::query(
            "INSERT INTO wk_hrm_single.wk_hrm_employee (employee_id, employee_name, mobile, email, entry_status, status, dept_id, is_del, entry_time, create_user_id, create_time)
             VALUES (?, ?, ?, NULL, ?, ?, ?, 0, ?, 14773, ?)",
        )
        .bind(emp)
        .bind(format!("employee {emp}"))
        .bind(phone(emp - 70000))
        .bind(entry_status)
        .bind(status)
        .bind(dept)
        .bind(ago(500))
        .bind(ago(500))
        .execute(&mut crm)
        .await
        .expect("employee");
    }
    sqlx::query("INSERT INTO wk_hrm_single.wk_hrm_employee_quit_info (employee_id, plan_quit_time, quit_type) VALUES (90002, ?, 1)")
        .bind(ago(10))
        .execute(&mut crm)
        .await
        .expect("quit info");
    // Sign-ins: everyone but the idle account, recently; the shared account
    // from three addresses within the hour; the departed one after leaving.
    // Web sign-ins record no device (device_type 网页 is a kind, not a device).
    let mut logins: Vec<(i64, String, &str, Option<String>)> = vec![
        (14773, mins(600), "10.0.0.1", None),
        (20002, mins(500), "10.0.0.2", None),
        (20003, mins(400), "10.0.0.3", None),
        (20005, mins(300), "10.0.0.5", None),
    ];
    for (i, ip) in ["10.1.0.1", "10.2.0.1", "10.3.0.1"].iter().enumerate() {
        logins.push((20004, mins(200 + i as i64 * 10), ip, None));
    }
    // Four phones (IMEIs) on four days: more than device-sprawl's three.
    for d in 1..=4 {
        logins.push((
            20007,
            ago(d),
            "10.0.0.7",
            Some(format!("86000000000000{d}")),
        ));
    }
    for (user, at, ip, imei) in logins {
        let device_type = if imei.is_some() {
            "移动端"
        } else {
            "网页"
        };
        sqlx::query("INSERT INTO wk_admin_login_log (create_user_id, login_time, ip_address, device_type, imei, auth_result) VALUES (?, ?, ?, ?, ?, 1)")
            .bind(user)
            .bind(at)
            .bind(ip)
            .bind(device_type)
            .bind(imei)
            .execute(&mut crm)
            .await
            .expect("login");
    }
    // Twelve exports without a row count within one hour, and edits that
    // the mapping translates, and views it drops.
    for i in 0..12 {
        sqlx::query("INSERT INTO wk_crm_action_record (create_user_id, create_time, ip_address, types, action_id, object, behavior, detail) VALUES (20003, ?, '10.0.0.3', 2, ?, '全部导出', 7, '导出了客户')")
            .bind(mins(120 - i * 4))
            .bind(i)
            .execute(&mut crm)
            .await
            .expect("export");
    }
    crm.execute(sqlx::AssertSqlSafe(format!(
        "INSERT INTO wk_crm_action_record (create_user_id, create_time, types, action_id, behavior, detail) VALUES (20005, '{}', 2, 1, 7, '导出了25条客户'), (20005, '{}', 2, 1, 26, 'follow-up')",
        mins(90),
        mins(80)
    )))
    .await
    .expect("other actions");
    // Ten customers deleted (behaviour 3 删除) within 45 minutes, one row per
    // record and no count: bulk-delete counts the deletes.
    for i in 0..10 {
        sqlx::query("INSERT INTO wk_crm_action_record (create_user_id, create_time, ip_address, types, action_id, object, behavior, detail) VALUES (20008, ?, '10.0.0.8', 2, ?, ?, 3, ?)")
            .bind(mins(100 - i * 5))
            .bind(1000 + i)
            .bind(format!("customer {i}"))
            .bind(format!("删除了客户：customer {i}"))
            .execute(&mut crm)
            .await
            .expect("delete");
    }
    // The system log: the super user edits a role (module 5, behaviour 2)
    // and creates an employee (module 3, behaviour 1); an account without
    // privileged access edits an employee; an edit of another module is not
    // read.
    for (user, types, behavior, m) in [
        (14773, 5, 2, 100),
        (14773, 3, 1, 95),
        (20009, 3, 2, 90),
        (14773, 11, 2, 85),
    ] {
        sqlx::query("INSERT INTO wk_admin_system_log (create_user_id, create_time, ip_address, types, behavior, object, detail) VALUES (?, ?, '10.0.0.1', ?, ?, 'object', 'detail')")
            .bind(user)
            .bind(mins(m))
            .bind(types)
            .bind(behavior)
            .execute(&mut crm)
            .await
            .expect("system log");
    }
}

/// The source as a deployment configures it: the password in a file (a
/// systemd credential), not in the URL. The directory must outlive syncs.
fn config(dir: &Path) -> Config {
    let mapping = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/wukongcrm.yaml");
    let url = url_for("wk_crm_single");
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (userinfo, host) = rest.rsplit_once('@').expect("user");
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    std::fs::write(dir.join("crm-password"), format!("{password}\n")).expect("password file");
    let text = format!(
        "sources:\n  crm:\n    kind: mysql\n    url: {scheme}://{user}@{host}\n    password_file: crm-password\n    mapping: {}\n    timeout: 2m\n",
        mapping.display()
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).expect("write config");
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

async fn sync(store: &Store, config: &Config, at: DateTime<Utc>) -> Result<SyncReport, String> {
    sync_source(store, "crm", &config.sources["crm"], at)
        .await
        .map_err(|e| e.to_string())
}

/// What a run of every shipped rule gave: (rule, subject) of each finding,
/// and each rule's status and reason.
struct Run {
    findings: BTreeSet<(String, String)>,
    outcomes: BTreeMap<String, (OutcomeStatus, Option<String>)>,
}

impl Run {
    fn has(&self, rule: &str, subject: &str) -> bool {
        self.findings
            .contains(&(rule.to_string(), subject.to_string()))
    }
}

async fn findings(store: &Store, as_of: DateTime<Utc>) -> Run {
    let set = accessaudit::engine::load::load(&[], true).expect("shipped rules");
    let rules: Vec<&accessaudit::engine::Rule> = set.enabled().collect();
    let summary = engine::run(store, &rules, as_of, None).await.expect("run");
    for o in &summary.outcomes {
        assert_ne!(o.status, OutcomeStatus::Failed, "{o:?}");
    }
    let mut findings = BTreeSet::new();
    store
        .for_each_finding(summary.run_id, |f| {
            findings.insert((f.rule.clone(), f.subject_id.clone()));
            Ok(())
        })
        .await
        .expect("findings");
    let outcomes = summary
        .outcomes
        .iter()
        .map(|o| (o.rule_id.clone(), (o.status, o.reason.clone())))
        .collect();
    Run { findings, outcomes }
}

async fn count(store: &Store, sql: &str) -> i64 {
    store.fetch_all(sql, &[]).await.expect(sql)[0]
        .i64("n")
        .expect("n")
        .unwrap_or(0)
}

fn feed<'a>(r: &'a SyncReport, name: &str) -> &'a accessaudit::collect::sync::FeedReport {
    r.feeds.iter().find(|f| f.feed == name).expect(name)
}

async fn wukongcrm_scenario(db: common::TestDb) {
    let Some(dir) = dumps_dir() else {
        eprintln!("WukongCRM dumps not found (only CI requires them): nothing to test");
        return;
    };
    let mut loaded = CRM.lock().await;
    if !*loaded {
        load_dumps(&dir).await;
        *loaded = true;
    }
    let now = Utc::now();
    plant(now).await;
    let config_dir = tempfile::tempdir().expect("temp dir");
    let config = config(config_dir.path());
    let store = &db.store;

    // First sync, two hours ago by the store's clock.
    let first_at = now - Duration::hours(2);
    let first = sync(store, &config, first_at).await.expect("first sync");
    assert_eq!(feed(&first, "accounts").read, 17, "{first:?}");
    assert_eq!(
        feed(&first, "user_roles").granted,
        9 + 2,
        "planted and seeded: {first:?}"
    );
    assert_eq!(feed(&first, "login_log").written, 11);
    assert_eq!(feed(&first, "crm_actions").read, 23, "views are dropped");
    assert_eq!(
        feed(&first, "admin_log").read,
        3,
        "modules other than users and roles are dropped"
    );
    assert_eq!(
        feed(&first, "privileged.principals").read,
        1,
        "the super user"
    );
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) AS n FROM grants WHERE granted_at IS NULL"
        )
        .await,
        0,
        "first-seen grants get granted_at"
    );

    // What WukongCRM's columns carry (docs/MAPPINGS.md, the WukongCRM
    // table): HR status and department history, IMEIs, the system log.
    let people = store
        .fetch_all(
            "SELECT id, worker_type FROM people WHERE id IN ('90003', '90006', '90011') ORDER BY id",
            &[],
        )
        .await
        .expect("people");
    let worker_types: Vec<(String, Option<String>)> = people
        .iter()
        .map(|r| (r.req_text("id").unwrap(), r.text("worker_type").unwrap()))
        .collect();
    assert_eq!(
        worker_types,
        [
            ("90003".to_string(), Some("employee".to_string())),
            ("90006".to_string(), Some("intern".to_string())),
            ("90011".to_string(), Some("contractor".to_string())),
        ]
    );
    assert_eq!(
        count(
            store,
            "SELECT COUNT(DISTINCT device_id) AS n FROM events WHERE device_id IS NOT NULL"
        )
        .await,
        4,
        "only the IMEIs are devices"
    );

    let got = findings(store, now).await;
    for (rule, subject) in [
        ("idle-accounts", "20001"),
        ("departed-still-active", "20002"),
        ("bulk-export", "20003"),
        ("shared-account", "20004"),
        ("over-privileged", "190001"),
        ("bulk-delete", "20008"),
        ("device-sprawl", "20007"),
        ("orphan-account", "20009"),
        // One account holds both sides: the finding is the account's.
        ("separation-of-duties", "20010"),
        ("non-employee-access", "20006"),
        ("non-employee-access", "20011"),
        ("admin-actions-review", "14773"),
    ] {
        assert!(
            got.has(rule, subject),
            "{rule} {subject} missing from {:?}",
            got.findings
        );
    }
    for (rule, clean) in [
        ("idle-accounts", "20003"),
        ("idle-accounts", "20004"),
        ("idle-accounts", "20005"),
        ("idle-accounts", "14773"),
        ("orphan-account", "20003"),
        ("orphan-account", "20005"),
        ("non-employee-access", "20008"),
        ("admin-actions-review", "20009"),
        ("bulk-delete", "20003"),
        // The grant was first seen after the person joined the department.
        ("transfer-kept-access", "20020:180169"),
    ] {
        assert!(!got.has(rule, clean), "{rule} {clean}: {:?}", got.findings);
    }
    // The rules WukongCRM cannot carry say so, and why; every other rule
    // is evaluated.
    let not_applicable = [
        (
            "expired-grant-still-live",
            "no row of grants fills expires_at",
        ),
        (
            "grant-without-approval",
            "no row of grants fills approved_by",
        ),
        (
            "initial-password-unchanged",
            "no row of principals fills password_changed_at",
        ),
        (
            "privileged-without-mfa",
            "no row of principals fills mfa_enabled",
        ),
    ];
    assert_eq!(got.outcomes.len(), 17, "{:?}", got.outcomes);
    for (rule, (status, reason)) in &got.outcomes {
        match not_applicable.iter().find(|(r, _)| r == rule) {
            Some((_, why)) => {
                assert_eq!(*status, OutcomeStatus::NotApplicable, "{rule}: {reason:?}");
                assert_eq!(reason.as_deref(), Some(*why), "{rule}");
                assert!(
                    !got.findings.iter().any(|(r, _)| r == rule),
                    "{rule} found something"
                );
            }
            None => assert_eq!(*status, OutcomeStatus::Ok, "{rule}: {reason:?}"),
        }
    }

    // Between syncs: two new sign-ins; a role removed; the departed
    // account disabled at last; 90020 moved from sales to finance half an
    // hour after the first sync (调岗, effective at once).
    let mut crm = mysql("wk_crm_single").await;
    let moved_at = now - Duration::minutes(90);
    sqlx::query("INSERT INTO wk_hrm_single.wk_hrm_employee_change_record (employee_id, change_type, change_reason, old_dept, new_dept, effect_time, create_user_id, create_time) VALUES (90020, 5, 3, 90001, 90002, ?, 14773, ?)")
        .bind(local(moved_at))
        .bind(local(moved_at))
        .execute(&mut crm)
        .await
        .expect("transfer");
    crm.execute(
        "UPDATE wk_hrm_single.wk_hrm_employee SET dept_id = 90002 WHERE employee_id = 90020",
    )
    .await
    .expect("new department");
    for (user, m) in [(20005, 50), (20001, 40)] {
        sqlx::query("INSERT INTO wk_admin_login_log (create_user_id, login_time, ip_address, auth_result) VALUES (?, ?, '10.9.9.9', 1)")
            .bind(user)
            .bind(local(now - Duration::minutes(m)))
            .execute(&mut crm)
            .await
            .expect("new login");
    }
    crm.execute("DELETE FROM wk_admin_user_role WHERE user_id = 20005 AND role_id = 190001")
        .await
        .expect("remove role");
    crm.execute("UPDATE wk_admin_user SET status = 0 WHERE user_id = 20002")
        .await
        .expect("disable");

    let second_at = now - Duration::hours(1);
    let second = sync(store, &config, second_at).await.expect("second sync");
    let logins = feed(&second, "login_log");
    assert_eq!(logins.written, 2, "{second:?}");
    assert!(
        logins.read <= 3,
        "only rows from the watermark on: {logins:?}"
    );
    assert_eq!(feed(&second, "user_roles").revoked, 1, "{second:?}");
    assert_eq!(feed(&second, "user_roles").granted, 0, "{second:?}");
    let revokes = store
        .fetch_all(
            "SELECT grant_id, at FROM access_changes WHERE change = 'revoke'",
            &[],
        )
        .await
        .expect("changes");
    assert_eq!(revokes.len(), 1);
    assert_eq!(revokes[0].req_text("grant_id").unwrap(), "20005:190001");

    // The grant was live between the syncs and is not now (DESIGN's
    // definition of a live grant, as the rules apply it).
    let live_at = |t: DateTime<Utc>| {
        let store = store.clone();
        async move {
            store
                .fetch_all(
                    "SELECT id FROM grants WHERE id = '20005:190001' AND granted_at <= $1 AND (revoked_at IS NULL OR revoked_at > $1)",
                    &[SqlValue::time(t)],
                )
                .await
                .expect("live")
                .len()
        }
    };
    assert_eq!(live_at(now - Duration::minutes(90)).await, 1);
    assert_eq!(live_at(now).await, 0);
    assert_eq!(
        live_at(now - Duration::hours(3)).await,
        0,
        "not seen before the first sync"
    );

    // Accounts as they were: disabled now, so no departed finding; active
    // as of before the second sync, so the finding is still there.
    let after = findings(store, now).await;
    assert!(
        !after.has("departed-still-active", "20002"),
        "{:?}",
        after.findings
    );
    assert!(
        !after.has("idle-accounts", "20001"),
        "signed in since: {:?}",
        after.findings
    );
    let before = findings(store, now - Duration::minutes(90)).await;
    assert!(
        before.has("departed-still-active", "20002"),
        "{:?}",
        before.findings
    );

    // The transfer: department and department_since from the change record.
    let moved = store
        .fetch_all(
            "SELECT department, department_since FROM people WHERE id = '90020'",
            &[],
        )
        .await
        .expect("moved");
    assert_eq!(
        moved[0].text("department").unwrap().as_deref(),
        Some("财务部")
    );
    assert_eq!(
        moved[0].time("department_since").unwrap(),
        Some(moved_at.with_nanosecond(0).expect("whole second"))
    );
    // The sales manager's role, first seen before the move, is still held
    // past the 30-day grace, where none of the four finance peers holds it.
    assert!(
        !after.has("transfer-kept-access", "20020:180169"),
        "within the grace: {:?}",
        after.findings
    );
    let month_later = findings(store, now + Duration::days(31)).await;
    assert!(
        month_later.has("transfer-kept-access", "20020:180169"),
        "{:?}",
        month_later.findings
    );

    // A failure mid-sync (a login result the mapping cannot translate, read
    // after every snapshot table was written) leaves the store as it was.
    crm.execute("DELETE FROM wk_admin_user_role WHERE user_id = 20004")
        .await
        .expect("remove");
    sqlx::query("INSERT INTO wk_admin_login_log (create_user_id, login_time, auth_result) VALUES (20005, ?, 3)")
        .bind(local(now - Duration::minutes(10)))
        .execute(&mut crm)
        .await
        .expect("bad login");
    let snapshot = "SELECT (SELECT COUNT(*) FROM grants WHERE revoked_at IS NULL) * 1000000 + (SELECT COUNT(*) FROM events) * 1000 + (SELECT COUNT(*) FROM access_changes) AS n";
    let before_failure = count(store, snapshot).await;
    let e = sync(store, &config, now - Duration::minutes(5))
        .await
        .expect_err("untranslatable code");
    assert!(e.contains("code `3` has no translation"), "{e}");
    assert_eq!(count(store, snapshot).await, before_failure);
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) AS n FROM syncs WHERE status = 'failed'"
        )
        .await,
        1
    );
    drop(loaded);
}

on_both_backends!(wukongcrm_scenario);
