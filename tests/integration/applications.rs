//! Many applications in one store (issue 17): two sources whose native ids
//! collide, synced into one store and audited together, each finding
//! attributed to its application; `import --application` the same for CSV
//! files; stores from before applications keep their ids.

use crate::common;

use std::path::Path;

use accessaudit::collect::sync::sync_source;
use accessaudit::config::Config;
use accessaudit::store::{Store, StoreOptions};
use chrono::{DateTime, Utc};

/// One small application: user 1 is an administrator who signs in, user 2
/// has not signed in since March (idle), user 3 is disabled.
const SCHEMA: &str = "
CREATE TABLE users (uid INTEGER PRIMARY KEY, uname TEXT NOT NULL, state INTEGER NOT NULL, created TEXT, last_seen TEXT);
CREATE TABLE grp (gid INTEGER PRIMARY KEY, gname TEXT NOT NULL, admin INTEGER NOT NULL);
CREATE TABLE member (uid INTEGER NOT NULL, gid INTEGER NOT NULL);
INSERT INTO users VALUES (1, 'root', 1, '2025-01-01 00:00:00', '2026-10-31 10:00:00'),
                         (2, 'ops', 1, '2025-01-01 00:00:00', '2026-03-01 10:00:00'),
                         (3, 'gone', 0, '2025-01-01 00:00:00', NULL);
INSERT INTO grp VALUES (10, 'Admins', 1), (11, 'Readers', 0);
INSERT INTO member VALUES (1, 10), (2, 11), (2, 10);
";

const MAPPING: &str = r#"system: a small admin app
timezone: UTC
privileged:
  principals: ["1"]
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
"#;

fn at(s: &str) -> DateTime<Utc> {
    accessaudit::model::parse_instant(s).expect("instant")
}

async fn source_db(dir: &Path, name: &str) -> String {
    let file = dir.join(format!("{name}.db"));
    let store = Store::connect(
        &format!("sqlite://{}?mode=rwc", file.display()),
        StoreOptions::default(),
    )
    .await
    .expect("create source");
    for statement in SCHEMA.split(';').filter(|s| !s.trim().is_empty()) {
        store.execute(statement, &[]).await.expect(statement);
    }
    store.close().await;
    format!("sqlite://{}", file.display())
}

