//! Hardening: a deployment's SQL (custom rules, source mappings) is exactly
//! one read-only SELECT whatever quoting hides a `;`, reads only what it may,
//! and cannot switch off the statement timeout of the rules after it. The
//! reproductions of the hardening issue, on every backend the engine or a
//! source supports.

use crate::common;

use std::path::Path;
use std::time::Duration;

use accessaudit::collect::csv_import::import_csv;
use accessaudit::collect::readers::sql::SqlSource;
use accessaudit::collect::source::SourceKind;
use accessaudit::collect::tables;
use accessaudit::engine::{self, Rule, RuleKind};
use accessaudit::store::runs::OutcomeStatus;
use accessaudit::store::{Backend, SqlValue, Store, StoreOptions};
use common::TestDb;

use common::accessaudit;

const T: &str = "2026-11-01T00:00:00Z";

/// Three accounts (alice, bob, carol = p1, p2, p3).
async fn import_principals(db: &TestDb, dir: &Path) {
    let path = dir.join("principals.csv");
    std::fs::write(
        &path,
        "id,login,email,department,account_type,status,created_at,last_login_at\n\
         p1,alice,alice@example.com,Sales,human,active,2025-01-01,2026-10-31T09:00:00Z\n\
         p2,bob,bob@example.com,Sales,human,active,2025-01-01,2026-10-20T09:00:00Z\n\
         p3,carol,carol@example.com,IT,human,active,2025-01-01,2026-10-30T09:00:00Z\n",
    )
    .unwrap();
    import_csv(&db.store, &tables::PRINCIPALS, &path)
        .await
        .expect("principals import");
}

/// A custom rule loaded normally, then given `query` as it is: the
/// prepare-time guard must hold even where the loader's static check would
/// have refused it (or been fooled).
fn sql_rule(id: &str, query: &str) -> Rule {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(format!("{id}.yaml")),
        format!(
            "id: {id}\ntitle: {id}\nseverity: low\nkind: sql\nparams:\n  query: SELECT 1 AS subject_id\n"
        ),
    )
    .unwrap();
    let mut set = engine::load::load(&[dir.path().to_path_buf()], false).unwrap();
    let mut rule = set.rules.remove(0);
    match &mut rule.kind {
        RuleKind::Sql(p) => p.query = query.to_string(),
        other => panic!("not a sql rule: {other:?}"),
    }
    rule
}

