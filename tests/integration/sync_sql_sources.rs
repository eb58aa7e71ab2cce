//! SQL sources other than MariaDB: a foreign schema in a SQLite file and in
//! PostgreSQL, read through a mapping in each dialect; read-only sessions and
//! statement timeouts on the source side; and the `sync` command end to end
//! (the binary, a config file, a mapping error with its place).

use crate::common;

use std::path::Path;
use std::time::Duration;

use accessaudit::collect::readers::sql::SqlSource;
use accessaudit::collect::source::SourceKind;
use accessaudit::collect::sync::sync_source;
use accessaudit::config::Config;
use accessaudit::store::{Store, StoreOptions};
use chrono::{DateTime, Utc};

/// A small foreign admin schema: users with a password hash, groups,
/// memberships and an audit log with local wall-clock times.
const SQLITE_SCHEMA: &str = "
CREATE TABLE users (uid INTEGER PRIMARY KEY, uname TEXT NOT NULL, state INTEGER NOT NULL, pw_hash TEXT, created TEXT, last_seen TEXT);
CREATE TABLE grp (gid INTEGER PRIMARY KEY, gname TEXT NOT NULL, admin INTEGER NOT NULL);
CREATE TABLE member (uid INTEGER NOT NULL, gid INTEGER NOT NULL);
CREATE TABLE audit (aid INTEGER PRIMARY KEY, at TEXT NOT NULL, uid INTEGER, verb TEXT NOT NULL, n INTEGER);
INSERT INTO users VALUES (1, 'root', 1, 'x', '2025-01-01 00:00:00', '2026-10-31 10:00:00'),
                         (2, 'ops', 1, 'x', '2025-01-01 00:00:00', '2026-03-01 10:00:00'),
                         (3, 'gone', 0, 'x', '2025-01-01 00:00:00', NULL);
INSERT INTO grp VALUES (10, 'Admins', 1), (11, 'Readers', 0);
INSERT INTO member VALUES (1, 10), (2, 11);
INSERT INTO audit VALUES (100, '2026-10-31 09:00:00', 1, 'signin', NULL), (101, '2026-10-31 09:30:00', 1, 'dump', 5000);
";

const SQLITE_MAPPING: &str = r#"system: a small admin app
timezone: Europe/Berlin
feeds:
  users:
    table: principals
    query: |
      SELECT CAST(uid AS TEXT) AS id, uname AS login, state AS status,
             created AS created_at, last_seen AS last_login_at
        FROM users
    codes:
      status: {"1": active, "0": disabled}
  groups:
    table: roles
    query: SELECT CAST(gid AS TEXT) AS id, gname AS name, admin AS privileged FROM grp
  members:
    table: grants
    query: SELECT uid || ':' || gid AS id, CAST(uid AS TEXT) AS principal_id, CAST(gid AS TEXT) AS role_id FROM member
  audit:
    table: events
    query: |
      SELECT 'audit-' || aid AS id, at AS occurred_at, CAST(uid AS TEXT) AS principal_id,
             verb AS action, n AS record_count
        FROM audit
    codes:
      action: {signin: login, dump: export}
"#;

fn at(s: &str) -> DateTime<Utc> {
    accessaudit::model::parse_instant(s).expect("instant")
}

async fn sqlite_source(dir: &Path) -> String {
    let url = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
    let store = Store::connect(&url, StoreOptions::default())
        .await
        .expect("create source");
    for statement in SQLITE_SCHEMA.split(';').filter(|s| !s.trim().is_empty()) {
        store.execute(statement, &[]).await.expect(statement);
    }
    format!("sqlite://{}", dir.join("app.db").display())
}

fn write_config(dir: &Path, kind: &str, url: &str, mapping: &str, extra: &str) -> Config {
    std::fs::write(dir.join("mapping.yaml"), mapping).expect("mapping");
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "sources:\n  app:\n    kind: {kind}\n    url: {url}\n    mapping: mapping.yaml\n{extra}"
        ),
    )
    .expect("config");
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