async fn two_applications(db: common::TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    let crm = source_db(dir.path(), "crm").await;
    let erp = source_db(dir.path(), "erp").await;
    std::fs::write(dir.path().join("mapping.yaml"), MAPPING).unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "sources:
  crm-db:
    kind: sqlite
    url: {crm}
    mapping: mapping.yaml
    application: crm
  erp-db:
    kind: sqlite
    url: {erp}
    mapping: mapping.yaml
    application: erp
"
        ),
    )
    .unwrap();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let now = at("2026-11-01T00:00:00Z");
    for name in ["crm-db", "erp-db"] {
        sync_source(&db.store, name, &config.sources[name], now)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // Both user 1s, both role 10s: nothing overwritten.
    let rows = db
        .store
        .fetch_all(
            "SELECT id, application, login FROM principals ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let accounts: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.req_text("id").unwrap(),
                r.req_text("application").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        accounts,
        [
            ("crm:1", "crm"),
            ("crm:2", "crm"),
            ("crm:3", "crm"),
            ("erp:1", "erp"),
            ("erp:2", "erp"),
            ("erp:3", "erp"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string())),
    );
    let grants = db
        .store
        .fetch_all(
            "SELECT g.id, g.principal_id, g.role_id, r.application FROM grants g
               JOIN roles r ON r.id = g.role_id
              WHERE g.revoked_at IS NULL ORDER BY g.id",
            &[],
        )
        .await
        .unwrap();
    let grants: Vec<String> = grants
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r.req_text("id").unwrap(),
                r.req_text("principal_id").unwrap(),
                r.req_text("role_id").unwrap(),
                r.req_text("application").unwrap()
            )
        })
        .collect();
    assert_eq!(
        grants,
        [
            "crm:1:10 crm:1 crm:10 crm",
            "crm:1:accessaudit:super-user crm:1 crm:accessaudit:super-user crm",
            "crm:2:10 crm:2 crm:10 crm",
            "crm:2:11 crm:2 crm:11 crm",
            "erp:1:10 erp:1 erp:10 erp",
            "erp:1:accessaudit:super-user erp:1 erp:accessaudit:super-user erp",
            "erp:2:10 erp:2 erp:10 erp",
            "erp:2:11 erp:2 erp:11 erp",
        ],
    );

    // Audited together: each application's idle account is a finding of
    // its own, attributed to its application.
    let set = accessaudit::engine::load::load(&[], true).expect("shipped rules");
    let rules: Vec<&accessaudit::engine::Rule> = set
        .enabled()
        .filter(|r| r.id == "idle-accounts" || r.id == "over-privileged")
        .collect();
    let summary = accessaudit::engine::run(&db.store, &rules, at("2026-11-01T00:00:00Z"), None)
        .await
        .expect("run");
    let mut found = Vec::new();
    db.store
        .for_each_finding(summary.run_id, |f| {
            if f.rule == "idle-accounts" {
                found.push((
                    f.subject_id.clone(),
                    f.application.clone().unwrap_or_default(),
                    accessaudit::report::output::native_id(&f)
                        .unwrap_or("")
                        .to_string(),
                ));
            }
            Ok(())
        })
        .await
        .unwrap();
    found.sort();
    assert_eq!(
        found,
        [("crm:2", "crm", "2"), ("erp:2", "erp", "2")].map(|(a, b, c)| (
            a.to_string(),
            b.to_string(),
            c.to_string()
        )),
    );
    // A rerun that leaves no trace records its findings in a scratch store
    // without the accounts: their applications come from this store.
    let out = common::accessaudit()
        .args([
            "--database",
            &db.url,
            "run",
            "--no-record",
            "--rule",
            "idle-accounts",
        ])
        .args(["--as-of", "2026-11-01T00:00:00Z", "--format", "json"])
        .output()
        .expect("run --no-record");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let mut printed: Vec<String> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f["subject_id"], f["application"], f["native_id"]
            )
        })
        .collect();
    printed.sort();
    assert_eq!(
        printed,
        [r#""crm:2" "crm" "2""#, r#""erp:2" "erp" "2""#],
        "{doc}"
    );

    // A second sync of one source leaves the other's rows alone.
    sync_source(&db.store, "crm-db", &config.sources["crm-db"], now)
        .await
        .unwrap();
    let n = db
        .store
        .fetch_all(
            "SELECT COUNT(*) AS n FROM grants WHERE revoked_at IS NULL AND principal_id LIKE 'erp:%'",
            &[],
        )
        .await
        .unwrap()[0]
        .i64("n")
        .unwrap();
    assert_eq!(n, Some(4));
}

on_both_backends!(two_applications);

/// A source without `application:` keeps its ids as given, in an
/// application named like the source (a store synced before applications
/// stays as it was).
async fn unnamed_source_keeps_ids(db: common::TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    let url = source_db(dir.path(), "app").await;
    std::fs::write(dir.path().join("mapping.yaml"), MAPPING).unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        format!("sources:\n  app:\n    kind: sqlite\n    url: {url}\n    mapping: mapping.yaml\n"),
    )
    .unwrap();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    sync_source(
        &db.store,
        "app",
        &config.sources["app"],
        at("2026-11-01T00:00:00Z"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let rows = db
        .store
        .fetch_all(
            "SELECT id, application FROM principals UNION ALL SELECT id, application FROM roles ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let ids: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}@{}",
                r.req_text("id").unwrap(),
                r.req_text("application").unwrap()
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            "1@app",
            "10@app",
            "11@app",
            "2@app",
            "3@app",
            "accessaudit:super-user@app"
        ]
    );
    // Versions of accounts carry their application too.
    let versions = db
        .store
        .fetch_all(
            "SELECT COUNT(*) AS n FROM principal_history WHERE application = 'app'",
            &[],
        )
        .await
        .unwrap()[0]
        .i64("n")
        .unwrap();
    assert_eq!(versions, Some(3));
    // One application in the store: findings name it without a lookup.
    let set = accessaudit::engine::load::load(&[], true).expect("shipped rules");
    let rules: Vec<&accessaudit::engine::Rule> = set
        .enabled()
        .filter(|r| r.id == "over-privileged")
        .collect();
    let summary = accessaudit::engine::run(&db.store, &rules, at("2026-11-01T00:00:00Z"), None)
        .await
        .expect("run");
    let mut found = Vec::new();
    db.store
        .for_each_finding(summary.run_id, |f| {
            found.push((f.subject_type.as_str(), f.application.clone()));
            Ok(())
        })
        .await
        .unwrap();
    assert!(!found.is_empty());
    for (subject_type, application) in &found {
        let want = (*subject_type != "person").then(|| "app".to_string());
        assert_eq!(application, &want, "{found:?}");
    }
}