/// The reproductions and every quoting form of the engine's
/// dialects: a `;` hidden in a quoted identifier or string smuggles COMMIT,
/// VACUUM INTO, ATTACH, SET. Each rule fails with "more than one statement",
/// no file appears, and the rule after them still reads the run's snapshot.
async fn hidden_statements_are_refused(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    import_principals(&db, dir.path()).await;
    let copy = dir.path().join("copy.db");
    let other = dir.path().join("other.db");
    {
        // A database the ATTACH trick would read.
        let o = Store::open(
            &format!("sqlite://{}", other.display()),
            StoreOptions::default(),
        )
        .await
        .unwrap();
        o.execute(
            "INSERT INTO principals (id, login, status) VALUES ('secret-row', 'x', 'active')",
            &[],
        )
        .await
        .unwrap();
    }
    let c = copy.display();
    let o = other.display();
    let tricks: Vec<String> = match db.store.backend() {
        Backend::Sqlite => vec![
            format!(
                "SELECT id AS subject_id, 1 AS [a'b] FROM principals LIMIT 1; COMMIT; VACUUM INTO '{c}'; BEGIN; SAVEPOINT rule_eval --'"
            ),
            format!(
                "SELECT id AS subject_id, 1 AS `a'b` FROM principals LIMIT 1; COMMIT; VACUUM INTO '{c}'; BEGIN; SAVEPOINT rule_eval --'"
            ),
            format!(
                "SELECT id AS subject_id, 1 AS \"a'b\" FROM principals LIMIT 1; COMMIT; VACUUM INTO '{c}'; BEGIN; SAVEPOINT rule_eval --'"
            ),
            format!(
                "SELECT id AS subject_id, 'a\"b' AS x FROM principals LIMIT 1; COMMIT; VACUUM INTO '{c}'; BEGIN; SAVEPOINT rule_eval --\""
            ),
            format!(
                "SELECT id AS subject_id, 1 AS [a'b] FROM principals LIMIT 1; ATTACH '{o}' AS o; SELECT id AS subject_id FROM o.principals --'"
            ),
            // A `$` turns the loader's static check off (it would misread
            // PostgreSQL's dollar quotes): the store's guard alone.
            format!(
                "SELECT id AS subject_id, '$' AS d, 1 AS [a'b] FROM principals LIMIT 1; COMMIT; VACUUM INTO '{c}'; BEGIN; SAVEPOINT rule_eval --'"
            ),
            format!(
                "SELECT id AS subject_id, '$' AS d, 1 AS `a'b` FROM principals LIMIT 1; ATTACH '{o}' AS o; SELECT id AS subject_id FROM o.principals --'"
            ),
            // One statement, but not a query.
            format!("VACUUM INTO '{c}'"),
        ],
        Backend::Postgres => vec![
            "SELECT id AS subject_id, E'a\\'b' AS x FROM principals LIMIT 1; COMMIT; SELECT 1 AS subject_id --'".to_string(),
            "SELECT id AS subject_id, $t$a'b$t$ AS x FROM principals LIMIT 1; COMMIT; SELECT 1 AS subject_id --'".to_string(),
            "SELECT id AS subject_id, 1 AS U&\"a'b\" FROM principals LIMIT 1; COMMIT; SELECT 1 AS subject_id --'".to_string(),
            "SELECT id AS subject_id FROM principals LIMIT 1; SET statement_timeout = 0".to_string(),
        ],
    };
    let mut all: Vec<Rule> = tricks
        .iter()
        .enumerate()
        .map(|(i, q)| sql_rule(&format!("trick-{i}"), q))
        .collect();
    all.push(sql_rule(
        "z-after",
        "SELECT id AS subject_id FROM principals WHERE login = 'carol'",
    ));
    let rules: Vec<&Rule> = all.iter().collect();
    let as_of = accessaudit::model::parse_instant(T).unwrap();
    let summary = engine::run(&db.store, &rules, as_of, None)
        .await
        .expect("run");
    for (i, q) in tricks.iter().enumerate() {
        let o = &summary.outcomes[i];
        assert_eq!(o.status, OutcomeStatus::Failed, "{q}: {o:?}");
        let reason = o.reason.as_deref().unwrap_or("");
        if q.starts_with("VACUUM") {
            // Refused by the loader's check or by the store's, whichever
            // sees it first.
            assert!(
                reason.contains("one SELECT") || reason.contains("read-only SELECT"),
                "{q}: {reason}"
            );
        } else {
            assert!(reason.contains("more than one statement"), "{q}: {reason}");
        }
    }
    assert!(!copy.exists(), "VACUUM INTO wrote {}", copy.display());
    let after = summary.outcomes.last().unwrap();
    assert_eq!(
        (after.status, after.finding_count),
        (OutcomeStatus::Ok, 1),
        "{after:?}"
    );
    let mut found = Vec::new();
    db.store
        .for_each_finding(summary.run_id, |f| {
            found.push(f.subject_id);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(found, ["p3"], "only the honest rule's finding");

    if db.store.backend() == Backend::Sqlite {
        // Custom SQL reads the canonical tables only, not the engine's own
        // tables, nor SQLite's schema, nor functions outside the allow-list.
        let denied = [
            (
                "SELECT CAST(id AS TEXT) AS subject_id, body FROM outbox",
                "reading table `outbox`",
            ),
            (
                "SELECT CAST(id AS TEXT) AS subject_id FROM runs",
                "reading table `runs`",
            ),
            (
                "SELECT name AS subject_id FROM sqlite_master",
                "reading table `sqlite_master`",
            ),
            (
                "SELECT load_extension('x') AS subject_id",
                "function `load_extension`",
            ),
            (
                "SELECT user_version AS subject_id FROM pragma_user_version",
                "pragma_user_version",
            ),
        ];
        let all: Vec<Rule> = denied
            .iter()
            .enumerate()
            .map(|(i, (q, _))| sql_rule(&format!("denied-{i}"), q))
            .collect();
        let rules: Vec<&Rule> = all.iter().collect();
        let s = engine::run(&db.store, &rules, as_of, None).await.unwrap();
        for (o, (q, why)) in s.outcomes.iter().zip(denied) {
            assert_eq!(o.status, OutcomeStatus::Failed, "{q}: {o:?}");
            let reason = o.reason.as_deref().unwrap_or("");
            assert!(reason.contains(why), "{q}: {reason}");
        }
    }
}

/// A rule that switches the statement timeout off must not take it away
/// from the rules after it: the scan's settings are set again before each
/// rule, and a changed search_path does not outlive its rule either.
async fn a_rule_cannot_switch_the_timeout_off_for_the_next(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    import_principals(&db, dir.path()).await;
    let store = Store::open(
        &db.url,
        StoreOptions {
            statement_timeout: Duration::from_secs(3),
        },
    )
    .await
    .unwrap();
    let (off, slow) = match store.backend() {
        Backend::Postgres => (
            "SELECT set_config('statement_timeout', '0', true) AS subject_id, set_config('search_path', 'pg_catalog', true) AS p",
            "SELECT 'x' AS subject_id FROM pg_sleep(20)",
        ),
        Backend::Sqlite => (
            "SELECT 'x' AS subject_id",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000000) \
             SELECT CAST(MAX(i) AS TEXT) AS subject_id FROM n",
        ),
    };
    let all = [
        sql_rule("a-off", off),
        sql_rule("b-slow", slow),
        sql_rule("c-principals", "SELECT id AS subject_id FROM principals"),
    ];
    let rules: Vec<&Rule> = all.iter().collect();
    let started = std::time::Instant::now();
    let summary = engine::run(&store, &rules, chrono::Utc::now(), None)
        .await
        .expect("run");
    let took = started.elapsed();
    assert_eq!(
        summary.outcomes[0].status,
        OutcomeStatus::Ok,
        "{:?}",
        summary.outcomes[0]
    );
    let slow = &summary.outcomes[1];
    assert_eq!(slow.status, OutcomeStatus::Failed, "{slow:?}");
    let reason = slow.reason.as_deref().unwrap_or("");
    assert!(
        reason.contains("cancel") || reason.contains("interrupt"),
        "stopped by the timeout: {slow:?}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(took >= Duration::from_secs(3), "took {took:?}");
    // The search_path came back too: the next rule still finds `principals`.
    assert_eq!(
        (
            summary.outcomes[2].status,
            summary.outcomes[2].finding_count
        ),
        (OutcomeStatus::Ok, 3),
        "{:?}",
        summary.outcomes[2]
    );
}

/// Every table the migrations make is either one a rule may read or one of
/// the engine's own: a new table must say which (`store/schema.rs`).
async fn every_table_is_canonical_or_the_engines(db: TestDb) {
    let sql = match db.store.backend() {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            // The monthly partitions of events (0016) are events.
            "SELECT c.relname::text AS name FROM pg_class c
              WHERE c.relnamespace = current_schema()::regnamespace
                AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        }
    };
    let mut tables: Vec<String> = db
        .store
        .fetch_all(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.req_text("name").unwrap())
        .collect();
    tables.sort();
    let mut known: Vec<String> = accessaudit::store::SCAN_READABLE
        .iter()
        .chain(accessaudit::store::ENGINE_TABLES.iter())
        .map(|t| t.to_string())
        .collect();
    known.sort();
    assert_eq!(tables, known);
}

/// The schema still refuses a value outside a column's allowed list after
/// SQLite's lists became OR chains (0018), and no SQLite table spells one
/// as an IN list of three values or more again (SQLite builds an ephemeral
/// index of such a list for every inserted row).
async fn columns_refuse_values_outside_their_lists(db: TestDb) {
    let insert = |status: &str, account_type: &str| {
        format!(
            "INSERT INTO principals (id, login, account_type, status) \
             VALUES ('p-{status}-{account_type}', 'x', '{account_type}', '{status}')"
        )
    };
    for (status, account_type) in [("bogus", "human"), ("active", "robot"), ("Active", "human")] {
        let err = db
            .store
            .execute(&insert(status, account_type), &[])
            .await
            .expect_err("a value outside the list is refused");
        assert!(err.to_string().to_lowercase().contains("check"), "{err}");
    }
    for (status, account_type) in [("active", "human"), ("locked", "external")] {
        db.store
            .execute(&insert(status, account_type), &[])
            .await
            .unwrap();
    }
    if db.store.backend() == Backend::Sqlite {
        let definitions = db
            .store
            .fetch_all(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table'",
                &[],
            )
            .await
            .unwrap();
        for row in &definitions {
            let (name, sql) = (row.req_text("name").unwrap(), row.req_text("sql").unwrap());
            for list in sql.split(" IN (").skip(1) {
                let values = list
                    .split(')')
                    .next()
                    .unwrap_or_default()
                    .matches(',')
                    .count()
                    + 1;
                assert!(
                    values < 3,
                    "{name} checks an IN list of {values} values: {sql}"
                );
            }
        }
    }
}

/// A finding belongs to a run that exists, and goes with its run: by the
/// foreign key on SQLite, by statement-level triggers on PostgreSQL
/// (migration 0019, which dropped the key's per-row check).
async fn findings_belong_to_their_run(db: TestDb) {
    let as_of = chrono::DateTime::from_timestamp(1_793_520_000, 0).unwrap();
    let run = db.store.start_run(None, as_of).await.unwrap();
    let insert = |run_id: i64| {
        format!(
            "INSERT INTO findings (run_id, rule, severity, subject_type, subject_id, title, evidence) \
             VALUES ({run_id}, 'r', 'low', 'principal', 'p-1', 't', '{{}}'), \
                    ({run_id}, 'r', 'low', 'principal', 'p-2', 't', '{{}}')"
        )
    };
    let count = |run_id: i64| {
        let store = db.store.clone();
        async move {
            store
                .fetch_all(
                    "SELECT COUNT(*) AS n FROM findings WHERE run_id = $1",
                    &[SqlValue::int(run_id)],
                )
                .await
                .unwrap()[0]
                .i64("n")
                .unwrap()
        }
    };
    db.store.execute(&insert(run), &[]).await.unwrap();
    assert_eq!(count(run).await, Some(2));
    let err = db
        .store
        .execute(&insert(run + 1000), &[])
        .await
        .expect_err("findings of a run that does not exist are refused");
    let message = err.to_string().to_lowercase();
    assert!(
        message.contains("foreign key") || message.contains("run that does not exist"),
        "{err}"
    );
    assert_eq!(count(run + 1000).await, Some(0));
    db.store
        .execute("DELETE FROM runs WHERE id = $1", &[SqlValue::int(run)])
        .await
        .unwrap();
    assert_eq!(count(run).await, Some(0));
    if db.store.backend() == Backend::Postgres {
        let run = db.store.start_run(None, as_of).await.unwrap();
        db.store.execute(&insert(run), &[]).await.unwrap();
        db.store
            .execute("TRUNCATE runs CASCADE", &[])
            .await
            .unwrap();
        assert_eq!(count(run).await, Some(0));
    }
}

/// A rule that lets PostgreSQL compile its expressions (device-sprawl,
/// `Tx::compile_expressions`) does so for itself only: the next rule's
/// scan has JIT off again. Nothing changes on SQLite.
async fn compiled_expressions_end_with_their_rule(db: TestDb) {
    async fn jit(scan: &mut accessaudit::store::Tx) -> Option<String> {
        match scan.backend() {
            Backend::Postgres => scan
                .fetch_optional("SELECT current_setting('jit') AS jit", &[])
                .await
                .unwrap()
                .and_then(|row| row.text("jit").unwrap()),
            Backend::Sqlite => None,
        }
    }
    let store = &db.store;
    let mut scan = store.begin_scan().await.unwrap();
    store.rearm_scan(&mut scan).await.unwrap();
    let off = (store.backend() == Backend::Postgres).then(|| "off".to_string());
    assert_eq!(jit(&mut scan).await, off, "scans start without JIT");
    scan.compile_expressions().await.unwrap();
    let on = (store.backend() == Backend::Postgres).then(|| "on".to_string());
    assert_eq!(jit(&mut scan).await, on, "this rule compiles");
    store.rearm_scan(&mut scan).await.unwrap();
    assert_eq!(jit(&mut scan).await, off, "the next rule does not");
    scan.rollback().await.unwrap();
}

on_both_backends!(
    compiled_expressions_end_with_their_rule,
    findings_belong_to_their_run,
    columns_refuse_values_outside_their_lists,
    every_table_is_canonical_or_the_engines,
    hidden_statements_are_refused,
    a_rule_cannot_switch_the_timeout_off_for_the_next,
);

/// `rules validate` sees the `;` SQLite's tokenizer sees, and exits
/// non-zero naming the file.
#[test]
fn validate_reports_statements_hidden_in_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bracket.yaml"),
        "id: bracket\ntitle: b\nseverity: low\nkind: sql\nparams:\n  query: \"SELECT id AS subject_id, 1 AS [a'b] FROM principals LIMIT 1; COMMIT; VACUUM INTO 'copy.db'; BEGIN; SAVEPOINT rule_eval --'\"\n",
    )
    .unwrap();
    let out = accessaudit()
        .args(["rules", "validate"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("bracket.yaml") && stderr.contains("more than one statement"),
        "{stderr}"
    );
}

