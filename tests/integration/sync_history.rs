//! Exact history of synced sources (issue 16): a RuoYi-Vue-like schema
//! (sys_user, sys_dept, sys_role, sys_user_role, as RuoYi-Vue's docs
//! describe them) in a SQLite file, synced several times, then run as of
//! instants between the syncs. On SQLite and PostgreSQL stores.
//!
//! - before a source's first sync every rule is skipped as not
//!   reconstructible, with the reason (never 0 findings);
//! - the super user of `privileged.principals` holds the role from the
//!   account's own creation, so a marketer made super user between two
//!   syncs is found as of an instant before the sync that first saw them;
//! - a grant the source does not date is marked first seen;
//! - a re-grant whose source date is older than its revoke never reopens
//!   the archived interval: a run in the gap sees no grant;
//! - `pwd_update_date` (a date whose name contains `pwd`) is mapped with
//!   `allow_columns`, or by its type; a hash aliased as a date is refused
//!   before any value is read; a CSV file with canonical names needs no
//!   `columns:`.

use crate::common;

use std::path::Path;

use accessaudit::collect::sync::sync_source;
use accessaudit::config::Config;
use accessaudit::engine;
use accessaudit::store::runs::OutcomeStatus;
use accessaudit::store::{SqlValue, Store, StoreOptions};
use chrono::{DateTime, Utc};

/// RuoYi-Vue's user, department, role and membership tables (the columns
/// the mapping reads, with RuoYi's types; `password` holds a bcrypt hash).
const RUOYI_SCHEMA: &str = "
CREATE TABLE sys_dept (dept_id BIGINT PRIMARY KEY, parent_id BIGINT, dept_name VARCHAR(30), status CHAR(1) DEFAULT '0', del_flag CHAR(1) DEFAULT '0');
CREATE TABLE sys_user (user_id BIGINT PRIMARY KEY, dept_id BIGINT, user_name VARCHAR(30) NOT NULL, nick_name VARCHAR(30) NOT NULL, user_type VARCHAR(2) DEFAULT '00', email VARCHAR(50) DEFAULT '', password VARCHAR(100) DEFAULT '', status CHAR(1) DEFAULT '0', del_flag CHAR(1) DEFAULT '0', login_date DATETIME, pwd_update_date DATETIME, create_time DATETIME);
CREATE TABLE sys_role (role_id BIGINT PRIMARY KEY, role_name VARCHAR(30) NOT NULL, role_key VARCHAR(100) NOT NULL, data_scope CHAR(1) DEFAULT '1', status CHAR(1) NOT NULL, del_flag CHAR(1) DEFAULT '0');
CREATE TABLE sys_user_role (user_id BIGINT NOT NULL, role_id BIGINT NOT NULL, PRIMARY KEY (user_id, role_id));
INSERT INTO sys_dept VALUES (100, 0, 'IT', '0', '0'), (101, 0, 'Marketing', '0', '0'), (102, 0, 'Sales', '0', '0');
INSERT INTO sys_role VALUES (1, '超级管理员', 'admin', '1', '0', '0'), (2, '普通角色', 'common', '2', '0', '0');
INSERT INTO sys_user (user_id, dept_id, user_name, nick_name, password, login_date, pwd_update_date, create_time) VALUES
  (1, 100, 'admin', '若依', '$2a$10$7JB720yubVSZvUI0rEqK/.VqGOZTH.ulu33dHOiBE8ByOhJIrdAu2', '2026-02-27 09:00:00', '2025-01-01 00:00:00', '2025-01-01 00:00:00'),
  (2, 101, 'mkt-li', '李', '$2a$10$x', '2026-02-27 09:00:00', NULL, '2026-01-15 00:00:00'),
  (4, 102, 'sales-wu', '吴', '$2a$10$y', '2026-02-27 09:00:00', '2026-01-02 00:00:00', '2025-06-01 00:00:00');
INSERT INTO sys_user_role VALUES (1, 1), (2, 2), (4, 1);
";

/// RuoYi's administrator is user 1 by code (`SysUser.isAdmin`); the
/// marketers 2 and 3 are made super users the same way here. Role 1 is
/// RuoYi's `admin` role. The membership table records no date.
const RUOYI_MAPPING: &str = r#"system: RuoYi-Vue 3.8
timezone: UTC
allow_columns:
  - {column: pwd_update_date, reason: "date of the last password change, not a secret"}
privileged:
  roles: ["1"]
  principals: ["1", "2", "3"]
