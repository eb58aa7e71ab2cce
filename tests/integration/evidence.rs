//! Evidence an auditor can rely on, on SQLite and PostgreSQL: the ledger
//! (`runs verify --chain`) catching one changed byte of an old report, a
//! middle row removed and a forged row inserted, each named; two writers
//! archiving at once without forking the chain; reports archived before
//! the ledger chained in order. Signed reports: `keys generate`, a signed
//! report verified by the binary with the public key alone, off the
//! machine's database, and refused when changed, unsigned or checked with
//! the wrong key. The OSCAL export validated against NIST's schema.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use accessaudit::app::{self, Loaded, Overrides};
use accessaudit::collect::{csv_import, tables};
use accessaudit::engine;
use accessaudit::model::parse_instant;
use accessaudit::report::archive;
use accessaudit::report::mime::sha256_hex;
use accessaudit::store::ledger::{self, Break};
use accessaudit::store::{SqlValue, Store, StoreOptions};
use common::TestDb;

const T: &str = "2026-11-01T00:00:00Z";

/// Three idle accounts (one whose id is hostile: a line break, markup),
/// `fresh` keeping the event feed fresh.
fn write_fixture(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let principals = "id,login,display_name,email,department,account_type,status,created_at,last_login_at\n\
        u1,alice,Alice,alice@example.com,Sales,human,active,2025-01-01,2026-01-01\n\
        u2,bob,Bob,bob@example.com,Sales,human,active,2025-01-01,2026-02-01\n\
        \"u3 <b>\nx\",carol,Carol,carol@example.com,IT,human,active,2025-01-01,2026-03-01\n\
        fresh,fresh,Fresh,fresh@example.com,IT,human,active,2025-01-01,\n";
    let events = "id,occurred_at,principal_id,action,outcome,ip\n\
                  e1,2026-10-31T23:00:00Z,fresh,login,success,10.0.0.1\n";
    let p = dir.join("principals.csv");
    let e = dir.join("events.csv");
    std::fs::write(&p, principals).unwrap();
    std::fs::write(&e, events).unwrap();
    vec![("principals", p), ("events", e)]
}

/// Imports the fixture and records one run of `rules` as job `monthly`.
async fn one_run(db: &TestDb, rules: &[&str]) -> i64 {
    let dir = tempfile::tempdir().unwrap();
    for (table, path) in write_fixture(dir.path()) {
        csv_import::import_csv(&db.store, tables::table(table).unwrap(), &path)
            .await
            .expect("fixture imports");
    }
    let set = engine::load::load(&[], true).unwrap();
    let chosen: Vec<&engine::Rule> = rules.iter().map(|r| set.get(r).unwrap()).collect();
    engine::run(
        &db.store,
        &chosen,
        parse_instant(T).unwrap(),
        Some("monthly"),
    )
    .await
    .unwrap()
    .run_id
}

/// One run whose report is archived `n` times (the real report, then
/// copies under other template names and with other bytes): `n` ledger
/// entries, one per report, report ids 1..=n in order.
async fn archived(db: &TestDb, n: usize) -> Vec<i64> {
    let run = one_run(db, &["idle-accounts"]).await;
    let loaded = Loaded::load(&Overrides {
        database: Some(db.url.clone()),
        ..Overrides::default()
    })
    .unwrap();
    let report = app::reports::render_and_archive(&db.store, &loaded, run)
        .await
        .unwrap();
    let mut ids = archive::list(&db.store, Some(run))
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect::<Vec<_>>();
    for i in 2..=n {
        let mut copy = report.clone();
        copy.template = format!("copy-{i}");
        copy.eml
            .extend_from_slice(format!("\r\ncopy {i}\r\n").as_bytes());
        copy.sha256 = sha256_hex(&copy.eml);
        ids.push(archive::archive(&db.store, &mut copy).await.unwrap());
    }
    assert_eq!(ids.len(), n);
    ids
}

async fn check(db: &TestDb) -> app::ledger::ChainCheck {
    app::ledger::verify_chain(&db.store, &[]).await.unwrap()
}