/// A SQLite source with a `users` table.
async fn sqlite_source(dir: &Path) -> String {
    let url = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
    let store = Store::connect(&url, StoreOptions::default())
        .await
        .expect("create source");
    store
        .execute(
            "CREATE TABLE users (uid INTEGER PRIMARY KEY, uname TEXT)",
            &[],
        )
        .await
        .unwrap();
    store
        .execute("INSERT INTO users VALUES (1, 'alice'), (2, 'bob')", &[])
        .await
        .unwrap();
    format!("sqlite://{}", dir.join("app.db").display())
}

/// Reads `query` from a source session and returns the error, which must be
/// there. On SQLite the session stays usable: its snapshot was not committed
/// away. (PostgreSQL aborts a transaction at its first error: the feed
/// fails, and the sync with it.)
async fn refused(kind: SourceKind, url: &str, password: Option<&str>, query: &str) -> String {
    let tz = chrono_tz::UTC;
    let mut s = SqlSource::open(kind, url, password, Duration::from_secs(10), tz)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let e = match s.read(query, None, tz).await {
        Err(e) => e.to_string(),
        Ok(rows) => panic!("{query}: read {} rows", rows.len()),
    };
    if kind == SourceKind::Sqlite {
        let rows = s
            .read("SELECT 'still-here' AS id", None, tz)
            .await
            .unwrap_or_else(|e| panic!("after {query}: {e}"));
        assert_eq!(rows.len(), 1);
    }
    s.close().await.unwrap();
    e
}