async fn sqlite_schema(db: common::TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    let url = sqlite_source(dir.path()).await;
    let config = write_config(dir.path(), "sqlite", &url, SQLITE_MAPPING, "");
    let now = at("2026-11-01T00:00:00Z");
    let report = sync_source(&db.store, "app", &config.sources["app"], now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let read: Vec<u64> = report.feeds.iter().map(|f| f.read).collect();
    assert_eq!(read, [3, 2, 2, 2], "{report:?}");
    // Every feed reconciled against a COUNT(*) of its own query.
    let counted: Vec<(u64, Option<u64>)> = report
        .feeds
        .iter()
        .map(|f| (f.fetched, f.source_count))
        .collect();
    assert_eq!(
        counted,
        [(3, Some(3)), (2, Some(2)), (2, Some(2)), (2, Some(2))],
        "{report:?}"
    );
    let rows = db
        .store
        .fetch_all(
            "SELECT id, status, last_login_at FROM principals ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[2].req_text("status").unwrap(), "disabled");
    assert_eq!(
        rows[0].time("last_login_at").unwrap(),
        Some(at("2026-10-31T09:00:00Z")),
        "10:00 in Berlin (CET) is 09:00 UTC"
    );
    let export = db
        .store
        .fetch_all(
            "SELECT action, record_count FROM events WHERE id = 'audit-101'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(export[0].req_text("action").unwrap(), "export");
    assert_eq!(export[0].i64("record_count").unwrap(), Some(5000));

    // Incremental: only rows from the watermark on are read.
    let source = Store::connect(&format!("{url}?mode=rw"), StoreOptions::default())
        .await
        .unwrap();
    source
        .execute(
            "INSERT INTO audit VALUES (102, '2026-10-31 11:00:00', 2, 'signin', NULL)",
            &[],
        )
        .await
        .unwrap();
    let again = sync_source(&db.store, "app", &config.sources["app"], now)
        .await
        .unwrap();
    let audit = again.feeds.iter().find(|f| f.feed == "audit").unwrap();
    assert_eq!(
        (audit.read, audit.written),
        (2, 1),
        "the watermark row and the new one"
    );
    assert_eq!(
        audit.source_count,
        Some(2),
        "counted with the same watermark"
    );
}

/// The same schema in PostgreSQL, with native types.
async fn postgres_schema(db: common::TestDb) {
    let base = common::postgres_url();
    let schema = format!("src_{}", fastrand::u64(..));
    let admin = Store::connect(&base, StoreOptions::default())
        .await
        .unwrap();
    for sql in [
        format!("CREATE SCHEMA {schema}"),
        format!(
            "CREATE TABLE {schema}.users (uid INT PRIMARY KEY, uname TEXT NOT NULL, state SMALLINT NOT NULL, password TEXT, created TIMESTAMPTZ, last_seen TIMESTAMP)"
        ),
        format!(
            "CREATE TABLE {schema}.audit (aid BIGINT PRIMARY KEY, at TIMESTAMP NOT NULL, uid INT, verb TEXT NOT NULL)"
        ),
        format!("CREATE SEQUENCE {schema}.s"),
        format!(
            "INSERT INTO {schema}.users VALUES (1, 'root', 1, 'x', '2025-01-01T00:00:00Z', '2026-10-31 10:00:00'), (2, 'ops', 2, 'x', '2025-06-01T00:00:00Z', NULL)"
        ),
        format!(
            "INSERT INTO {schema}.audit VALUES (1, '2026-10-31 09:00:00', 1, 'signin'), (2, '2026-10-31 09:05:00', 2, 'signin')"
        ),
    ] {
        admin.execute(&sql, &[]).await.expect(&sql);
    }
    let mapping = format!(
        "timezone: Asia/Shanghai\nfeeds:\n  users:\n    table: principals\n    query: SELECT uid::text AS id, uname AS login, state AS status, created AS created_at, last_seen AS last_login_at FROM {schema}.users\n    codes:\n      status: {{\"1\": active, \"2\": pending}}\n  audit:\n    table: events\n    query: SELECT 'a' || aid AS id, at AS occurred_at, uid::text AS principal_id, 'login' AS action FROM {schema}.audit\n"
    );
    let (url, password) = split_password(&base);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pg-password"), password).unwrap();
    let config = write_config(
        dir.path(),
        "postgres",
        &url,
        &mapping,
        "    password_file: pg-password\n",
    );
    let now = at("2026-11-01T00:00:00Z");
    let report = sync_source(&db.store, "app", &config.sources["app"], now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.feeds[0].read, 2);
    let rows = db
        .store
        .fetch_all(
            "SELECT id, status, created_at, last_login_at FROM principals ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[1].req_text("status").unwrap(), "pending");
    assert_eq!(
        rows[0].time("created_at").unwrap(),
        Some(at("2025-01-01T00:00:00Z"))
    );
    assert_eq!(
        rows[0].time("last_login_at").unwrap(),
        Some(at("2026-10-31T02:00:00Z")),
        "timestamp without zone: wall-clock time in Shanghai"
    );
    let events = db
        .store
        .fetch_all("SELECT occurred_at FROM events ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(
        events[0].time("occurred_at").unwrap(),
        Some(at("2026-10-31T01:00:00Z"))
    );

    // A second sync reads from the watermark: the newest row only.
    let again = sync_source(&db.store, "app", &config.sources["app"], now)
        .await
        .unwrap();
    assert_eq!(again.feeds[1].read, 1, "{again:?}");

    // The session is read-only and has a statement timeout.
    let tz = chrono_tz::UTC;
    let mut s = SqlSource::open(
        SourceKind::Postgres,
        &base,
        None,
        Duration::from_millis(300),
        tz,
    )
    .await
    .unwrap();
    let e = s
        .read(
            &format!("SELECT nextval('{schema}.s')::text AS id"),
            None,
            tz,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("read-only transaction"), "{e}");
    let mut s = SqlSource::open(
        SourceKind::Postgres,
        &base,
        None,
        Duration::from_millis(300),
        tz,
    )
    .await
    .unwrap();
    let e = s
        .read("SELECT pg_sleep(3)::text AS id", None, tz)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("statement timeout"), "{e}");
    admin
        .execute(&format!("DROP SCHEMA {schema} CASCADE"), &[])
        .await
        .unwrap();
}

fn split_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (userinfo, host) = rest.rsplit_once('@').expect("user");
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    (format!("{scheme}://{user}@{host}"), password.to_string())
}

on_both_backends!(sqlite_schema, postgres_schema);

/// MariaDB sessions: read-only, and a statement stops at the timeout.
#[tokio::test]
async fn mariadb_sessions_are_read_only_with_a_timeout() {
    use sqlx::{Connection, Executor};
    let url = std::env::var("ACCESSAUDIT_TEST_MYSQL_URL").unwrap_or_else(|_| {
        panic!("ACCESSAUDIT_TEST_MYSQL_URL is not set: start MariaDB with `eval \"$(bash .ci/services)\"`")
    });
    let mut plain = sqlx::MySqlConnection::connect(&url).await.unwrap();
    plain
        .execute("CREATE TABLE IF NOT EXISTS ro_probe (x INT)")
        .await
        .unwrap();
    let tz = chrono_tz::UTC;
    let mut s = SqlSource::open(
        SourceKind::Mysql,
        &url,
        None,
        Duration::from_millis(500),
        tz,
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let e = s.read("SELECT SLEEP(5) AS id", None, tz).await;
    let elapsed = started.elapsed();
    // MariaDB interrupts SLEEP: an error, or SLEEP's own 1 for "interrupted".
    match e {
        Err(e) => assert!(e.to_string().contains("max_statement_time"), "{e}"),
        Ok(rows) => assert_eq!(
            rows[0][0].1,
            accessaudit::collect::readers::RawValue::Int(1)
        ),
    }
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let SqlSource::Mysql(conn) = &mut s else {
        unreachable!()
    };
    let e = conn
        .execute("INSERT INTO ro_probe VALUES (1)")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("READ ONLY"), "{e}");
}

/// The binary: `sync` with a config file, then `run`; and a mapping that
/// reads a credential column is refused with its place, nothing written.
#[test]
fn sync_command_end_to_end() {
    let dir = tempfile::tempdir().expect("dir");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(sqlite_source(dir.path()));
    std::fs::write(dir.path().join("mapping.yaml"), SQLITE_MAPPING).unwrap();
    let store = dir.path().join("store.db");
    std::fs::write(
        dir.path().join("config.yaml"),
        format!(
            "database: sqlite://{}\nsources:\n  app:\n    kind: sqlite\n    url: {url}\n    mapping: mapping.yaml\n",
            store.display()
        ),
    )
    .unwrap();
    let config = dir.path().join("config.yaml");
    let out = common::accessaudit()
        .args([
            "--config",
            config.to_str().unwrap(),
            "sync",
            "--source",
            "app",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("app: users → principals: read 3 (the source counts 3), kept 3"),
        "{stderr}"
    );
    assert!(!stderr.contains("do not reconcile"), "{stderr}");
    // The binary syncs at the wall clock; a run as of an instant before a
    // source's first sync is not reconstructible. Date this sync the day
    // before the audit instant, as if it had run then.
    rt.block_on(async {
        let s = Store::open(
            &format!("sqlite://{}", store.display()),
            StoreOptions::default(),
        )
        .await
        .unwrap();
        s.execute(
            "UPDATE syncs SET started_at = $1",
            &[accessaudit::store::SqlValue::time(at(
                "2026-10-31T12:00:00Z",
            ))],
        )
        .await
        .unwrap();
        s.close().await;
    });
    let out = common::accessaudit()
        .args([
            "--config",
            config.to_str().unwrap(),
            "run",
            "--rule",
            "idle-accounts",
            "--as-of",
            "2026-11-01T00:00:00Z",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let idle: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["subject_id"].as_str().unwrap())
        .collect();
    assert_eq!(idle, ["2"], "ops last signed in in March: {doc}");
    let report_of_run = |id: String| {
        let reports = dir.path().join(format!("reports-{id}"));
        let out = common::accessaudit()
            .args([
                "--config",
                config.to_str().unwrap(),
                "report",
                "--run",
                &id,
                "--out",
            ])
            .arg(&reports)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let html = std::fs::read_dir(&reports)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "html"))
            .expect("an html report");
        std::fs::read_to_string(html).unwrap()
    };
    let html = report_of_run(doc["run_id"].to_string());
    assert!(html.contains(r#"data-aa="reconciliation""#), "{html}");
    assert!(
        html.contains("its account — read-only (the file is opened read-only)"),
        "which sources were checked, and how: {html}"
    );
    assert!(!html.contains(r#"data-aa="not-reconciled""#));

    // A configured count that the rows read do not match: the sync says so,
    // and so does every report until a sync reconciles.
    std::fs::write(
        dir.path().join("mapping.yaml"),
        SQLITE_MAPPING.replace(
            "    codes:\n      status:",
            "    count: SELECT COUNT(*) + 1 AS n FROM users\n    codes:\n      status:",
        ),
    )
    .unwrap();
    let out = common::accessaudit()
        .args(["--config", config.to_str().unwrap(), "sync"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("feed `users` read 3 row(s) but the source counts 4: they do not reconcile"),
        "{stderr}"
    );
    let out = common::accessaudit()
        .args([
            "--config",
            config.to_str().unwrap(),
            "run",
            "--rule",
            "idle-accounts",
            "--as-of",
            "2026-11-01T00:00:00Z",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let html = report_of_run(doc["run_id"].to_string());
    assert!(html.contains(r#"data-aa="not-reconciled""#), "{html}");
    assert!(
        html.contains("users read 3 row(s), the source counts 4"),
        "{html}"
    );

    // A mapping that reads the password hash.
    std::fs::write(
        dir.path().join("mapping.yaml"),
        SQLITE_MAPPING.replace("uname AS login", "pw_hash AS login"),
    )
    .unwrap();
    let out = common::accessaudit()
        .args(["--config", config.to_str().unwrap(), "sync"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("mapping.yaml:6:")
            && stderr.contains("field `feeds.users.query`")
            && stderr.contains("`pw_hash` looks like a credential"),
        "{stderr}"
    );
    let rows = rt.block_on(async {
        let s = Store::open(
            &format!("sqlite://{}", store.display()),
            StoreOptions::default(),
        )
        .await
        .unwrap();
        s.fetch_all("SELECT COUNT(*) AS n FROM syncs", &[])
            .await
            .unwrap()[0]
            .i64("n")
            .unwrap()
    });
    assert_eq!(rows, Some(2), "the refused mapping never reached a sync");
}

/// A source password given as a systemd credential (`LoadCredential=`, so
/// `$CREDENTIALS_DIRECTORY/NAME`) is found by its name, as the SMTP password is.
#[test]
fn a_source_password_given_as_a_systemd_credential_is_found() {
    let base = std::env::var("ACCESSAUDIT_TEST_POSTGRES_URL")
        .expect("ACCESSAUDIT_TEST_POSTGRES_URL (set by .ci/services)");
    let (url, password) = split_password(&base);
    assert!(
        !password.is_empty(),
        "the test server must ask for a password"
    );
    let dir = tempfile::tempdir().expect("dir");
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::write(credentials.join("pg-password"), format!("{password}\n")).unwrap();
    std::fs::write(
        dir.path().join("mapping.yaml"),
        "feeds:\n  users:\n    table: principals\n    query: SELECT 'u1' AS id, 'alice' AS login, 'active' AS status\n",
    )
    .unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "database: sqlite://{}\nsources:\n  app:\n    kind: postgres\n    url: {url}\n    password_file: pg-password\n    mapping: mapping.yaml\n",
            dir.path().join("store.db").display()
        ),
    )
    .unwrap();
    let sync = |credentials_dir: Option<&Path>| {
        let mut c = common::accessaudit();
        c.args(["--config", config.to_str().unwrap(), "sync"])
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("ACCESSAUDIT_DATABASE_URL");
        if let Some(d) = credentials_dir {
            c.env("CREDENTIALS_DIRECTORY", d);
        }
        c.output().expect("run accessaudit")
    };
    let out = sync(Some(&credentials));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("app: users → principals: read 1"),
        "{stderr}"
    );
    // Without the credentials directory the file is not there: a clear error.
    let out = sync(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("source app: password: cannot read") && stderr.contains("pg-password"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&format!(":{password}@")),
        "the password is never printed: {stderr}"
    );
}

/// What a source's account may write, asked of the server: MariaDB's
/// grants and PostgreSQL's table privileges, for an account that can write
/// and one that may only read; a sync under `require_read_only: true`
/// refuses the first and writes nothing.
#[tokio::test]
async fn source_accounts_that_can_write_are_named() {
    use accessaudit::collect::readers::sql::WriteCheck;
    use sqlx::{Connection, Executor};
    let tz = chrono_tz::UTC;
    let check = async |kind, url: &str, password: Option<&str>| {
        let mut s = SqlSource::open(kind, url, password, Duration::from_secs(10), tz)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let c = s.write_check().await.expect("checked");
        s.close().await.expect("closed");
        c
    };

    // MariaDB: the tests' account has ALL PRIVILEGES; a reader has SELECT.
    let admin = std::env::var("ACCESSAUDIT_TEST_MYSQL_URL").unwrap_or_else(|_| {
        panic!("ACCESSAUDIT_TEST_MYSQL_URL is not set: start MariaDB with `eval \"$(bash .ci/services)\"`")
    });
    // (`.ci/services` creates the reader.)
    match check(SourceKind::Mysql, &admin, None).await {
        WriteCheck::CanWrite { what } => {
            assert!(
                what.iter().any(|g| g.contains("ALL PRIVILEGES")),
                "{what:?}"
            )
        }
        other => panic!("the tests' account can write: {other:?}"),
    }
    let (base, _) = split_password(&admin);
    let reader = base.replacen("accessaudit@", "aa_reader@", 1);
    assert!(
        matches!(
            check(SourceKind::Mysql, &reader, Some("reader")).await,
            WriteCheck::ReadOnly { .. }
        ),
        "SELECT only"
    );

    // PostgreSQL: a role with SELECT on one table, then INSERT as well.
    let pg = common::postgres_url();
    let mut conn = sqlx::PgConnection::connect(&pg).await.unwrap();
    let role = format!("aa_src_{}", fastrand::u64(..));
    for statement in [
        format!("CREATE ROLE {role} LOGIN PASSWORD 'reader'"),
        format!("CREATE TABLE {role}_t (x INT)"),
        format!("GRANT SELECT ON {role}_t TO {role}"),
    ] {
        conn.execute(sqlx::AssertSqlSafe(statement)).await.unwrap();
    }
    let (pg_base, _) = split_password(&pg);
    let as_role = pg_base.replacen("accessaudit@", &format!("{role}@"), 1);
    assert!(matches!(
        check(SourceKind::Postgres, &as_role, Some("reader")).await,
        WriteCheck::ReadOnly { .. }
    ));
    conn.execute(sqlx::AssertSqlSafe(format!(
        "GRANT INSERT ON {role}_t TO {role}"
    )))
    .await
    .unwrap();
    match check(SourceKind::Postgres, &as_role, Some("reader")).await {
        WriteCheck::CanWrite { what } => {
            assert!(
                what.iter()
                    .any(|t| t.ends_with(&format!("{role}_t: INSERT"))),
                "{what:?}"
            )
        }
        other => panic!("INSERT is writing: {other:?}"),
    }
    for statement in [format!("DROP TABLE {role}_t"), format!("DROP ROLE {role}")] {
        conn.execute(sqlx::AssertSqlSafe(statement)).await.unwrap();
    }

    // A sync under require_read_only refuses the account that can write.
    let dir = tempfile::tempdir().expect("dir");
    let (admin_url, admin_password) = split_password(&admin);
    std::fs::write(dir.path().join("password"), admin_password).unwrap();
    let config = write_config(
        dir.path(),
        "mysql",
        &admin_url,
        "timezone: UTC\nfeeds:\n  users:\n    table: principals\n    query: SELECT 'u1' AS id, 'u1' AS login, 'active' AS status\n",
        "    password_file: password\n    require_read_only: true\n",
    );
    let store = Store::connect(
        &format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("store.db").display()
        ),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let e = sync_source(&store, "app", &config.sources["app"], Utc::now())
        .await
        .expect_err("refused");
    assert!(
        e.to_string().contains("its account can write")
            && e.to_string().contains("require_read_only"),
        "{e}"
    );
    assert_eq!(
        store
            .count("SELECT COUNT(*) AS n FROM principals", &[])
            .await
            .unwrap(),
        0,
        "nothing written"
    );
}
