//! `accessaudit demo`: the generated organisation, loaded through the CSV
//! import path, yields exactly the planted findings on both backends, every
//! shipped rule finds something, and the same seed gives the same files.

use crate::common;

use std::collections::BTreeSet;

use accessaudit::store::runs::OutcomeStatus;
use accessaudit::{demo, engine};
use common::TestDb;

const RULES: [&str; 16] = [
    "admin-actions-review",
    "bulk-delete",
    "bulk-export",
    "departed-still-active",
    "device-sprawl",
    "expired-grant-still-live",
    "grant-without-approval",
    "idle-accounts",
    "initial-password-unchanged",
    "non-employee-access",
    "orphan-account",
    "over-privileged",
    "privileged-without-mfa",
    "separation-of-duties",
    "shared-account",
    "transfer-kept-access",
];

type Key = (String, String, String);

/// Builds the demo for `seed` into `db`, runs every shipped rule as of the
/// demo's instant, and returns (planted, found).
async fn build_and_run(db: &TestDb, seed: u64) -> (BTreeSet<Key>, BTreeSet<Key>) {
    let org = demo::build(&db.store, seed).await.expect("demo builds");
    let set = accessaudit::engine::load::load(&[], true).expect("shipped rules load");
    let enabled: Vec<&accessaudit::engine::Rule> = set.enabled().collect();
    for id in RULES {
        assert!(
            enabled.iter().any(|r| r.id == id),
            "shipped rule {id} is not enabled"
        );
    }
    // The demo's directory is a directory (as `accessaudit demo` configures it).
    let deployment = accessaudit::engine::Deployment {
        directories: org
            .applications
            .iter()
            .filter(|a| a.3)
            .map(|a| a.0.to_string())
            .collect(),
        ..Default::default()
    };
    let summary = engine::run_recorded_in(
        &db.store,
        &db.store,
        &enabled,
        org.as_of,
        Some("demo"),
        &deployment,
    )
    .await
    .expect("run");
    for o in &summary.outcomes {
        assert_eq!(
            o.status,
            OutcomeStatus::Ok,
            "rule {} was {}: {:?}",
            o.rule_id,
            o.status.as_str(),
            o.reason
        );
        assert!(
            o.reason.is_none(),
            "rule {} has a caveat: {:?}",
            o.rule_id,
            o.reason
        );
    }
    let mut found = BTreeSet::new();
    db.store
        .for_each_finding(summary.run_id, |f| {
            found.insert((
                f.rule.clone(),
                f.subject_type.as_str().to_string(),
                f.subject_id.clone(),
            ));
            Ok(())
        })
        .await
        .expect("read findings");
    let planted: BTreeSet<Key> = org.planted.iter().cloned().collect();
    assert_eq!(planted.len(), org.planted.len(), "a case is planted twice");
    (planted, found)
}

fn describe(keys: &BTreeSet<Key>) -> String {
    keys.iter()
        .map(|(r, t, s)| format!("{r} {t} {s}"))
        .collect::<Vec<_>>()
        .join("\n  ")
}

async fn demo_finds_exactly_the_planted_cases(db: TestDb) {
    let (planted, found) = build_and_run(&db, 7).await;
    let missed: BTreeSet<Key> = planted.difference(&found).cloned().collect();
    let extra: BTreeSet<Key> = found.difference(&planted).cloned().collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "planted but not found:\n  {}\nfound but not planted:\n  {}",
        describe(&missed),
        describe(&extra)
    );
    for rule in RULES {
        let n = found.iter().filter(|(r, _, _)| r == rule).count();
        assert!(n >= 1, "rule {rule} found nothing in the demo");
    }
    // Several cases of every rule, and the three subject types.
    for rule in RULES {
        let n = planted.iter().filter(|(r, _, _)| r == rule).count();
        assert!(n >= 3, "only {n} planted case(s) of {rule}");
    }
    for subject in ["principal", "role", "grant", "person"] {
        assert!(
            planted.iter().any(|(_, t, _)| t == subject),
            "no {subject} finding planted"
        );
    }
}

on_both_backends!(demo_finds_exactly_the_planted_cases);

/// The clean population stays clean whatever the seed (SQLite only: the
/// backends agree on seed 7 above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_seed_finds_exactly_its_planted_cases() {
    let db = common::sqlite().await;
    let (planted, found) = build_and_run(&db, 20_261_101).await;
    assert_eq!(found, planted, "seed 20261101");
}

#[test]
fn the_same_seed_gives_the_same_csv() {
    let a = demo::generate(7).expect("generate");
    let b = demo::generate(7).expect("generate");
    assert_eq!(a.tables.len(), 6);
    for ((ta, ca), (tb, cb)) in a.tables.iter().zip(&b.tables) {
        assert_eq!(ta.name, tb.name);
        assert!(
            ca == cb,
            "table {} differs between two runs with seed 7",
            ta.name
        );
    }
    assert_eq!(a.org.planted, b.org.planted);
    assert_eq!(a.org.events, b.org.events);
    let names: Vec<&str> = a.tables.iter().map(|(t, _)| t.name).collect();
    assert_eq!(
        names,
        [
            "people",
            "principals",
            "roles",
            "role_permissions",
            "grants",
            "events"
        ]
    );
    // Another seed is another organisation (names, times), not the same text.
    let c = demo::generate(8).expect("generate");
    assert!(
        a.tables[1].1 != c.tables[1].1,
        "seeds 7 and 8 gave the same principals"
    );
    // Sizes the demo promises.
    // About 400 CRM accounts, and a directory account for most employees.
    assert!(
        (600..=850).contains(&a.org.principals),
        "{} accounts",
        a.org.principals
    );
    assert!(
        (20_000..=150_000).contains(&a.org.events),
        "{} events",
        a.org.events
    );
}