/// A SQLite source: the mapping reproduction and every quoting form
/// hide a second statement from a hand scanner; SQLite's parser finds it,
/// nothing is written, no other database is read, and the mapping's query
/// cannot call PRAGMA, ATTACH or non-core functions.
#[tokio::test]
async fn sqlite_source_queries_are_one_guarded_select() {
    let dir = tempfile::tempdir().expect("dir");
    let url = sqlite_source(dir.path()).await;
    let copy = dir.path().join("copy.db");
    let c = copy.display();
    for q in [
        format!("SELECT uname AS id FROM users; COMMIT; VACUUM INTO '{c}'; BEGIN"),
        format!("SELECT uname AS id, 1 AS [a'b] FROM users; COMMIT; VACUUM INTO '{c}'; BEGIN --'"),
        format!("SELECT uname AS id, 1 AS `a'b` FROM users; COMMIT; VACUUM INTO '{c}'; BEGIN --'"),
        format!(
            "SELECT uname AS id, 1 AS \"a'b\" FROM users; COMMIT; VACUUM INTO '{c}'; BEGIN --'"
        ),
        format!(
            "SELECT uname AS id, 'a\"b' AS x FROM users; COMMIT; VACUUM INTO '{c}'; BEGIN --\""
        ),
        format!("SELECT uname AS id FROM users; ATTACH '{c}' AS o"),
    ] {
        let e = refused(SourceKind::Sqlite, &url, None, &q).await;
        assert!(e.contains("more than one statement"), "{q}: {e}");
    }
    for (q, what) in [
        (format!("VACUUM INTO '{c}'"), "read-only SELECT"),
        ("PRAGMA table_info(users)".to_string(), "PRAGMA"),
        (
            "SELECT name AS id FROM pragma_table_info('users')".to_string(),
            "pragma_table_info",
        ),
        (
            "SELECT load_extension('x') AS id".to_string(),
            "load_extension",
        ),
        (
            "SELECT sql AS id FROM sqlite_master".to_string(),
            "sqlite_master",
        ),
    ] {
        let e = refused(SourceKind::Sqlite, &url, None, &q).await;
        assert!(e.contains("refused") && e.contains(what), "{q}: {e}");
    }
    assert!(!copy.exists(), "VACUUM INTO wrote {}", copy.display());

    // The mapping check of `sync` says so before any connection.
    let mapping = format!(
        "feeds:\n  users:\n    table: principals\n    query: \"SELECT CAST(uid AS TEXT) AS id, uname AS login FROM users; COMMIT; VACUUM INTO '{c}'; BEGIN\"\n"
    );
    std::fs::write(dir.path().join("mapping.yaml"), mapping).unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        format!("sources:\n  app:\n    kind: sqlite\n    url: {url}\n    mapping: mapping.yaml\n"),
    )
    .unwrap();
    let out = accessaudit()
        .current_dir(dir.path())
        .env(
            "ACCESSAUDIT_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("store.db").display()),
        )
        .args(["--config", "config.yaml", "sync"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("more than one statement"), "{stderr}");
    assert!(!copy.exists(), "VACUUM INTO wrote {}", copy.display());
}