feeds:
  users:
    table: principals
    query: |
      SELECT CAST(u.user_id AS TEXT) AS id, u.user_name AS login, u.nick_name AS display_name,
             d.dept_name AS department, u.status AS status, u.create_time AS created_at,
             u.login_date AS last_login_at, u.pwd_update_date AS password_changed_at
        FROM sys_user u LEFT JOIN sys_dept d ON d.dept_id = u.dept_id
       WHERE u.del_flag = '0'
    codes:
      status: {"0": active, "1": disabled}
  roles:
    table: roles
    query: SELECT CAST(role_id AS TEXT) AS id, role_name AS name, data_scope FROM sys_role WHERE del_flag = '0'
    codes:
      data_scope: {"1": all, "2": custom, "3": department, "4": department_tree, "5": self}
  user_roles:
    table: grants
    query: |
      SELECT ur.user_id || ':' || ur.role_id AS id, CAST(ur.user_id AS TEXT) AS principal_id,
             CAST(ur.role_id AS TEXT) AS role_id
        FROM sys_user_role ur JOIN sys_user u ON u.user_id = ur.user_id
       WHERE u.del_flag = '0'
"#;

fn at(s: &str) -> DateTime<Utc> {
    accessaudit::model::parse_instant(s).expect("instant")
}

/// The RuoYi database as a SQLite file; returns its URL and a writable handle.
async fn ruoyi_source(dir: &Path) -> (String, Store) {
    let file = dir.join("ruoyi.db");
    let store = Store::connect(
        &format!("sqlite://{}?mode=rwc", file.display()),
        StoreOptions::default(),
    )
    .await
    .expect("create source");
    for statement in RUOYI_SCHEMA.split(";\n").filter(|s| !s.trim().is_empty()) {
        store.execute(statement, &[]).await.expect(statement);
    }
    (format!("sqlite://{}", file.display()), store)
}

fn config(dir: &Path, url: &str, mapping: &str) -> Config {
    std::fs::write(dir.join("mapping.yaml"), mapping).expect("mapping");
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "sources:\n  ruoyi:\n    kind: sqlite\n    url: {url}\n    mapping: mapping.yaml\n"
        ),
    )
    .expect("config");
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

async fn over_privileged(store: &Store, t: DateTime<Utc>) -> (OutcomeStatus, String, Vec<String>) {
    let set = engine::load::load(&[], true).expect("shipped rules");
    let rule = set
        .enabled()
        .find(|r| r.id == "over-privileged")
        .expect("over-privileged");
    let summary = engine::run(store, &[rule], t, None).await.expect("run");
    let outcome = &summary.outcomes[0];
    let mut subjects = Vec::new();
    store
        .for_each_finding(summary.run_id, |f| {
            subjects.push(f.subject_id.clone());
            Ok(())
        })
        .await
        .expect("findings");
    subjects.sort();
    subjects.dedup();
    (
        outcome.status,
        outcome.reason.clone().unwrap_or_default(),
        subjects,
    )
}

async fn grant(
    store: &Store,
    id: &str,
) -> Option<(Option<DateTime<Utc>>, Option<DateTime<Utc>>, String)> {
    store
        .fetch_all(
            "SELECT granted_at, revoked_at, granted_at_basis FROM grants WHERE id = $1",
            &[SqlValue::text(id)],
        )
        .await
        .expect("grant")
        .first()
        .map(|r| {
            (
                r.time("granted_at").unwrap(),
                r.time("revoked_at").unwrap(),
                r.text("granted_at_basis").unwrap().unwrap_or_default(),
            )
        })
}

/// Whether over-privileged found a grant of `user` (its findings are
/// about grants: `USER:ROLE`).
fn holds(found: &[String], user: &str) -> bool {
    found.iter().any(|g| g.split(':').next() == Some(user))
}