on_both_backends!(unnamed_source_keeps_ids);

/// `import --application`: the same CSV files loaded for two applications
/// coexist; `run --format json` and CSV name each finding's application
/// and native id; a bad application name is refused before anything is
/// written.
#[test]
fn import_into_two_applications() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("store.db").display());
    let files = [
        (
            "principals",
            "id,login,status,last_login_at\n1,root,active,2026-10-30\n2,ops,active,2026-03-01\n",
        ),
        ("roles", "id,name,privileged\n10,Admins,true\n"),
        ("grants", "id,principal_id,role_id\ng1,1,10\n"),
        (
            "events",
            "id,occurred_at,principal_id,action\ne1,2026-10-31T20:00:00Z,1,login\n",
        ),
    ];
    for (table, text) in files {
        std::fs::write(dir.path().join(format!("{table}.csv")), text).unwrap();
    }
    let import = |table: &str, application: &str| {
        common::accessaudit()
            .args([
                "--database",
                &db,
                "import",
                table,
                dir.path().join(format!("{table}.csv")).to_str().unwrap(),
                "--application",
                application,
            ])
            .output()
            .unwrap()
    };
    let bad = import("principals", "crm:eu");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("--application") && stderr.contains("`:`"),
        "{stderr}"
    );
    for application in ["crm", "erp"] {
        for (table, _) in files {
            let out = import(table, application);
            assert!(
                out.status.success(),
                "{table} {application}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let out = common::accessaudit()
        .args([
            "--database",
            &db,
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
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let mut found: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f["subject_id"].as_str().unwrap(),
                f["application"].as_str().unwrap(),
                f["native_id"].as_str().unwrap()
            )
        })
        .collect();
    found.sort();
    assert_eq!(found, ["crm:2 crm 2", "erp:2 erp 2"], "{doc}");

    // The CSV output keeps its contract columns: the namespaced id says it.
    let out = common::accessaudit()
        .args([
            "--database",
            &db,
            "run",
            "--rule",
            "idle-accounts",
            "--as-of",
            "2026-11-01T00:00:00Z",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    let mut csv = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(csv.headers().unwrap().len(), 9);
    let mut rows: Vec<String> = csv.records().map(|r| r.unwrap()[4].to_string()).collect();
    rows.sort();
    assert_eq!(rows, ["crm:2", "erp:2"]);

    // Scoped to the CRM, which is critical: one finding, raised a level.
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/idle-crm.yaml"),
        "override: idle-accounts\nscope: {applications: [crm]}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        format!(
            "database: {db}\nrules: [rules]\napplications:\n  crm: {{owner: P1, criticality: critical, description: the CRM}}\n  erp: {{criticality: low}}\n"
        ),
    )
    .unwrap();
    let config = dir.path().join("config.yaml");
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
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let found: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["subject_id"].as_str().unwrap(),
                f["severity"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(found, ["crm:2 high"], "{doc}");
    assert_eq!(doc["rules"][0]["findings"], 1, "{doc}");
    let out = common::accessaudit()
        .args(["--config", config.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("applications: crm (critical, owner P1); erp (low)"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A scope naming something that is no application name is refused
    // with its place.
    std::fs::write(
        dir.path().join("rules/idle-crm.yaml"),
        "override: idle-accounts\nscope: {applications: [\"crm eu\"]}\n",
    )
    .unwrap();
    let out = common::accessaudit()
        .args([
            "--config",
            config.to_str().unwrap(),
            "run",
            "--rule",
            "idle-accounts",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("idle-crm.yaml") && stderr.contains("scope.applications"),
        "{stderr}"
    );
}