fn split_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (userinfo, host) = rest.rsplit_once('@').expect("user");
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    (format!("{scheme}://{user}@{host}"), password.to_string())
}

/// A PostgreSQL source: the query goes as a prepared statement, which the
/// server refuses to hold two commands, whatever quoting hides the `;`.
#[tokio::test]
async fn postgres_source_queries_are_one_prepared_statement() {
    let (url, password) = split_password(&common::postgres_url());
    for q in [
        "SELECT E'a\\'b' AS id; COMMIT; SELECT 1 AS id --'",
        "SELECT $t$a'b$t$ AS id; COMMIT; SELECT 1 AS id --'",
        "SELECT 1 AS U&\"a'b\"; COMMIT; SELECT 1 AS id --'",
        "SELECT 'x' AS id; SET statement_timeout = 0",
    ] {
        let e = refused(SourceKind::Postgres, &url, Some(&password), q).await;
        assert!(e.contains("more than one statement"), "{q}: {e}");
    }
}

/// A MariaDB source: prepared statements hold one statement; a `;` in a
/// backtick identifier or an executable comment `/*! … */` does not start
/// another. An executable comment only adds text to the one statement.
#[tokio::test]
async fn mariadb_source_queries_are_one_prepared_statement() {
    let url = std::env::var("ACCESSAUDIT_TEST_MYSQL_URL").unwrap_or_else(|_| {
        panic!(
            "ACCESSAUDIT_TEST_MYSQL_URL is not set: start MariaDB with `eval \"$(bash .ci/services)\"`"
        )
    });
    for q in [
        "SELECT 1 AS `a'b`; COMMIT; SELECT 2 AS id -- '",
        "SELECT 1 AS id /*! ; COMMIT; SELECT 2 */",
        "SELECT 1 AS id; SET SESSION max_statement_time = 0",
    ] {
        let e = refused(SourceKind::Mysql, &url, None, q).await;
        assert!(e.contains("SQL syntax"), "{q}: {e}");
    }
    let tz = chrono_tz::UTC;
    let mut s = SqlSource::open(SourceKind::Mysql, &url, None, Duration::from_secs(10), tz)
        .await
        .unwrap();
    let rows = s
        .read("SELECT 1 AS id /*! , 'inside' AS x */", None, tz)
        .await
        .unwrap();
    assert_eq!(
        rows[0].len(),
        2,
        "the comment's text is part of the one SELECT"
    );
}