async fn ruoyi_history(db: common::TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    let (url, source) = ruoyi_source(dir.path()).await;
    let config = config(dir.path(), &url, RUOYI_MAPPING);
    let sync = |t: &'static str| {
        let store = &db.store;
        let source = &config.sources["ruoyi"];
        async move {
            sync_source(store, "ruoyi", source, at(t))
                .await
                .unwrap_or_else(|e| panic!("sync at {t}: {e}"))
        }
    };
    let s1 = "2026-03-01T00:00:00Z";
    sync(s1).await;

    // Marker: the membership table has no date, the super user's grant
    // dates from the account's creation.
    assert_eq!(
        grant(&db.store, "2:2").await,
        Some((Some(at(s1)), None, "first_seen".into()))
    );
    assert_eq!(
        grant(&db.store, "2:accessaudit:super-user").await,
        Some((
            Some(at("2026-01-15T00:00:00Z")),
            None,
            "account_start".into()
        ))
    );
    let changed = db
        .store
        .fetch_all(
            "SELECT id, password_changed_at FROM principals WHERE id = '1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        changed[0].time("password_changed_at").unwrap(),
        Some(at("2025-01-01T00:00:00Z")),
        "pwd_update_date mapped through allow_columns"
    );

    // Before the first sync: not reconstructible, with the reason, and no
    // finding — even between the marketer's creation and that sync.
    let (status, reason, found) = over_privileged(&db.store, at("2026-02-01T00:00:00Z")).await;
    assert_eq!(status, OutcomeStatus::Skipped, "{reason}");
    assert!(
        reason.contains("not reconstructible as of 2026-02-01T00:00:00Z")
            && reason.contains("source `ruoyi` was first synced at 2026-03-01T00:00:00Z"),
        "{reason}"
    );
    assert!(found.is_empty(), "{found:?}");

    // After it: the marketer is found.
    let (status, reason, found) = over_privileged(&db.store, at("2026-03-02T00:00:00Z")).await;
    assert_eq!(status, OutcomeStatus::Ok, "{reason}");
    assert!(holds(&found, "2"), "{found:?}");

    // A second marketer, created between two syncs and a super user by
    // code, is found as of an instant before the sync that first saw them.
    source
        .execute(
            "INSERT INTO sys_user (user_id, dept_id, user_name, nick_name, create_time) VALUES (3, 101, 'mkt-zhao', '赵', '2026-03-10 00:00:00')",
            &[],
        )
        .await
        .unwrap();
    source
        .execute("INSERT INTO sys_user_role VALUES (3, 2)", &[])
        .await
        .unwrap();
    let s2 = "2026-04-01T00:00:00Z";
    sync(s2).await;
    let (status, reason, found) = over_privileged(&db.store, at("2026-03-20T00:00:00Z")).await;
    assert_eq!(status, OutcomeStatus::Ok, "{reason}");
    assert!(holds(&found, "3"), "{found:?}");
    assert_eq!(
        grant(&db.store, "3:2").await,
        Some((Some(at(s2)), None, "first_seen".into())),
        "a grant the source does not date starts at the sync that saw it"
    );
    let (_, _, before_creation) = over_privileged(&db.store, at("2026-03-05T00:00:00Z")).await;
    assert!(!holds(&before_creation, "3"), "{before_creation:?}");
}

/// A grants feed whose date is older than a revoke the store recorded
/// (here: the account's creation, as a careless mapping might give it).
async fn regrant_never_reopens_the_archived_interval(db: common::TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    let (url, source) = ruoyi_source(dir.path()).await;
    let mapping = RUOYI_MAPPING
        .replace("principals: [\"1\", \"2\", \"3\"]", "principals: [\"1\"]")
        .replace(
            "CAST(ur.role_id AS TEXT) AS role_id\n",
            "CAST(ur.role_id AS TEXT) AS role_id, u.create_time AS granted_at\n",
        );
    let config = config(dir.path(), &url, &mapping);
    let sync = |t: &'static str| {
        let store = &db.store;
        let source = &config.sources["ruoyi"];
        async move {
            sync_source(store, "ruoyi", source, at(t))
                .await
                .unwrap_or_else(|e| panic!("sync at {t}: {e}"))
        }
    };
    let (s1, s2, s3) = (
        "2026-03-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
        "2026-05-01T00:00:00Z",
    );
    sync(s1).await;
    assert_eq!(
        grant(&db.store, "4:1").await,
        Some((Some(at("2025-06-01T00:00:00Z")), None, "source".into()))
    );
    source
        .execute("DELETE FROM sys_user_role WHERE user_id = 4", &[])
        .await
        .unwrap();
    sync(s2).await;
    source
        .execute("INSERT INTO sys_user_role VALUES (4, 1)", &[])
        .await
        .unwrap();
    sync(s3).await;

    // The archived interval is intact; the new one starts at the sync that
    // saw the grant again, marked clamped (the source said 2025-06-01).
    assert_eq!(
        grant(&db.store, "4:1@2026-04-01T00:00:00Z").await,
        Some((
            Some(at("2025-06-01T00:00:00Z")),
            Some(at(s2)),
            "source".into()
        ))
    );
    assert_eq!(
        grant(&db.store, "4:1").await,
        Some((Some(at(s3)), None, "clamped".into()))
    );
    let held = |found: &[String]| holds(found, "4");
    let (_, reason, found) = over_privileged(&db.store, at("2026-03-15T00:00:00Z")).await;
    assert!(held(&found), "before the revoke: {found:?} {reason}");
    let (status, reason, found) = over_privileged(&db.store, at("2026-04-15T00:00:00Z")).await;
    assert_eq!(status, OutcomeStatus::Ok, "{reason}");
    assert!(!held(&found), "in the gap the grant is not live: {found:?}");
    let (_, reason, found) = over_privileged(&db.store, at("2026-05-02T00:00:00Z")).await;
    assert!(held(&found), "after the re-grant: {found:?} {reason}");
}

on_both_backends!(ruoyi_history, regrant_never_reopens_the_archived_interval);

