//! WukongCRM 11 on a real MariaDB: the real dumps from
//! ../shared/peers/wukongcrm/ (never copied into this repository: their
//! licence forbids redistribution), planted accounts, roles, grants, HR rows
//! and logs for each of the five rules, synced with the shipped mapping into
//! SQLite and PostgreSQL stores, then run.
//!
//! Needs ACCESSAUDIT_TEST_MYSQL_URL (`eval "$(bash .ci/services)"`); the
//! dumps are required when CI=true. The scenario changes the CRM databases,
//! so the two store backends take turns.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use accessaudit::collect::sync::{SyncReport, sync_source};
use accessaudit::config::Config;
use accessaudit::engine;

use accessaudit::store::{SqlValue, Store};
use chrono::{DateTime, Duration, Utc};
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

/// Removes what an earlier run planted and plants the scenario as of `now`.
async fn plant(now: DateTime<Utc>) {
    let mut crm = mysql("wk_crm_single").await;
    let ago = |d: i64| local(now - Duration::days(d));
    let mins = |m: i64| local(now - Duration::minutes(m));
    for sql in [
        "DELETE FROM wk_admin_user WHERE user_id = 14773 OR user_id BETWEEN 20001 AND 20099",
        "DELETE FROM wk_admin_user_role WHERE user_id BETWEEN 20001 AND 20099",
        "DELETE FROM wk_admin_role WHERE role_id = 190001",
        "DELETE FROM wk_admin_role_menu WHERE role_id = 190001",
        "DELETE FROM wk_admin_login_log",
        "DELETE FROM wk_crm_action_record",
        "DELETE FROM wk_hrm_single.wk_hrm_employee WHERE employee_id >= 90001",
        "DELETE FROM wk_hrm_single.wk_hrm_employee_quit_info WHERE employee_id >= 90001",
    ] {
        crm.execute(sql).await.expect(sql);
    }
    // (id, login, status, created days ago, last login days ago, mobile)
    type User<'a> = (i64, &'a str, i64, i64, Option<i64>, &'a str);
    let users: [User; 6] = [
        (14773, "13800000000", 1, 700, Some(1), "13800000000"), // the super user
        (20001, "13900000001", 1, 400, Some(200), "13900000001"), // idle
        (20002, "13900000002", 1, 400, Some(2), "13900000002"), // departed
        (20003, "13900000003", 1, 300, Some(1), "13900000003"), // bulk exporter
        (20004, "13900000004", 1, 300, Some(1), "13900000004"), // shared
        (20005, "13900000005", 1, 300, Some(1), "13900000005"), // a sales rep
    ];
    for (id, login, status, created, last, mobile) in users {
        sqlx::query(
            "INSERT INTO wk_admin_user (user_id, username, password, salt, realname, mobile, email, dept_id, post, status, parent_id, create_time, last_login_time, is_del)
             VALUES (?, ?, 'not-read', 'not-read', ?, ?, ?, 14852, 'sales', ?, 0, ?, ?, 0)",
        )
        .bind(id)
        .bind(login)
        .bind(format!("user {id}"))
        .bind(mobile)
        .bind(format!("u{id}@example.com"))
        .bind(status)
        .bind(ago(created))
        .bind(last.map(ago))
        .execute(&mut crm)
        .await
        .expect("insert user");
    }
    // A role bundling export and delete over all data (a finding itself).
    crm.execute("INSERT INTO wk_admin_role (role_id, role_name, role_type, remark, status, data_type, is_hidden) VALUES (190001, 'Data cleaner', 2, NULL, 1, 5, 1)")
        .await
        .expect("role");
    crm.execute(
        "INSERT INTO wk_admin_role_menu (role_id, menu_id) VALUES (190001, 31), (190001, 32)",
    )
    .await
    .expect("role menus");
    for (user, role) in [
        (20003, 180169),
        (20004, 180170),
        (20005, 180170),
        (20005, 190001),
    ] {
        sqlx::query("INSERT INTO wk_admin_user_role (user_id, role_id) VALUES (?, ?)")
            .bind(user)
            .bind(role)
            .execute(&mut crm)
            .await
            .expect("user role");
    }
    // HR: the departed rep left 10 days ago; the others are employed.
    for (emp, mobile, entry_status) in [
        (90002, "13900000002", 4),
        (90003, "13900000003", 1),
        (90005, "13900000005", 1),
    ] {
        sqlx::query(
            "INSERT INTO wk_hrm_single.wk_hrm_employee (employee_id, employee_name, mobile, email, entry_status, status, is_del, entry_time, create_user_id, create_time)
             VALUES (?, ?, ?, NULL, ?, 1, 0, ?, 14773, ?)",
        )
        .bind(emp)
        .bind(format!("employee {emp}"))
        .bind(mobile)
        .bind(entry_status)
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
    let mut logins: Vec<(i64, String, &str)> = vec![
        (14773, mins(600), "10.0.0.1"),
        (20002, mins(500), "10.0.0.2"),
        (20003, mins(400), "10.0.0.3"),
        (20005, mins(300), "10.0.0.5"),
    ];
    for (i, ip) in ["10.1.0.1", "10.2.0.1", "10.3.0.1"].iter().enumerate() {
        logins.push((20004, mins(200 + i as i64 * 10), ip));
    }
    for (user, at, ip) in logins {
        sqlx::query("INSERT INTO wk_admin_login_log (create_user_id, login_time, ip_address, device_type, auth_result) VALUES (?, ?, ?, '网页', 1)")
            .bind(user)
            .bind(at)
            .bind(ip)
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

async fn findings(store: &Store, as_of: DateTime<Utc>) -> BTreeSet<(String, String)> {
    let set = accessaudit::engine::load::load(&[], true).expect("shipped rules");
    let rules: Vec<&accessaudit::engine::Rule> = set.enabled().collect();
    let summary = engine::run(store, &rules, as_of, None).await.expect("run");
    for o in &summary.outcomes {
        assert_ne!(
            o.status,
            accessaudit::store::runs::OutcomeStatus::Failed,
            "{o:?}"
        );
    }
    let mut out = BTreeSet::new();
    store
        .for_each_finding(summary.run_id, |f| {
            out.insert((f.rule.clone(), f.subject_id.clone()));
            Ok(())
        })
        .await
        .expect("findings");
    out
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
    assert_eq!(feed(&first, "accounts").read, 6, "{first:?}");
    assert_eq!(feed(&first, "user_roles").granted, 4 + 2, "{first:?}");
    assert_eq!(feed(&first, "login_log").written, 7);
    assert_eq!(feed(&first, "crm_actions").read, 13, "views are dropped");
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

    let got = findings(store, now).await;
    for expected in [
        ("idle-accounts", "20001"),
        ("departed-still-active", "20002"),
        ("bulk-export", "20003"),
        ("shared-account", "20004"),
        ("over-privileged", "190001"),
    ] {
        assert!(
            got.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} missing from {got:?}"
        );
    }
    for quiet in ["20003", "20004", "20005", "14773"] {
        assert!(
            !got.contains(&("idle-accounts".to_string(), quiet.to_string())),
            "{quiet} signed in recently: {got:?}"
        );
    }

    // Between syncs: two new sign-ins; a role removed; the departed
    // account disabled at last.
    let mut crm = mysql("wk_crm_single").await;
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
        !after.contains(&("departed-still-active".into(), "20002".into())),
        "{after:?}"
    );
    assert!(
        !after.contains(&("idle-accounts".into(), "20001".into())),
        "signed in since: {after:?}"
    );
    let before = findings(store, now - Duration::minutes(90)).await;
    assert!(
        before.contains(&("departed-still-active".into(), "20002".into())),
        "{before:?}"
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