/// A PostgreSQL login role that may read the canonical tables of a test
/// schema and nothing else: the scan role README's "Database roles" asks for.
struct ScanRole {
    name: String,
    url: String,
}

impl ScanRole {
    async fn create(db: &TestDb) -> ScanRole {
        let (base, schema) = db
            .url
            .split_once("?options[search_path]=")
            .expect("a test schema in the URL");
        let name = format!("scan_{}", fastrand::u32(..));
        let grants = format!(
            "CREATE ROLE {name} LOGIN PASSWORD 'scan-pw'; \
             GRANT USAGE ON SCHEMA {schema} TO {name}; \
             GRANT SELECT ON {} TO {name}",
            accessaudit::store::SCAN_READABLE
                .iter()
                .map(|t| format!("{schema}.{t}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for statement in grants.split("; ") {
            db.store.execute(statement, &[]).await.expect(statement);
        }
        let (_, host) = base.rsplit_once('@').expect("user@host");
        let url = format!("postgres://{name}:scan-pw@{host}?options[search_path]={schema}");
        ScanRole { name, url }
    }

    async fn drop(self, db: &TestDb) {
        for statement in [
            format!("DROP OWNED BY {}", self.name),
            format!("DROP ROLE {}", self.name),
        ] {
            db.store.execute(&statement, &[]).await.expect("drop role");
        }
    }
}

/// Scans through a role of their own: the shipped rules run, a sql rule
/// cannot read the engine's tables or server files, `config check` says
/// so, and `require_least_privilege` refuses the superuser set-up of the
/// tests' own database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_run_through_a_least_privilege_role_on_postgres() {
    let db = common::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    import_principals(&db, dir.path()).await;
    let role = ScanRole::create(&db).await;

    let mut store = Store::open(&db.url, StoreOptions::default()).await.unwrap();
    store.use_scan_database(&role.url).await.unwrap();
    let p = store.scan_privileges().await.unwrap();
    assert_eq!(p.role.as_deref(), Some(role.name.as_str()));
    assert!(p.own_role && !p.superuser, "{p:?}");
    assert!(p.excess().is_empty(), "{:?}", p.excess());
    assert!(p.missing().is_empty(), "{:?}", p.missing());
    // The writer of the tests is a superuser: every excess at once.
    let writer = db.store.scan_privileges().await.unwrap();
    assert!(writer.superuser && !writer.own_role, "{writer:?}");
    assert!(
        writer.engine_tables_readable.iter().any(|t| t == "outbox"),
        "{writer:?}"
    );

    // The shipped rules need nothing more.
    let set = engine::load::load(&[], true).unwrap();
    let shipped: Vec<&Rule> = set.rules.iter().collect();
    let as_of = accessaudit::model::parse_instant(T).unwrap();
    let summary = engine::run(&store, &shipped, as_of, None).await.unwrap();
    for o in &summary.outcomes {
        assert_ne!(o.status, OutcomeStatus::Failed, "{o:?}");
    }
    // A sql rule meets the grants, however it is written.
    let denied = [
        sql_rule(
            "outbox",
            "SELECT CAST(id AS TEXT) AS subject_id, body FROM outbox",
        ),
        sql_rule(
            "reports",
            "SELECT CAST(run_id AS TEXT) AS subject_id FROM reports",
        ),
        sql_rule(
            "server-file",
            "SELECT pg_read_file('/etc/passwd') AS subject_id",
        ),
    ];
    let rules: Vec<&Rule> = denied.iter().collect();
    let s = engine::run(&store, &rules, as_of, None).await.unwrap();
    for o in &s.outcomes {
        assert_eq!(o.status, OutcomeStatus::Failed, "{o:?}");
        assert!(
            o.reason
                .as_deref()
                .unwrap_or("")
                .contains("permission denied"),
            "{o:?}"
        );
    }

    // The command line: refused without the scan role, fine with it.
    std::fs::write(
        dir.path().join("config.yaml"),
        "require_least_privilege: true\n",
    )
    .unwrap();
    let cli = |scan: Option<&str>, args: &[&str]| {
        let mut cmd = accessaudit();
        cmd.current_dir(dir.path())
            .env("ACCESSAUDIT_DATABASE_URL", &db.url)
            .args(["--config", "config.yaml"])
            .args(args);
        if let Some(url) = scan {
            cmd.env("ACCESSAUDIT_SCAN_DATABASE_URL", url);
        }
        cmd.output().unwrap()
    };
    let check = cli(None, &["config", "check"]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{stdout}");
    assert!(stdout.contains("a superuser"), "{stdout}");
    assert!(
        stdout.contains("refused (require_least_privilege: true)"),
        "{stdout}"
    );
    let run = cli(None, &["run", "--as-of", T]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(stderr.contains("require_least_privilege"), "{stderr}");
    assert!(stderr.contains("no rule was run"), "{stderr}");

    let check = cli(Some(&role.url), &["config", "check"]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{stdout}");
    assert!(stdout.contains("least privilege: ok"), "{stdout}");
    assert!(
        stdout.contains(&format!("role `{}`, apart from the writes", role.name)),
        "{stdout}"
    );
    // (No events in this store: bulk-export is skipped, which is allowed here.)
    let run = cli(Some(&role.url), &["run", "--as-of", T, "--allow-skipped"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    role.drop(&db).await;
}

/// SQLite has no roles: a scan URL is refused, not ignored.
#[tokio::test]
async fn a_scan_database_is_refused_on_sqlite() {
    let db = common::sqlite().await;
    let mut store = Store::open(&db.url, StoreOptions::default()).await.unwrap();
    let e = store
        .use_scan_database(&db.url)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("applies to PostgreSQL only"), "{e}");
    assert!(store.scan_privileges().await.unwrap().excess().is_empty());
}

/// A run whose process is killed mid-evaluation does not stay `running`
/// forever: the next command on the store marks it abandoned, with the
/// reason, and `runs list` shows it so.
#[tokio::test]
async fn a_killed_run_is_marked_abandoned() {
    let db = common::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    import_principals(&db, dir.path()).await;
    std::fs::write(
        dir.path().join("slow.yaml"),
        concat!(
            "id: slow\ntitle: slow\nseverity: low\nkind: sql\nparams:\n  query: >\n",
            "    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000000)\n",
            "    SELECT CAST(MAX(i) AS TEXT) AS subject_id FROM n\n",
        ),
    )
    .unwrap();
    let mut child = accessaudit()
        .env("ACCESSAUDIT_DATABASE_URL", &db.url)
        .args(["--statement-timeout", "10m", "--rules"])
        .arg(dir.path())
        .args(["run", "--rule", "slow", "--as-of", T])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Killed once its run is recorded as running.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = db
            .store
            .fetch_all("SELECT id FROM runs WHERE status = 'running'", &[])
            .await
            .unwrap();
        if !rows.is_empty() {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            panic!("the run ended before it was killed ({status}): {stderr}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let out = accessaudit()
        .env("ACCESSAUDIT_DATABASE_URL", &db.url)
        .args(["runs", "list"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("abandoned"), "{stdout}");
    assert!(!stdout.contains("running"), "{stdout}");
    let rows = db
        .store
        .fetch_all("SELECT status, error FROM runs", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].text("status").unwrap().as_deref(),
        Some("abandoned")
    );
    let error = rows[0].text("error").unwrap().unwrap_or_default();
    assert!(
        error.starts_with("abandoned: the process that ran it (pid "),
        "{error}"
    );
}

/// A run left `running` by a process that is gone is marked abandoned on
/// PostgreSQL too, where `runs.pid` is an INTEGER (it was once read as a
/// BIGINT, and every later command on the store failed).
#[tokio::test]
async fn a_dead_processs_run_is_abandoned_on_postgres() {
    let db = common::postgres().await;
    // A process that has ended: its pid is no one's now (or someone
    // else's: then the run is left alone, and the test says so).
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let host = accessaudit::support::process::hostname();
    db.store
        .execute(
            "INSERT INTO runs (job, as_of, started_at, status, host, pid)
             VALUES (NULL, $1, $1, 'running', $2, $3)",
            &[
                SqlValue::time(chrono::Utc::now()),
                SqlValue::text(&host),
                SqlValue::int(i64::from(pid)),
            ],
        )
        .await
        .unwrap();
    let marked = db.store.abandon_dead_runs().await.expect("reads the runs");
    assert_eq!(marked.len(), 1, "pid {pid} is alive again");
    let rows = db
        .store
        .fetch_all(
            "SELECT status, error FROM runs WHERE id = $1",
            &[SqlValue::int(marked[0])],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].req_text("status").unwrap(), "abandoned");
    assert!(
        rows[0]
            .req_text("error")
            .unwrap()
            .contains(&format!("pid {pid}"))
    );
}
