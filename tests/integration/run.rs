//! `accessaudit run` end to end: the binary, a real database (SQLite and
//! PostgreSQL), CSV imports, the JSON contract, --fail-on, --as-of, the
//! run record; custom SQL rules read-only and under a statement timeout.

use crate::common;

use std::path::Path;
use std::process::Output;

use accessaudit::engine;

use accessaudit::store::runs::OutcomeStatus;
use accessaudit::store::{Store, StoreOptions};
use common::TestDb;

const T: &str = "2026-11-01T00:00:00Z";

fn bin(db: &TestDb, args: &[&str]) -> Output {
    common::accessaudit()
        .env("ACCESSAUDIT_DATABASE_URL", &db.url)
        .env_remove("ACCESSAUDIT_RULES")
        .args(args)
        .output()
        .expect("run accessaudit")
}

/// A tiny organisation: one idle account, one departed-and-active one that
/// signed in after leaving, one clean account. Every column a shipped rule
/// depends on is filled somewhere, so every rule is applicable (and clean
/// but for the two planted cases).
fn write_fixture(dir: &Path) {
    let files = [
        (
            "people",
            "id,email,full_name,department,title,employment_status,hired_at,terminated_at,department_since,worker_type\n\
             h1,Alice@Example.com,Alice,Sales,Rep,active,2024-01-01,,2024-01-01,employee\n\
             h2,bob@example.com,Bob,Sales,Rep,terminated,2023-01-01,2026-10-01T17:00:00Z,2023-01-01,employee\n\
             h3,,Carol,Sales,Rep,active,2024-06-01,,2024-06-01,\n",
        ),
        (
            "principals",
            "id,login,email,person_id,department,account_type,status,mfa_enabled,created_at,last_login_at,password_changed_at\n\
             p1,alice,alice@example.com,,Sales,human,active,,2025-01-01,2026-10-31T09:00:00Z,2025-01-02\n\
             p2,bob,bob@example.com,,Sales,human,active,false,2025-01-01,2026-10-20T09:00:00Z,2025-01-02\n\
             p3,carol,,h3,Sales,human,active,true,2025-01-01,2026-06-01T09:00:00Z,2025-01-03\n",
        ),
        (
            "roles",
            "id,name,data_scope,privileged\nr1,Sales rep,self,false\n",
        ),
        (
            "role_permissions",
            "role_id,permission\nr1,customer.view\nr1,contract.create\n",
        ),
        (
            "grants",
            "id,principal_id,role_id,granted_at,granted_by,approved_by,expires_at\n\
             g1,p1,r1,2025-01-01,p9,p8,2027-01-01\n",
        ),
        (
            "events",
            "id,occurred_at,principal_id,action,ip,device_id,outcome\n\
             e1,2026-10-31T09:00:00Z,p1,login,10.0.0.1,d1,success\n\
             e2,2026-10-20T09:00:00Z,p2,login,10.0.0.2,d2,success\n",
        ),
    ];
    for (table, text) in files {
        std::fs::write(dir.join(format!("{table}.csv")), text).unwrap();
    }
}

