//! `people show` and identity correlation, through the binary, on SQLite
//! and PostgreSQL: a leaver with accounts in two applications (CSV sets of
//! `crm` and `erp`, ids namespaced by hand as `crm:1` / `erp:1`), found by
//! id and by email, in text and JSON; an unknown person; and an
//! `identity:` order that links by employee number an account the default
//! calls orphaned.

use std::path::Path;

use crate::common;
use common::TestDb;

const AS_OF: &str = "2026-11-01T00:00:00Z";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write fixture");
    path
}

/// Runs the binary on the test database; (success, stdout, stderr).
fn run(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let out = common::accessaudit()
        .env("ACCESSAUDIT_DATABASE_URL", &db.url)
        .args(args)
        .output()
        .expect("run accessaudit");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(db: &TestDb, args: &[&str]) -> String {
    let (success, stdout, stderr) = run(db, args);
    assert!(success, "accessaudit {args:?} failed:\n{stderr}\n{stdout}");
    stdout
}

/// Two applications' CSV sets and HR: Ann left on 2026-09-01 and still has
/// an account in both (CRM linked by email, ERP by person_id); Bob is
/// active; `erp:9` carries only Bob's employee number.
fn load(db: &TestDb, dir: &Path) {
    let files = [
        (
            "people",
            "id,email,full_name,employment_status,terminated_at\n\
             h1,ann.lee@corp.example,Ann Lee,terminated,2026-09-01T00:00:00Z\n\
             h2,bob@corp.example,Bob Active,active,\n",
        ),
        (
            "principals",
            "id,application,login,email,person_id,employee_number,status,created_at\n\
             crm:1,crm,ann,Ann.Lee@Corp.Example,,,active,2024-01-01\n\
             crm:2,crm,bob,,h2,,active,2024-01-01\n",
        ),
        (
            "principals",
            "id,application,login,email,person_id,employee_number,status,created_at\n\
             erp:1,erp,alee,,h1,,active,2024-01-01\n\
             erp:9,erp,bjones,,,h2,active,2024-01-01\n",
        ),
        (
            "roles",
            "id,application,name,privileged\n\
             crm:admin,crm,CRM administrator,true\n\
             erp:ap,erp,Accounts payable,false\n\
             erp:gl,erp,General ledger,false\n",
        ),
        (
            "role_permissions",
            "role_id,permission\n\
             crm:admin,customer.export\n\
             crm:admin,user.grant\n\
             erp:ap,invoice.pay\n\
             erp:gl,ledger.post\n",
        ),
        (
            "grants",
            "id,principal_id,role_id,granted_at,revoked_at\n\
             crm:g1,crm:1,crm:admin,2024-01-01,\n\
             erp:g1,erp:1,erp:ap,2024-01-01,\n\
             erp:g2,erp:1,erp:gl,2024-01-01,2026-08-01\n",
        ),
    ];
    for (i, (table, text)) in files.iter().enumerate() {
        let path = write(dir, &format!("{i}-{table}.csv"), text);
        ok(db, &["import", table, path.to_str().expect("utf-8")]);
    }
}

async fn people_show_lists_a_leavers_accounts_in_every_application(db: TestDb) {
    let dir = tempfile::tempdir().expect("temp dir");
    load(&db, dir.path());
    ok(&db, &["run", "--as-of", AS_OF, "--allow-skipped"]);

    let json = ok(
        &db,
        &["people", "show", "h1", "--as-of", AS_OF, "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v["person"]["id"], "h1", "{json}");
    assert_eq!(v["identity"], serde_json::json!(["person_id", "email"]));
    let accounts = v["accounts"].as_array().expect("accounts");
    let summary: Vec<(&str, &str, &str, &str)> = accounts
        .iter()
        .map(|a| {
            (
                a["application"].as_str().unwrap_or(""),
                a["native_id"].as_str().unwrap_or(""),
                a["linked_by"].as_str().unwrap_or(""),
                a["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("crm", "1", "email", "active"),
            ("erp", "1", "person_id", "active")
        ],
        "{json}"
    );
    // Live roles only (erp:g2 was revoked before T), with what they permit.
    let roles = |i: usize| -> Vec<(String, String, bool, Vec<String>)> {
        accounts[i]["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .map(|r| {
                (
                    r["application"].as_str().unwrap_or("").to_string(),
                    r["native_id"].as_str().unwrap_or("").to_string(),
                    r["privileged"].as_bool().unwrap_or(false),
                    serde_json::from_value(r["permissions"].clone()).unwrap_or_default(),
                )
            })
            .collect()
    };
    assert_eq!(
        roles(0),
        [(
            "crm".to_string(),
            "admin".to_string(),
            true,
            vec!["customer.export".to_string(), "user.grant".to_string()]
        )]
    );
    assert_eq!(
        roles(1),
        [(
            "erp".to_string(),
            "ap".to_string(),
            false,
            vec!["invoice.pay".to_string()]
        )]
    );
    // The leaver's findings: one per account, attributed to its application.
    let departed: Vec<(&str, &str)> = v["findings"]["items"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "departed-still-active")
        .map(|f| {
            (
                f["application"].as_str().unwrap_or(""),
                f["subject_id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(departed, [("crm", "crm:1"), ("erp", "erp:1")], "{json}");
    assert!(v["findings"]["run_id"].as_i64().is_some(), "{json}");

    // By email, any case, as text.
    let text = ok(
        &db,
        &["people", "show", "ANN.LEE@corp.example", "--as-of", AS_OF],
    );
    assert!(text.starts_with("person h1 (Ann Lee)"), "{text}");
    assert!(text.contains("  crm 1: login ann, active"), "{text}");
    assert!(text.contains("linked by email"), "{text}");
    assert!(text.contains("  erp 1: login alee, active"), "{text}");
    assert!(
        text.contains(
            "role crm admin (CRM administrator), privileged: customer.export, user.grant"
        ),
        "{text}"
    );
    assert!(
        !text.contains("ledger.post"),
        "a revoked role is not live:\n{text}"
    );
    assert!(
        text.contains("departed-still-active principal crm 1"),
        "{text}"
    );
    assert!(
        text.contains("departed-still-active principal erp 1"),
        "{text}"
    );

    // Before any run: no findings, said so.
    let early = ok(
        &db,
        &["people", "show", "h1", "--as-of", "2025-01-01T00:00:00Z"],
    );
    assert!(early.contains("no succeeded run at or before"), "{early}");

    let (success, _, stderr) = run(&db, &["people", "show", "nobody@corp.example"]);
    assert!(!success, "an unknown person must fail");
    assert!(stderr.contains("nobody@corp.example"), "{stderr}");
}

async fn an_identity_order_links_by_employee_number(db: TestDb) {
    let dir = tempfile::tempdir().expect("temp dir");
    load(&db, dir.path());
    let orphans = |args: &[&str]| -> Vec<String> {
        let mut all = vec![];
        all.extend_from_slice(args);
        all.extend_from_slice(&[
            "run",
            "--rule",
            "orphan-account",
            "--as-of",
            AS_OF,
            "--no-record",
            "--format",
            "json",
        ]);
        let out = ok(&db, &all);
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["subject_id"].as_str().unwrap_or("").to_string())
            .collect()
    };
    // The default order (person_id, email) cannot link erp:9.
    assert_eq!(orphans(&[]), ["erp:9"]);

    let config = write(
        dir.path(),
        "config.yaml",
        "identity:\n  match: [employee_number]\n",
    );
    let config = config.to_str().expect("utf-8");
    // By employee number alone, erp:9 is Bob's; the others carry none.
    assert_eq!(orphans(&["--config", config]), ["crm:1", "crm:2", "erp:1"]);
    let json = ok(
        &db,
        &[
            "--config", config, "people", "show", "h2", "--as-of", AS_OF, "--format", "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let linked: Vec<(&str, &str)> = v["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or(""),
                a["linked_by"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(linked, [("erp:9", "employee_number")], "{json}");

    // An unknown method is refused with the key named.
    let bad = write(dir.path(), "bad.yaml", "identity:\n  match: [badge]\n");
    let (success, _, stderr) = run(
        &db,
        &["--config", bad.to_str().expect("utf-8"), "config", "check"],
    );
    assert!(!success);
    assert!(
        stderr.contains("badge") && stderr.contains("identity"),
        "{stderr}"
    );
}

on_both_backends!(
    people_show_lists_a_leavers_accounts_in_every_application,
    an_identity_order_links_by_employee_number
);