/// The credential guard's type rule without `allow_columns`, its check at
/// read time, and a CSV source with canonical names and no `columns:`.
#[tokio::test]
async fn pwd_update_date_passes_by_type_and_a_hash_never_does() {
    let db = common::sqlite().await;
    let dir = tempfile::tempdir().expect("dir");
    let (url, _source) = ruoyi_source(dir.path()).await;
    let by_type = RUOYI_MAPPING.replace(
        "allow_columns:\n  - {column: pwd_update_date, reason: \"date of the last password change, not a secret\"}\n",
        "",
    );
    let cfg = config(dir.path(), &url, &by_type);
    sync_source(
        &db.store,
        "ruoyi",
        &cfg.sources["ruoyi"],
        at("2026-03-01T00:00:00Z"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let n = db
        .store
        .fetch_all(
            "SELECT COUNT(*) AS n FROM principals WHERE password_changed_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()[0]
        .i64("n")
        .unwrap();
    assert_eq!(n, Some(2), "users 1 and 4 have a pwd_update_date");

    // The hash under a date's name passes the static check (its target is
    // a timestamp) but not the source's type: refused, value never shown.
    let hash = by_type.replace(
        "u.pwd_update_date AS password_changed_at",
        "u.password AS password_changed_at",
    );
    let cfg = config(dir.path(), &url, &hash);
    let e = sync_source(
        &db.store,
        "ruoyi",
        &cfg.sources["ruoyi"],
        at("2026-03-02T00:00:00Z"),
    )
    .await
    .expect_err("a hash is no date")
    .to_string();
    assert!(
        e.contains("column `password_changed_at` comes from a source column whose name looks like a credential")
            && e.contains("as TEXT"),
        "{e}"
    );
    assert!(!e.contains("$2a$"), "the hash is never shown: {e}");

    // A CSV roster whose header has the canonical names: no `columns:`.
    let hr = dir.path().join("hr");
    std::fs::create_dir(&hr).unwrap();
    std::fs::write(
        hr.join("roster.csv"),
        "id,email,full_name,department,employment_status,hired_at\np-1,li@example.com,Li,Marketing,active,2026-01-15\np-2,wu@example.com,Wu,Sales,terminated,2025-06-01\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("hr.yaml"),
        "system: HR export\nfeeds:\n  roster:\n    table: people\n    file: roster.csv\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("hr-config.yaml"),
        format!(
            "sources:\n  hr:\n    kind: csv\n    path: {}\n    mapping: hr.yaml\n",
            hr.display()
        ),
    )
    .unwrap();
    let hr_cfg = Config::load(&dir.path().join("hr-config.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let report = sync_source(
        &db.store,
        "hr",
        &hr_cfg.sources["hr"],
        at("2026-03-01T00:00:00Z"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.feeds[0].written, 2, "{report:?}");
    let rows = db
        .store
        .fetch_all(
            "SELECT id, employment_status, hired_at FROM people ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[1].req_text("employment_status").unwrap(), "terminated");
    assert_eq!(
        rows[0].time("hired_at").unwrap(),
        Some(at("2026-01-15T00:00:00Z"))
    );

    // A header column the table does not have is refused, with the file's place.
    std::fs::write(
        hr.join("roster.csv"),
        "id,emial,employment_status\np-1,li@example.com,active\n",
    )
    .unwrap();
    let e = sync_source(
        &db.store,
        "hr",
        &hr_cfg.sources["hr"],
        at("2026-03-02T00:00:00Z"),
    )
    .await
    .expect_err("unknown column")
    .to_string();
    assert!(
        e.contains("roster.csv:1") && e.contains("unknown column `emial`"),
        "{e}"
    );
}

/// The binary: `run --as-of` before the source's first sync says why on
/// stderr and exits 4 (incomplete), never 0 with no findings.
#[test]
fn run_as_of_before_the_first_sync_exits_incomplete() {
    let dir = tempfile::tempdir().expect("dir");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, _source) = rt.block_on(ruoyi_source(dir.path()));
    std::fs::write(dir.path().join("mapping.yaml"), RUOYI_MAPPING).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "database: sqlite://{}\nsources:\n  ruoyi:\n    kind: sqlite\n    url: {url}\n    mapping: mapping.yaml\n",
            dir.path().join("store.db").display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = common::accessaudit()
        .args(["--config", config, "sync"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = common::accessaudit()
        .args([
            "--config",
            config,
            "run",
            "--rule",
            "over-privileged",
            "--as-of",
            "2020-01-01T00:00:00Z",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("rule over-privileged skipped: not reconstructible as of 2020-01-01T00:00:00Z: source `ruoyi` was first synced at"),
        "{stderr}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["rules"][0]["status"], "skipped", "{doc}");
}