fn import_fixture(db: &TestDb, dir: &Path) {
    write_fixture(dir);
    for table in [
        "people",
        "principals",
        "roles",
        "role_permissions",
        "grants",
        "events",
    ] {
        let out = bin(
            db,
            &[
                "import",
                table,
                &dir.join(format!("{table}.csv")).display().to_string(),
            ],
        );
        assert!(
            out.status.success(),
            "import {table}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

async fn json_output_follows_the_contract(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    import_fixture(&db, dir.path());
    let out = bin(&db, &["run", "--as-of", T, "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let top: Vec<&String> = doc.as_object().unwrap().keys().collect();
    // The contract's keys, and `rules` added (issue: no silent passes).
    assert_eq!(top, ["as_of", "findings", "rules", "run_id"]);
    let rules = doc["rules"].as_array().unwrap();
    let shipped = accessaudit::engine::load::load(&[], true)
        .unwrap()
        .rules
        .len();
    assert_eq!(rules.len(), shipped, "{rules:?}");
    for r in rules {
        assert_eq!(r["status"], "evaluated", "{r}");
        assert!(r["reason"].is_null() && r["duration_ms"].is_u64(), "{r}");
    }
    let departed = rules
        .iter()
        .find(|r| r["rule"] == "departed-still-active")
        .unwrap();
    assert_eq!(departed["findings"], 1);
    assert_eq!(doc["as_of"], T);
    assert!(doc["run_id"].as_i64().unwrap() >= 1);
    let findings = doc["findings"].as_array().unwrap();
    let keys: Vec<(String, String, String)> = findings
        .iter()
        .map(|f| {
            let obj = f.as_object().unwrap();
            for field in [
                "rule",
                "severity",
                "subject_type",
                "subject_id",
                "title",
                "evidence",
            ] {
                assert!(obj.contains_key(field), "finding lacks {field}: {f}");
            }
            assert!(obj["evidence"].is_object());
            assert_eq!(obj["status"], "new", "{f}");
            assert!(obj["exception_id"].is_null(), "{f}");
            (
                f["rule"].as_str().unwrap().to_string(),
                f["subject_id"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Most severe first: bob signed in after leaving.
    assert_eq!(
        keys,
        [
            (
                "departed-still-active".to_string(),
                "p2".to_string(),
                "critical".to_string()
            ),
            (
                "idle-accounts".to_string(),
                "p3".to_string(),
                "medium".to_string()
            ),
        ]
    );
    assert_eq!(findings[0]["evidence"]["activity_after_termination"], 1);
    assert_eq!(
        findings[1]["evidence"]["last_sign_in"],
        "2026-06-01T09:00:00Z"
    );

    // The run and its findings are on record.
    let run_id = doc["run_id"].as_i64().unwrap();
    let run = db
        .store
        .run_record(run_id)
        .await
        .unwrap()
        .expect("run recorded");
    assert_eq!((run.status.as_str(), run.finding_count), ("succeeded", 2));
    let outcomes = db.store.rule_outcomes(run_id).await.unwrap();
    assert_eq!(outcomes.len(), shipped);
    assert!(
        outcomes.iter().all(|o| o.status == OutcomeStatus::Ok),
        "{outcomes:?}"
    );

    // The evidence is printed as stored, on both backends in the same text:
    // compact, keys sorted, as `serde_json` writes the evidence map.
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut stored = Vec::new();
    db.store
        .for_each_finding(run_id, |f| {
            stored.push(serde_json::to_string(&f.evidence).unwrap());
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    for evidence in &stored {
        assert!(
            stdout.contains(&format!("\"evidence\":{evidence},")),
            "{evidence} not printed as is in {stdout}"
        );
    }
    // Evidence that is not a JSON object (a store edited by hand) is an
    // error naming the column, not a document with a broken finding in it.
    db.store
        .execute(
            "UPDATE findings SET evidence = '[1]' WHERE run_id = $1 AND rule = 'idle-accounts'",
            &[accessaudit::store::SqlValue::int(run_id)],
        )
        .await
        .unwrap();
    let err = db
        .store
        .for_each_finding_seen(run_id, None, |_, _| Ok(()))
        .await
        .expect_err("an array as evidence is refused");
    assert!(err.to_string().contains("evidence"), "{err}");
}

async fn fail_on_sets_the_exit_status(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    import_fixture(&db, dir.path());
    let critical = bin(
        &db,
        &[
            "run",
            "--as-of",
            T,
            "--format",
            "csv",
            "--fail-on",
            "critical",
        ],
    );
    assert_eq!(critical.status.code(), Some(3));
    let only_idle = bin(
        &db,
        &[
            "run",
            "--as-of",
            T,
            "--rule",
            "idle-accounts",
            "--fail-on",
            "high",
        ],
    );
    assert_eq!(only_idle.status.code(), Some(0), "idle findings are medium");
    let bad = bin(&db, &["run", "--fail-on", "severe"]);
    assert_eq!(bad.status.code(), Some(2), "usage error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown value `severe`"));
}

async fn as_of_sees_the_past(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    import_fixture(&db, dir.path());
    // On 2026-10-02 bob had left only 7 hours before: within the 1-day grace.
    let out = bin(
        &db,
        &[
            "run",
            "--as-of",
            "2026-10-02T00:00:00Z",
            "--rule",
            "departed-still-active",
            "--format",
            "json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["findings"].as_array().unwrap().len(), 0, "{doc}");
    // Two runs as of the same instant on unchanged data agree.
    let a = bin(&db, &["run", "--as-of", T, "--format", "csv"]);
    let b = bin(&db, &["run", "--as-of", T, "--format", "csv"]);
    let strip = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| {
                l.split_once(',')
                    .map_or(l.to_string(), |(_, rest)| rest.to_string())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&a), strip(&b));
    assert_eq!(strip(&a).len(), 3, "header and two findings");
}

async fn stale_event_feed_skips_event_rules(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    import_fixture(&db, dir.path());
    // A week after the newest event: idle-accounts must not flag everyone.
    let out = bin(
        &db,
        &[
            "run",
            "--as-of",
            "2026-11-07T00:00:00Z",
            "--rule",
            "idle-accounts",
            "--format",
            "json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["findings"].as_array().unwrap().len(), 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: rule idle-accounts skipped: event feed is stale: the newest event (2026-10-31T09:00:00Z) is more than 24h before 2026-11-07T00:00:00Z"), "{stderr}");
}

async fn custom_sql_rules_map_columns_and_cannot_write(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    import_fixture(&db, dir.path());
    let rules_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        rules_dir.path().join("no-mfa.yaml"),
        "id: sales-without-email\ntitle: Sales accounts without email\nseverity: low\nkind: sql\nparams:\n  \
         query: >\n    SELECT id AS subject_id, login, 'high' AS severity, login || ' has no email' AS title\n    \
         FROM principals WHERE email IS NULL AND department = :dept AND created_at < :as_of\n  \
         params: {dept: Sales}\n",
    )
    .unwrap();
    std::fs::write(
        rules_dir.path().join("writer.yaml"),
        "id: sneaky-writer\ntitle: tries to write\nseverity: low\nkind: sql\nparams:\n  \
         query: WITH d AS (DELETE FROM principals RETURNING id) SELECT id AS subject_id FROM d\n",
    )
    .unwrap();
    let set = accessaudit::engine::load::load(&[rules_dir.path().to_path_buf()], false)
        .expect("custom rules load");
    let rules: Vec<&accessaudit::engine::Rule> = set.rules.iter().collect();
    let as_of = accessaudit::model::parse_instant(T).unwrap();
    let summary = engine::run(&db.store, &rules, as_of, None)
        .await
        .expect("run");
    let by_id = |id: &str| summary.outcomes.iter().find(|o| o.rule_id == id).unwrap();
    assert_eq!(by_id("sales-without-email").status, OutcomeStatus::Ok);
    assert_eq!(
        by_id("sneaky-writer").status,
        OutcomeStatus::Failed,
        "{:?}",
        by_id("sneaky-writer")
    );
    let mut found = Vec::new();
    db.store
        .for_each_finding(summary.run_id, |f| {
            found.push(f);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].subject_id.as_str(), found[0].severity.as_str()),
        ("p3", "high")
    );
    assert_eq!(found[0].title, "carol has no email");
    assert_eq!(found[0].evidence["login"], "carol");
    let left = db
        .store
        .fetch_all("SELECT COUNT(*) AS n FROM principals", &[])
        .await
        .unwrap();
    assert_eq!(
        left[0].i64("n").unwrap(),
        Some(3),
        "the scan could not delete"
    );
}

async fn scans_stop_at_the_statement_timeout(db: TestDb) {
    let store = Store::open(
        &db.url,
        StoreOptions {
            statement_timeout: std::time::Duration::from_millis(300),
        },
    )
    .await
    .unwrap();
    let slow = match store.backend() {
        accessaudit::store::Backend::Postgres => "SELECT 'x' AS subject_id FROM pg_sleep(5)",
        accessaudit::store::Backend::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) \
             SELECT CAST(MAX(i) AS TEXT) AS subject_id FROM n"
        }
    };
    let rules_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        rules_dir.path().join("slow.yaml"),
        // `a-slow` sorts first: the rules after it must still get their own time.
        format!(
            "id: a-slow\ntitle: slow\nseverity: low\nkind: sql\nparams:\n  query: \"{slow}\"\n"
        ),
    )
    .unwrap();
    let set = accessaudit::engine::load::load(&[rules_dir.path().to_path_buf()], true).unwrap();
    let rules: Vec<&accessaudit::engine::Rule> = set
        .rules
        .iter()
        .filter(|r| r.id == "a-slow" || r.id == "idle-accounts")
        .collect();
    let started = std::time::Instant::now();
    let summary = engine::run(&store, &rules, chrono::Utc::now(), None)
        .await
        .expect("run");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        summary.outcomes[0].rule_id, "a-slow",
        "the slow rule runs first"
    );
    let slow = summary
        .outcomes
        .iter()
        .find(|o| o.rule_id == "a-slow")
        .unwrap();
    assert_eq!(slow.status, OutcomeStatus::Failed, "{slow:?}");
    assert!(
        slow.reason
            .as_deref()
            .is_some_and(|r| r.contains("statement timeout")),
        "the reason names the statement timeout: {slow:?}"
    );
    let other = summary
        .outcomes
        .iter()
        .find(|o| o.rule_id == "idle-accounts")
        .unwrap();
    assert_ne!(
        other.status,
        OutcomeStatus::Failed,
        "a failed rule does not take the others down: {other:?}"
    );
}

/// A rule may run one small query per account in its scan (thousands in a
/// row). On SQLite each one locks the connection's own handle; sqlx's way of
/// handing it out left an unlock command over whenever the caller was
/// quicker than the connection's worker, until its channel was full and the
/// two waited on each other (seen after ~1,000 queries at 100k accounts).
async fn thousands_of_queries_in_one_scan_do_not_stall(db: TestDb) {
    let mut scan = db.store.begin_scan().await.unwrap();
    let queries = async {
        let mut sum = 0;
        for i in 0..5_000_i64 {
            let row = scan
                .fetch_optional(
                    "SELECT $1 + 1 AS next",
                    &[accessaudit::store::SqlValue::int(i)],
                )
                .await
                .unwrap()
                .expect("one row");
            sum += row.i64("next").unwrap().unwrap();
        }
        sum
    };
    let sum = tokio::time::timeout(std::time::Duration::from_secs(120), queries)
        .await
        .expect("5,000 queries in a row finished (they used to stall)");
    assert_eq!(sum, (1..=5_000).sum::<i64>());
    scan.rollback().await.unwrap();
}

/// A scan's rows are stepped ahead of its reader (on SQLite, on a thread
/// the transaction is lent to): a reader that stops after the first row of
/// many leaves the transaction usable, and one that reads on gets every row
/// once, in order.
async fn a_scan_stopped_early_gives_its_transaction_back(db: TestDb) {
    use futures_util::StreamExt;
    const MANY: &str = "WITH RECURSIVE n(i) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
                        SELECT i FROM n";
    let mut scan = db.store.begin_scan().await.unwrap();
    {
        let mut rows = scan.fetch(MANY, &[]);
        let first = rows.next().await.expect("a row").expect("no error");
        assert_eq!(first.i64("i").unwrap(), Some(1));
    }
    let again = scan
        .fetch_optional("SELECT CAST(2 AS BIGINT) AS two", &[])
        .await
        .unwrap();
    assert_eq!(again.expect("one row").i64("two").unwrap(), Some(2));
    let all: Vec<i64> = scan
        .fetch_all(MANY, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.i64("i").unwrap().unwrap())
        .collect();
    assert_eq!(all, (1..=10_000).collect::<Vec<i64>>());
    // An error in the middle of the rows ends them with that error, after
    // the rows before it, and the transaction is still there after it (as
    // a rule's is: under a savepoint, which PostgreSQL needs).
    scan.execute("SAVEPOINT failing", &[]).await.unwrap();
    let mut failed = false;
    {
        let mut rows = scan.fetch(
            "WITH RECURSIVE n(i) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
             SELECT CASE WHEN i < 900 THEN i ELSE abs(-9223372036854775807 - 1 + (i - i)) END AS i FROM n",
            &[],
        );
        let mut seen = 0;
        while let Some(row) = rows.next().await {
            match row {
                Ok(_) => seen += 1,
                Err(e) => {
                    failed = true;
                    let e = e.to_string();
                    assert!(e.contains("overflow") || e.contains("out of range"), "{e}");
                    break;
                }
            }
        }
        assert_eq!(seen, 899);
    }
    assert!(failed, "the integer overflow is an error");
    scan.execute("ROLLBACK TO SAVEPOINT failing", &[])
        .await
        .unwrap();
    let after = scan
        .fetch_optional("SELECT CAST(3 AS BIGINT) AS three", &[])
        .await
        .unwrap();
    assert_eq!(after.expect("one row").i64("three").unwrap(), Some(3));
    scan.rollback().await.unwrap();
}

/// Issue "no silent passes": every way a run can fail to check something
/// ends in a non-zero exit and says so.
async fn incomplete_runs_exit_4(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    import_fixture(&db, dir.path());
    // A stale feed: idle-accounts is skipped.
    let stale = bin(
        &db,
        &["run", "--as-of", "2026-11-07T00:00:00Z", "--format", "json"],
    );
    assert_eq!(
        stale.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&stale.stdout).unwrap();
    let skipped: Vec<&str> = doc["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "skipped")
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    // Every rule whose findings rest on a complete log feed.
    assert_eq!(
        skipped,
        [
            "admin-actions-review",
            "bulk-delete",
            "bulk-export",
            "device-sprawl",
            "idle-accounts"
        ]
    );
    assert!(String::from_utf8_lossy(&stale.stderr).contains("this run is incomplete"));
    let allowed = bin(
        &db,
        &["run", "--as-of", "2026-11-07T00:00:00Z", "--allow-skipped"],
    );
    assert_eq!(allowed.status.code(), Some(0));
    // The CSV says it too, in a row of the rule's own.
    let csv = bin(
        &db,
        &["run", "--as-of", "2026-11-07T00:00:00Z", "--format", "csv"],
    );
    assert_eq!(csv.status.code(), Some(4));
    let text = String::from_utf8(csv.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("run_id,rule,severity,subject_type,subject_id,title,evidence,status,exception_id")
    );
    assert!(
        text.lines()
            .any(|l| l.contains(",idle-accounts,,rule,idle-accounts,") && l.ends_with(",skipped,")),
        "{text}"
    );

    // A custom rule that fails (an unknown column): exit 4, even when skips are allowed.
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("bad.yaml"),
        "id: bad-sql\ntitle: Bad\nseverity: low\nkind: sql\nparams:\n  query: SELECT nosuchcolumn AS subject_id FROM principals\n",
    )
    .unwrap();
    let failed = common::accessaudit()
        .env("ACCESSAUDIT_DATABASE_URL", &db.url)
        .args(["--rules", rules.path().to_str().unwrap()])
        .args(["run", "--as-of", T, "--rule", "bad-sql", "--allow-skipped"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("rule bad-sql failed"), "{stderr}");
}

/// `--fail-on` counts only the findings no exception accepts; the outputs
/// say which are accepted and by which exception.
async fn fail_on_ignores_accepted_findings(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    import_fixture(&db, dir.path());
    let add = bin(
        &db,
        &[
            "exceptions",
            "add",
            "--rule",
            "departed-still-active",
            "--subject",
            "p2",
            "--reason",
            "handover until month end",
            "--approved-by",
            "ciso@example.com",
            "--expires",
            "2027-01-01",
        ],
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let out = bin(
        &db,
        &[
            "run",
            "--as-of",
            T,
            "--format",
            "json",
            "--fail-on",
            "critical",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bob = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject_id"] == "p2")
        .unwrap();
    assert_eq!(bob["status"], "accepted");
    assert!(bob["exception_id"].as_i64().unwrap() >= 1);
    // The medium idle finding still counts.
    let medium = bin(&db, &["run", "--as-of", T, "--fail-on", "medium"]);
    assert_eq!(medium.status.code(), Some(3));
    // A second run of the same job: the idle finding is now open.
    let first = bin(
        &db,
        &["run", "--as-of", T, "--job", "j", "--format", "json"],
    );
    assert!(first.status.success());
    let second = bin(
        &db,
        &["run", "--as-of", T, "--job", "j", "--format", "json"],
    );
    let doc: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    let carol = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject_id"] == "p3")
        .unwrap();
    assert_eq!(carol["status"], "open", "{carol}");
}

/// Every `sql` rule shown in README and docs/ is valid, runs, and finds
/// what it says, on both backends (with two privileged grants of one
/// account, which must be one finding).
async fn sql_examples_in_the_docs_run(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    import_fixture(&db, dir.path());
    std::fs::write(
        dir.path().join("roles2.csv"),
        "id,name,privileged\nr2,Administrator,true\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("grants2.csv"),
        "id,principal_id,role_id,granted_at,revoked_at\n\
         g2,p1,r2,2025-01-01,\ng3,p1,r2,2025-02-01,\ng4,p2,r2,2025-01-01,2026-01-01\n",
    )
    .unwrap();
    for (table, file) in [("roles", "roles2.csv"), ("grants", "grants2.csv")] {
        let out = bin(
            &db,
            &[
                "import",
                table,
                &dir.path().join(file).display().to_string(),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let mut docs = vec![std::path::PathBuf::from(root).join("README.md")];
    for entry in std::fs::read_dir(std::path::Path::new(root).join("docs")).unwrap() {
        docs.push(entry.unwrap().path());
    }
    let mut examples = 0;
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        for block in text.split("```yaml\n").skip(1) {
            let block = &block[..block.find("```").unwrap()];
            if !block.contains("kind: sql") {
                continue;
            }
            examples += 1;
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .expect("an id")
                .trim();
            let rules = tempfile::tempdir().unwrap();
            std::fs::write(rules.path().join(format!("{id}.yaml")), block).unwrap();
            let with_rules = |args: &[&str]| {
                common::accessaudit()
                    .env("ACCESSAUDIT_DATABASE_URL", &db.url)
                    .args(["--rules", rules.path().to_str().unwrap()])
                    .args(args)
                    .output()
                    .unwrap()
            };
            let valid = with_rules(&["rules", "validate"]);
            assert!(
                valid.status.success(),
                "{}: {id}: {}",
                doc.display(),
                String::from_utf8_lossy(&valid.stderr)
            );
            let out = with_rules(&["run", "--rule", id, "--as-of", T, "--format", "json"]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}: {id}: {}",
                doc.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let doc_json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let findings = doc_json["findings"].as_array().unwrap();
            if id == "admins-without-mfa" {
                assert_eq!(findings.len(), 1, "{findings:?}");
                assert_eq!(findings[0]["subject_id"], "p1");
                assert_eq!(findings[0]["evidence"]["privileged_grants"], 2);
            }
        }
    }
    assert!(examples >= 1, "no sql example found in the docs");

    // And validate catches what would fail at run time.
    let rules = tempfile::tempdir().unwrap();
    for (name, query) in [
        (
            "typo",
            "SELECT id AS subject_id FROM principals WHERE stauts = 'active'",
        ),
        ("no-subject", "SELECT id, login FROM principals"),
    ] {
        std::fs::write(
            rules.path().join(format!("{name}.yaml")),
            format!(
                "id: {name}\ntitle: t\nseverity: low\nkind: sql\nparams:\n  query: \"{query}\"\n"
            ),
        )
        .unwrap();
    }
    let out = common::accessaudit()
        .env("ACCESSAUDIT_DATABASE_URL", &db.url)
        .args([
            "--rules",
            rules.path().to_str().unwrap(),
            "rules",
            "validate",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for name in ["typo", "no-subject"] {
        assert!(
            stderr.contains(&format!("{name}.yaml: rule `{name}`: field `params.query`")),
            "{name}: {stderr}"
        );
    }
    assert!(stderr.contains("stauts"), "{stderr}");
    assert!(
        stderr.contains("must return a `subject_id` column"),
        "{stderr}"
    );
}

on_both_backends!(
    json_output_follows_the_contract,
    fail_on_sets_the_exit_status,
    as_of_sees_the_past,
    stale_event_feed_skips_event_rules,
    custom_sql_rules_map_columns_and_cannot_write,
    scans_stop_at_the_statement_timeout,
    thousands_of_queries_in_one_scan_do_not_stall,
    a_scan_stopped_early_gives_its_transaction_back,
    incomplete_runs_exit_4,
    fail_on_ignores_accepted_findings,
    sql_examples_in_the_docs_run,
);

/// A typo in the database path is an error, not an empty audit with exit 0;
/// nothing is created.
#[test]
fn a_mistyped_database_path_is_an_error_not_an_empty_audit() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("acessaudit-demo.db");
    let out = common::accessaudit()
        .args(["--database", &format!("sqlite://{}", typo.display())])
        .args(["run", "--fail-on", "high"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no database at"), "{stderr}");
    assert!(!typo.exists(), "run created {}", typo.display());
    assert!(out.stdout.is_empty(), "no findings table was printed");
    // Every reading command refuses it alike.
    for args in [&["runs", "list"][..], &["report", "--job", "monthly"][..]] {
        let out = common::accessaudit()
            .args(["--database", &format!("sqlite://{}", typo.display())])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(!typo.exists(), "{args:?} created the file");
    }
}

/// A database with the schema but not one account has nothing to audit.
#[test]
fn a_store_without_accounts_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("empty.db").display());
    let migrate = common::accessaudit()
        .args(["--database", &url, "migrate"])
        .output()
        .unwrap();
    assert!(migrate.status.success());
    let out = common::accessaudit()
        .args(["--database", &url, "run"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("holds no accounts"), "{stderr}");
    // And a SQLite file that is not accessaudit's is not taken over.
    let foreign = dir.path().join("other.db");
    std::fs::write(&foreign, b"").unwrap();
    let out = common::accessaudit()
        .args([
            "--database",
            &format!("sqlite://{}", foreign.display()),
            "run",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("holds no accessaudit schema"), "{stderr}");
}

#[test]
fn the_default_database_is_created_in_the_working_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let out = common::accessaudit()
        .current_dir(cwd.path())
        .env_remove("ACCESSAUDIT_DATABASE_URL")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cwd.path().join("accessaudit.db").exists());
}

#[test]
fn passwords_in_database_urls_never_reach_the_output() {
    let out = common::accessaudit()
        .env(
            "ACCESSAUDIT_DATABASE_URL",
            "postgres://audit:hunter2@127.0.0.1:1/none",
        )
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("audit:***@127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// SQLite's memory is bounded for the whole process: every connection, the
/// scans' as well as the writers', keeps temporary data (a materialized
/// CTE, a large sort) in files, one soft heap limit covers every page
/// cache, and a scan's page cache, which also sizes each of its sorts in
/// memory, is the smaller one (over-privileged at 1M accounts held 50 MB
/// in three sorts of 16 MiB).
#[tokio::test]
async fn sqlite_memory_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bounded.db").display());
    let store = Store::open(&url, StoreOptions::default()).await.unwrap();
    let int = |rows: Vec<accessaudit::store::DbRow>, column: &str| {
        rows.first().and_then(|r| r.i64(column).unwrap())
    };
    // temp_store: 0 is the build's default (files, in the bundled SQLite),
    // 1 files, 2 memory.
    let writer = store.fetch_all("PRAGMA temp_store", &[]).await.unwrap();
    assert_ne!(int(writer, "temp_store"), Some(2));
    let mut scan = store.begin_scan().await.unwrap();
    let scanner = scan.fetch_all("PRAGMA temp_store", &[]).await.unwrap();
    assert_ne!(int(scanner, "temp_store"), Some(2));
    // cache_size: negative is KiB.
    let cache = scan.fetch_all("PRAGMA cache_size", &[]).await.unwrap();
    assert_eq!(int(cache, "cache_size"), Some(-8192));
    let cache = store.fetch_all("PRAGMA cache_size", &[]).await.unwrap();
    assert_eq!(int(cache, "cache_size"), Some(-16384));
    // Process-wide: a report rendered by another test of this process may
    // lower it for a while, never lift it.
    let limit = scan.fetch_all("PRAGMA soft_heap_limit", &[]).await.unwrap();
    let limit = int(limit, "soft_heap_limit").unwrap_or(0);
    assert!(limit > 0 && limit <= 32 << 20, "soft heap limit {limit}");
}

/// Reports rendered at once by one process (the daemon) each hold a bound
/// on SQLite's caches: while they overlap the smallest is in force, and
/// once both are released the limit from before them is back, whichever
/// finishes first. (Bounds under the 1 MiB a report holds while it
/// composes, so that reports other tests render at the same time cannot
/// be what this sees.)
#[tokio::test]
async fn overlapping_cache_bounds_give_the_limit_back() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bounds.db").display());
    let store = Store::open(&url, StoreOptions::default()).await.unwrap();
    let limit = || async {
        let rows = store
            .fetch_all("PRAGMA soft_heap_limit", &[])
            .await
            .unwrap();
        rows[0].i64("soft_heap_limit").unwrap().unwrap()
    };
    let first = store.hold_cache_bound(300 << 10).await.unwrap();
    let mut second = store.hold_cache_bound(500 << 10).await.unwrap();
    assert_eq!(limit().await, 300 << 10, "the smaller of two holds");
    second.change(200 << 10).await.unwrap();
    assert_eq!(limit().await, 200 << 10, "a hold lowered");
    // The first taken is released first: the second is still held.
    first.release().await.unwrap();
    assert_eq!(limit().await, 200 << 10, "the hold still held");
    second.release().await.unwrap();
    let after = limit().await;
    assert!(
        after > 500 << 10 && after <= 32 << 20,
        "the limit from before the holds, not one of theirs: {after}"
    );
    // A hold dropped unreleased (a cancelled report) gives its bound up too.
    let dropped = store.hold_cache_bound(100 << 10).await.unwrap();
    assert_eq!(limit().await, 100 << 10, "a third hold");
    drop(dropped);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while limit().await != after {
        assert!(
            std::time::Instant::now() < deadline,
            "a dropped hold kept its bound: {}",
            limit().await
        );
        tokio::task::yield_now().await;
    }
}