#[test]
fn the_cli_demo_prints_findings_of_every_rule_as_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("d.db");
    let out = common::accessaudit()
        .arg("demo")
        .arg("--path")
        .arg(&db)
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(["--format", "json"])
        .output()
        .expect("run accessaudit demo");
    assert!(
        out.status.success(),
        "accessaudit demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert!(json["run_id"].is_i64(), "{json}");
    assert_eq!(json["as_of"], "2026-11-01T08:00:00Z");
    let findings = json["findings"].as_array().expect("findings array");
    let rules: BTreeSet<&str> = findings.iter().filter_map(|f| f["rule"].as_str()).collect();
    assert_eq!(rules, RULES.into_iter().collect::<BTreeSet<_>>());
    let critical = findings
        .iter()
        .filter(|f| f["severity"] == "critical" && f["rule"] == "departed-still-active")
        .count();
    assert_eq!(
        critical, 1,
        "one departed account was used after its owner left"
    );
    assert!(db.exists());

    // The monthly report is left beside the findings, openable and archived.
    let run_id = json["run_id"].as_i64().unwrap_or_default();
    let out_dir = dir.path().join("out");
    let html = std::fs::read_to_string(out_dir.join(format!("monthly-run{run_id}.html")))
        .expect("the demo leaves the report as HTML");
    assert!(html.contains("Monthly access review"), "{html}");
    // The demo's exceptions file: one accepted finding, one expired exception listed.
    assert!(html.contains("Accepted (exception) (1)"));
    // Against the run 45 days earlier: one planted case has resolved.
    assert!(html.contains("Resolved (1)"));
    assert!(html.contains("Head of IT Security"));
    assert!(html.contains("Seasonal staff"));
    assert!(
        out_dir
            .join(format!("monthly-run{run_id}-findings.csv"))
            .is_file()
    );
    let eml = out_dir.join(format!("monthly-run{run_id}.eml"));
    let verify = common::accessaudit()
        .arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .args(["runs", "verify", &run_id.to_string(), "--file"])
        .arg(&eml)
        .output()
        .expect("run accessaudit runs verify");
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// An auditor reruns on a copy of the demo's database that they may not
/// write: the copied file alone holds every run (no write-ahead log left
/// beside it), the run needs no write access, and `--no-record` leaves no
/// trace on a database that could be written.
#[test]
fn a_read_only_copy_can_be_audited_and_no_record_leaves_no_trace() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("d.db");
    let out = common::accessaudit()
        .args(["demo", "--path"])
        .arg(&db)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .expect("demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wal = dir.path().join("d.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0,
        "the demo left its runs in the write-ahead log"
    );
    // The copy: only the file, readable by anyone, writable by no one.
    let copy_dir = tempfile::tempdir().expect("temp dir");
    let copy = copy_dir.path().join("audit-copy.db");
    std::fs::copy(&db, &copy).expect("copy");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(copy_dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let url = format!("sqlite://{}", copy.display());
    let as_of = ["run", "--as-of", "2026-11-01T08:00:00Z", "--format", "json"];
    // As root nothing is read-only, so the auditor is `nobody` (setpriv,
    // util-linux); `?mode=ro` says the same in the URL.
    let as_nobody = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_accessaudit"))
        .args(["--database", &url])
        .args(as_of)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/nonexistent")
        .current_dir("/")
        .output()
        .expect("setpriv (util-linux)");
    let by_url = common::accessaudit()
        .args(["--database", &format!("{url}?mode=ro")])
        .args(as_of)
        .output()
        .expect("run");
    for out in [&as_nobody, &by_url] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            stderr.contains("not recorded (the database is read-only)"),
            "{stderr}"
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert!(doc["run_id"].is_null(), "{doc}");
        let rules: BTreeSet<&str> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["rule"].as_str())
            .collect();
        assert_eq!(rules, RULES.into_iter().collect::<BTreeSet<_>>());
    }
    std::fs::set_permissions(copy_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(
        std::fs::read_dir(copy_dir.path()).unwrap().count(),
        1,
        "nothing was written beside the copy"
    );

    // --no-record on the writable original: the list of runs is unchanged.
    let db_url = format!("sqlite://{}", db.display());
    let runs = || {
        let out = common::accessaudit()
            .args(["--database", &db_url, "runs", "list"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let before = runs();
    let out = common::accessaudit()
        .args(["--database", &db_url])
        .args(as_of)
        .arg("--no-record")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not recorded (--no-record)"));
    assert_eq!(runs(), before);

    // What a rerun that leaves no trace prints is what a recorded run
    // prints, applications and native ids included (the demo has two
    // applications: each finding's is looked up in the deployment's store,
    // not in the scratch store that holds the findings).
    let printed = |stdout: &[u8]| -> BTreeSet<String> {
        let doc: serde_json::Value = serde_json::from_slice(stdout).expect("JSON");
        doc["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                let mut f = f.clone();
                f.as_object_mut().expect("a finding").remove("status");
                f.to_string()
            })
            .collect()
    };
    let unrecorded = printed(&out.stdout);
    let recorded = common::accessaudit()
        .args(["--database", &db_url])
        .args(as_of)
        .output()
        .unwrap();
    assert_eq!(recorded.status.code(), Some(0));
    assert_eq!(unrecorded, printed(&recorded.stdout));
    assert_eq!(unrecorded, printed(&as_nobody.stdout));
    let applications: BTreeSet<String> = unrecorded
        .iter()
        .filter_map(|f| {
            let f: serde_json::Value = serde_json::from_str(f).ok()?;
            Some(f["application"].as_str()?.to_string())
        })
        .collect();
    assert_eq!(
        applications,
        BTreeSet::from(["crm".to_string(), "directory".to_string()])
    );
}