fn bin(db: &TestDb, args: &[&str]) -> Output {
    common::accessaudit()
        .env("ACCESSAUDIT_DATABASE_URL", &db.url)
        .args(args)
        .output()
        .expect("run accessaudit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `runs verify --chain` fails, and its first line names `first`.
fn chain_fails_naming(db: &TestDb, first: &str) {
    let o = bin(db, &["runs", "verify", "--chain"]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}{}", text(&o.stderr));
    let line = out.lines().next().unwrap_or_default();
    assert!(line.starts_with("FIRST"), "{out}");
    assert!(line.contains(first), "expected `{first}` in: {out}");
}

async fn one_changed_byte_of_an_old_report(db: TestDb) {
    let ids = archived(&db, 4).await;
    let c = check(&db).await;
    assert!(c.intact(), "{:?}", c.breaks);
    assert_eq!(c.entries, 4);
    assert_eq!(c.head.as_ref().map(|h| h.seq), Some(4));
    let o = bin(&db, &["runs", "verify", "--chain"]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("4 entries, chain intact"));

    // One byte of report 2's stored bytes.
    let mut bytes = archive::eml(&db.store, ids[1]).await.unwrap().unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    db.store
        .execute(
            "UPDATE reports SET eml = $1 WHERE id = $2",
            &[SqlValue::Bytes(Some(bytes)), SqlValue::int(ids[1])],
        )
        .await
        .unwrap();
    let c = check(&db).await;
    assert_eq!(c.breaks.len(), 1, "{:?}", c.breaks);
    assert!(
        matches!(&c.breaks[0], Break::ContentChanged { entry, what, .. }
            if entry.starts_with(&format!("ledger entry 2 (report {}, recorded ", ids[1])) && what == "its content"),
        "{:?}",
        c.breaks
    );
    chain_fails_naming(&db, &format!("ledger entry 2 (report {}", ids[1]));
    // The digest beside the bytes rewritten too: still caught.
    let now = sha256_hex(&archive::eml(&db.store, ids[1]).await.unwrap().unwrap());
    db.store
        .execute(
            "UPDATE reports SET sha256 = $1 WHERE id = $2",
            &[SqlValue::text(now), SqlValue::int(ids[1])],
        )
        .await
        .unwrap();
    let c = check(&db).await;
    assert!(
        matches!(&c.breaks[..], [Break::ContentChanged { .. }]),
        "{:?}",
        c.breaks
    );
    // An entry's own field changed (its record's digest, to match): caught
    // as a changed entry.
    db.store
        .execute(
            "UPDATE ledger SET content_sha256 = (SELECT sha256 FROM reports WHERE id = $1) WHERE seq = 2",
            &[SqlValue::int(ids[1])],
        )
        .await
        .unwrap();
    chain_fails_naming(&db, "ledger entry 2 (report");
    let c = check(&db).await;
    assert!(
        matches!(&c.breaks[0], Break::Changed { entry } if entry.starts_with("ledger entry 2")),
        "{:?}",
        c.breaks
    );
}

async fn a_middle_row_removed(db: TestDb) {
    let ids = archived(&db, 5).await;
    // A middle ledger row.
    let row = ledger::page(&db.store, 2, 1).await.unwrap().remove(0);
    db.store
        .execute("DELETE FROM ledger WHERE seq = 3", &[])
        .await
        .unwrap();
    let c = check(&db).await;
    assert!(
        matches!(
            &c.breaks[0],
            Break::Removed {
                first_missing: 3,
                count: 1,
                ..
            }
        ),
        "{:?}",
        c.breaks
    );
    // Its report is now in no entry either.
    assert!(
        c.breaks.iter().any(
            |b| matches!(b, Break::Unrecorded { subject, .. } if *subject == ids[2].to_string())
        ),
        "{:?}",
        c.breaks
    );
    chain_fails_naming(
        &db,
        "ledger entry 3 was removed: the sequence goes from ledger entry 2",
    );
    // Put back as it was: intact again.
    db.store
        .execute(
            "INSERT INTO ledger (seq, kind, subject, content_sha256, prev_hash, entry_hash, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                SqlValue::int(row.seq),
                SqlValue::text(&row.kind),
                SqlValue::text(&row.subject),
                SqlValue::text(&row.content_sha256),
                SqlValue::text(&row.prev_hash),
                SqlValue::text(&row.entry_hash),
                SqlValue::time(row.recorded_at),
            ],
        )
        .await
        .unwrap();
    assert!(check(&db).await.intact());
    // A middle report row.
    db.store
        .execute(
            "DELETE FROM reports WHERE id = $1",
            &[SqlValue::int(ids[3])],
        )
        .await
        .unwrap();
    let c = check(&db).await;
    assert_eq!(
        c.breaks.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
        vec![format!(
            "the record of {} was removed",
            ledger::page(&db.store, 3, 1).await.unwrap()[0].name()
        )]
    );
    chain_fails_naming(
        &db,
        &format!("the record of ledger entry 4 (report {}", ids[3]),
    );
}

async fn a_forged_row_inserted(db: TestDb) {
    let ids = archived(&db, 4).await;
    // A forged report and a forged entry 3 for it, with a valid hash and
    // link (the scheme is no secret); the entries after it renumbered.
    let forged = b"From: ceo@example.com\r\n\r\nnothing to see\r\n".to_vec();
    let sha = sha256_hex(&forged);
    let run = archive::list(&db.store, None).await.unwrap()[0].run_id;
    db.store
        .execute(
            "INSERT INTO reports (run_id, job, template, message_id, sha256, eml, created_at)
             VALUES ($1, 'monthly', 'forged', '<forged@x>', $2, $3, $4)",
            &[
                SqlValue::int(run),
                SqlValue::text(&sha),
                SqlValue::Bytes(Some(forged)),
                SqlValue::time(chrono::Utc::now()),
            ],
        )
        .await
        .unwrap();
    let forged_id = archive::list(&db.store, None)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    for sql in [
        "UPDATE ledger SET seq = seq + 1000 WHERE seq > 2",
        "UPDATE ledger SET seq = seq - 999 WHERE seq > 1000",
    ] {
        db.store.execute(sql, &[]).await.unwrap();
    }
    let second = ledger::page(&db.store, 1, 1).await.unwrap().remove(0);
    let at = second.recorded_at + chrono::Duration::seconds(1);
    let subject = forged_id.to_string();
    db.store
        .execute(
            "INSERT INTO ledger (seq, kind, subject, content_sha256, prev_hash, entry_hash, recorded_at)
             VALUES (3, 'report', $1, $2, $3, $4, $5)",
            &[
                SqlValue::text(&subject),
                SqlValue::text(&sha),
                SqlValue::text(&second.entry_hash),
                SqlValue::text(ledger::entry_hash(
                    3,
                    "report",
                    &subject,
                    &sha,
                    &second.entry_hash,
                    at,
                )),
                SqlValue::time(at),
            ],
        )
        .await
        .unwrap();
    let c = check(&db).await;
    assert!(
        matches!(&c.breaks[0], Break::Inserted { first, count: 1, next }
            if first.starts_with(&format!("ledger entry 3 (report {forged_id}, "))
               && next.starts_with(&format!("ledger entry 4 (report {}", ids[2]))),
        "{:?}",
        c.breaks
    );
    chain_fails_naming(
        &db,
        &format!("ledger entry 3 (report {forged_id}, recorded"),
    );
    // A report slipped in with no entry at all is named too.
    db.store
        .execute(
            "INSERT INTO reports (run_id, job, template, message_id, sha256, eml, created_at)
             SELECT run_id, job, 'forged-2', message_id, sha256, eml, created_at FROM reports WHERE id = $1",
            &[SqlValue::int(ids[0])],
        )
        .await
        .unwrap();
    let c = check(&db).await;
    let last = c.breaks.last().unwrap().to_string();
    assert!(
        last.starts_with(&format!("report {} (dated ", forged_id + 1))
            && last.ends_with("is in no ledger entry: it was inserted outside accessaudit"),
        "{last}"
    );
}

async fn writers_at_once_never_fork(db: TestDb) {
    let ids = archived(&db, 1).await;
    let loaded = Loaded::load(&Overrides {
        database: Some(db.url.clone()),
        ..Overrides::default()
    })
    .unwrap();
    let run = archive::list(&db.store, None).await.unwrap()[0].run_id;
    let report = app::reports::render_and_archive(&db.store, &loaded, run)
        .await
        .unwrap();
    // Two more processes' worth of connections, six archives each, at once.
    let mut tasks = Vec::new();
    for writer in 0..2 {
        let store = Store::open(&db.url, StoreOptions::default()).await.unwrap();
        for i in 0..6 {
            let mut copy = report.clone();
            copy.template = format!("w{writer}-{i}");
            copy.eml.extend_from_slice(copy.template.as_bytes());
            copy.sha256 = sha256_hex(&copy.eml);
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                archive::archive(&store, &mut copy).await.unwrap()
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let c = check(&db).await;
    assert!(c.intact(), "{:?}", c.breaks);
    assert_eq!(c.entries, 13);
    assert_eq!(ids.len(), 1);
    let o = bin(&db, &["runs", "verify", "--chain"]);
    assert!(o.status.success(), "{}", text(&o.stdout));
}

async fn reports_before_the_ledger_are_chained_in_order(db: TestDb) {
    let ids = archived(&db, 3).await;
    // The store as 0010 found it: reports and no ledger; the migration's
    // own statement lists them.
    db.store.execute("DELETE FROM ledger", &[]).await.unwrap();
    let migration = include_str!("../../migrations/sqlite/0010_ledger.sql");
    let insert = &migration[migration.find("INSERT INTO ledger_adopt").unwrap()..];
    db.store
        .execute(insert.trim_end().trim_end_matches(';'), &[])
        .await
        .unwrap();
    db.store.migrate().await.unwrap();
    let c = check(&db).await;
    assert!(c.intact(), "{:?}", c.breaks);
    let entries = ledger::page(&db.store, 0, 10).await.unwrap();
    let subjects: Vec<String> = entries.iter().map(|e| e.subject.clone()).collect();
    assert_eq!(
        subjects,
        ids.iter().map(|i| i.to_string()).collect::<Vec<_>>()
    );
    // Each with its report's archive time, once: opening again adopts nothing.
    let listed = archive::list(&db.store, None).await.unwrap();
    assert_eq!(entries[0].recorded_at, listed[0].created_at);
    db.store.migrate().await.unwrap();
    assert_eq!(check(&db).await.entries, 3);
}

on_both_backends!(
    one_changed_byte_of_an_old_report,
    a_middle_row_removed,
    a_forged_row_inserted,
    writers_at_once_never_fork,
    reports_before_the_ledger_are_chained_in_order,
);

// ---- signed reports ----

fn run_bin(dir: &Path, args: &[&str]) -> Output {
    common::accessaudit()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run accessaudit")
}

/// The byte range of the body of the message's HTML part.
fn html_body(eml: &[u8]) -> std::ops::Range<usize> {
    let m = mail_parser::MessageParser::default().parse(eml).unwrap();
    let part = m.parts.iter().find(|p| p.is_text_html()).unwrap();
    part.raw_body_offset() as usize..part.raw_end_offset() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_reports_verify_offline_and_tampering_is_refused() {
    let db = common::sqlite().await;
    let run = one_run(&db, &["idle-accounts"]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // A key pair; never overwritten.
    let o = run_bin(d, &["keys", "generate", "signing.pem"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("-----BEGIN PUBLIC KEY-----"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("signing.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let private = std::fs::read(d.join("signing.pem")).unwrap();
    let o = run_bin(
        d,
        &[
            "keys",
            "generate",
            "signing.pem",
            "--public-key",
            "other.pub",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("exists already"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read(d.join("signing.pem")).unwrap(), private);
    assert!(!d.join("other.pub").exists());
    let o = run_bin(d, &["keys", "generate", "wrong.pem"]);
    assert!(o.status.success());

    // The key as a systemd credential, by name (no file of that name beside
    // the config).
    let creds = d.join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::rename(d.join("signing.pem"), creds.join("report-signing-key")).unwrap();
    std::fs::write(
        d.join("config.yaml"),
        "report:\n  signing_key_file: report-signing-key\n",
    )
    .unwrap();
    let out = d.join("out");
    let report = |extra: &[&str]| {
        common::accessaudit()
            .current_dir(d)
            .env("ACCESSAUDIT_DATABASE_URL", &db.url)
            .env("CREDENTIALS_DIRECTORY", &creds)
            .args([
                "--config",
                "config.yaml",
                "report",
                "--run",
                &run.to_string(),
                "--out",
            ])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = report(&[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stem = format!("monthly-run{run}");
    let eml_path = out.join(format!("{stem}.eml"));
    let first = std::fs::read(&eml_path).unwrap();
    for suffix in [
        ".html",
        "-findings.csv",
        ".manifest.json",
        ".manifest.json.sig",
    ] {
        assert!(out.join(format!("{stem}{suffix}")).is_file(), "{suffix}");
    }
    // The configured key: its public half, and `config check` names it.
    let configured = |args: &[&str]| {
        common::accessaudit()
            .current_dir(d)
            .env("ACCESSAUDIT_DATABASE_URL", &db.url)
            .env("CREDENTIALS_DIRECTORY", &creds)
            .args(["--config", "config.yaml"])
            .args(args)
            .output()
            .unwrap()
    };
    let o = configured(&["keys", "public"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        std::fs::read_to_string(d.join("signing.pem.pub")).unwrap()
    );
    let fingerprint = text(&o.stderr).trim().replace("fingerprint ", "");
    let o = configured(&["config", "check"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stdout).contains(&format!(
            "report signing: Ed25519, public key {fingerprint}"
        )),
        "{}",
        text(&o.stdout)
    );
    // Deterministic: the same run, the same key, the same bytes.
    assert!(report(&[]).status.success());
    assert_eq!(std::fs::read(&eml_path).unwrap(), first);

    // Copied off the machine: another directory, and no database at all.
    let elsewhere = tempfile::tempdir().unwrap();
    let e = elsewhere.path();
    std::fs::copy(&eml_path, e.join("received.eml")).unwrap();
    std::fs::copy(d.join("signing.pem.pub"), e.join("deployment.pub")).unwrap();
    std::fs::copy(d.join("wrong.pem.pub"), e.join("wrong.pub")).unwrap();
    for suffix in [
        ".html",
        ".manifest.json",
        ".manifest.json.sig",
        "-findings.csv",
    ] {
        std::fs::copy(
            out.join(format!("{stem}{suffix}")),
            e.join(format!("{stem}{suffix}")),
        )
        .unwrap();
    }
    drop(db);
    let verify = |file: &str, key: &str| {
        common::accessaudit()
            .current_dir(e)
            .env(
                "ACCESSAUDIT_DATABASE_URL",
                "sqlite:///nonexistent/accessaudit.db",
            )
            .args(["verify", file, "--public-key", key])
            .output()
            .unwrap()
    };
    let o = verify("received.eml", "deployment.pub");
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let ok = text(&o.stdout);
    assert!(
        ok.starts_with(&format!("ok      received.eml (5 parts) is the report of run {run} (monthly, as of 2026-11-01T00:00:00Z)")),
        "{ok}"
    );
    assert!(!e.join("accessaudit.db").exists());
    // The files beside it too, by the manifest beside them.
    for file in [format!("{stem}.html"), format!("{stem}-findings.csv")] {
        let o = verify(&file, "deployment.pub");
        assert!(
            o.status.success(),
            "{file}: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
    }

    // The wrong key.
    let o = verify("received.eml", "wrong.pub");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("wrong key: the report was signed by the key SHA256:"),
        "{}",
        text(&o.stdout)
    );

    // One byte of the HTML part.
    let mut bytes = first.clone();
    let range = html_body(&bytes);
    let i = (range.start + range.end) / 2;
    let i = (i..range.end)
        .find(|&i| bytes[i].is_ascii_alphanumeric())
        .unwrap();
    bytes[i] = match bytes[i] {
        b'a' => b'b',
        b'0' => b'1',
        b'A' => b'B',
        _ => b'a',
    };
    std::fs::write(e.join("tampered.eml"), &bytes).unwrap();
    let o = verify("tampered.eml", "deployment.pub");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("part 2 (text/html) was changed: its content is sha256"),
        "{}",
        text(&o.stdout)
    );
    // A changed subject line.
    let changed = text(&first).replacen("Subject: ", "Subject: URGENT ", 1);
    std::fs::write(e.join("subject.eml"), changed).unwrap();
    let o = verify("subject.eml", "deployment.pub");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("the Subject header was changed"),
        "{}",
        text(&o.stdout)
    );
    // A changed HTML file.
    let html = e.join(format!("{stem}.html"));
    let mut page = std::fs::read_to_string(&html).unwrap();
    page = page.replacen("</body>", "<p>all clear</p></body>", 1);
    std::fs::write(&html, page).unwrap();
    let o = verify(&format!("{stem}.html"), "deployment.pub");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("is none of the files this manifest signs"),
        "{}",
        text(&o.stdout)
    );

    // An unsigned report.
    let unsigned = tempfile::tempdir().unwrap();
    let db = common::sqlite().await;
    let run = one_run(&db, &["idle-accounts"]).await;
    let o = common::accessaudit()
        .env("ACCESSAUDIT_DATABASE_URL", &db.url)
        .args(["report", "--run", &run.to_string(), "--out"])
        .arg(unsigned.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        !unsigned
            .path()
            .join(format!("monthly-run{run}.manifest.json"))
            .exists()
    );
    std::fs::copy(
        unsigned.path().join(format!("monthly-run{run}.eml")),
        e.join("unsigned.eml"),
    )
    .unwrap();
    let o = verify("unsigned.eml", "deployment.pub");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("unsigned: the message carries no manifest"),
        "{}",
        text(&o.stdout)
    );

    // A key that cannot be read refuses the configuration, naming it.
    let o = common::accessaudit()
        .current_dir(d)
        .env("ACCESSAUDIT_DATABASE_URL", &db.url)
        .args([
            "--config",
            "config.yaml",
            "report",
            "--run",
            &run.to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("report.signing_key: cannot read"),
        "{}",
        text(&o.stderr)
    );
}

// ---- OSCAL ----

/// NIST's OSCAL 1.0.6 assessment-results schema, beside the repository.
fn oscal_validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/oscal/oscal_assessment-results_schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the OSCAL schema is read from ../shared/oscal beside the repository",
            path.display()
        )
    });
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the OSCAL schema compiles")
}

fn schema_errors(v: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

async fn oscal_export_is_valid_and_stable(db: TestDb) {
    // Findings, an accepted one, and rules that are not applicable here
    // (no people, no MFA column filled).
    let run = one_run(
        &db,
        &[
            "idle-accounts",
            "departed-still-active",
            "privileged-without-mfa",
        ],
    )
    .await;
    let validator = oscal_validator();
    let export = |out: Option<&Path>| {
        let mut args = vec![
            "runs".to_string(),
            "export".into(),
            run.to_string(),
            "--format".into(),
            "oscal".into(),
        ];
        if let Some(p) = out {
            args.extend(["--out".to_string(), p.display().to_string()]);
        }
        common::accessaudit()
            .env("ACCESSAUDIT_DATABASE_URL", &db.url)
            .args(&args)
            .output()
            .unwrap()
    };
    let o = export(None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let errors = schema_errors(&validator, &doc);
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    let ar = &doc["assessment-results"];
    assert_eq!(ar["metadata"]["oscal-version"], "1.0.6");
    let result = &ar["results"][0];
    let observations = result["observations"].as_array().unwrap();
    // Three idle accounts, and two rules not evaluated.
    let of_type = |t: &str| observations.iter().filter(|o| o["types"][0] == t).count();
    assert_eq!((of_type("finding"), of_type("control-objective")), (3, 2));
    let subject_ids: Vec<&str> = observations
        .iter()
        .flat_map(|o| o["props"].as_array().unwrap())
        .filter(|p| p["name"] == "subject-id")
        .map(|p| p["value"].as_str().unwrap())
        .collect();
    assert!(subject_ids.contains(&"u3 <b> x"), "{subject_ids:?}");
    // Controls: idle-accounts' are not satisfied, with its observations;
    // those named only by rules not evaluated get no determination.
    let included: Vec<&str> =
        result["reviewed-controls"]["control-selections"][0]["include-controls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["control-id"].as_str().unwrap())
            .collect();
    assert!(included.contains(&"pci-dss-4.0_8.2.6"), "{included:?}");
    // The controls of the rules not evaluated are listed as reviewed too.
    assert!(included.len() > 4, "{included:?}");
    let findings = result["findings"].as_array().unwrap();
    let pci = findings
        .iter()
        .find(|f| f["target"]["target-id"] == "pci-dss-4.0_8.2.6")
        .unwrap();
    assert_eq!(pci["target"]["status"]["state"], "not-satisfied");
    assert_eq!(pci["related-observations"].as_array().unwrap().len(), 3);
    assert!(
        findings
            .iter()
            .all(|f| f["target"]["status"]["state"] != "satisfied"),
        "nothing is claimed satisfied here: {findings:?}"
    );
    // One per control of idle-accounts (the only rule that found
    // something); none for a control named only by the rules not evaluated.
    assert_eq!(findings.len(), 4, "{findings:?}");
    for f in findings {
        let rules: Vec<&str> = f["props"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["value"].as_str().unwrap())
            .collect();
        assert!(rules.contains(&"idle-accounts"), "{f}");
    }
    // import-ap points at the back-matter's list of rules.
    let href = ar["import-ap"]["href"].as_str().unwrap();
    let resources = ar["back-matter"]["resources"].as_array().unwrap();
    assert_eq!(format!("#{}", resources[0]["uuid"].as_str().unwrap()), href);
    assert_eq!(resources.len(), 4);

    // Stable: the same run exported again is the same document.
    let file = tempfile::tempdir().unwrap();
    let path = file.path().join("run.json");
    let o = export(Some(&path));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(again, doc);

    // The validator does reject what breaks the schema.
    let mut broken = doc.clone();
    broken["assessment-results"]["results"][0]["observations"][0]["uuid"] = "not-a-uuid".into();
    broken["assessment-results"]["results"][0]["findings"][0]["target"]["target-id"] =
        "8.2.6 PCI".into();
    let errors = schema_errors(&validator, &broken).join("\n");
    assert!(
        errors.contains("/results/0/observations/0/uuid")
            && errors.contains("/results/0/findings/0/target/target-id"),
        "{errors}"
    );
    // An unknown run is refused, naming it.
    let o = common::accessaudit()
        .env("ACCESSAUDIT_DATABASE_URL", &db.url)
        .args(["runs", "export", "999", "--format", "oscal"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("no run 999"),
        "{}",
        text(&o.stderr)
    );
}

on_both_backends!(oscal_export_is_valid_and_stable);

/// An OSCAL export written with a signing key configured carries a detached
/// Ed25519 signature beside it, checked offline like a report; a changed
/// byte or another key is refused, and an export written without a key
/// leaves no signature of an earlier one behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oscal_exports_are_signed_and_verified_offline() {
    let db = common::sqlite().await;
    let run = one_run(&db, &["idle-accounts"]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for key in ["signing.pem", "wrong.pem"] {
        let o = run_bin(d, &["keys", "generate", key]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    std::fs::write(
        d.join("signed.yaml"),
        "report:\n  signing_key_file: signing.pem\n",
    )
    .unwrap();
    std::fs::write(d.join("unsigned.yaml"), "{}\n").unwrap();
    let export = |config: &str| {
        common::accessaudit()
            .current_dir(d)
            .env("ACCESSAUDIT_DATABASE_URL", &db.url)
            .args(["--config", config, "runs", "export", &run.to_string()])
            .args(["--format", "oscal", "--out", "run.json"])
            .output()
            .unwrap()
    };
    let verify = |key: &str| {
        common::accessaudit()
            .current_dir(d)
            .env(
                "ACCESSAUDIT_DATABASE_URL",
                "sqlite:///nonexistent/accessaudit.db",
            )
            .args(["verify", "run.json", "--public-key", key])
            .output()
            .unwrap()
    };
    let o = export("signed.yaml");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("signed by SHA256:"),
        "{}",
        text(&o.stderr)
    );
    let signature = std::fs::read(d.join("run.json.sig")).unwrap();
    assert_eq!(signature.len(), 64);

    let o = verify("signing.pem.pub");
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stdout).starts_with(&format!("ok      run.json (accessaudit: run {run} of job")),
        "{}",
        text(&o.stdout)
    );
    // Another key.
    let o = verify("wrong.pem.pub");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).starts_with("FAILED  run.json"),
        "{}",
        text(&o.stdout)
    );
    // One byte changed.
    let original = std::fs::read(d.join("run.json")).unwrap();
    let mut changed = original.clone();
    let at = changed.iter().position(|&b| b == b'1').unwrap();
    changed[at] = b'2';
    std::fs::write(d.join("run.json"), &changed).unwrap();
    let o = verify("signing.pem.pub");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("was changed after it was signed"),
        "{}",
        text(&o.stdout)
    );
    // Written again with no key: the earlier signature goes, and the
    // export is plainly unsigned.
    let o = export("unsigned.yaml");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("unsigned"), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(d.join("run.json")).unwrap(), original);
    assert!(!d.join("run.json.sig").exists());
    let o = verify("signing.pem.pub");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot read the signature"),
        "{}",
        text(&o.stderr)
    );
}
