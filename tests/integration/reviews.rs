//! Access reviews end to end through the CLI, on SQLite and PostgreSQL: a
//! campaign opened as of T with its reviewers and context, decisions from
//! the command line and a spreadsheet (idempotent, justification enforced,
//! all or nothing), delegation, the close with its policy, evidence and
//! revocations, and `review-revocation-pending` until an import shows the
//! revocation. Then the reviewer's page over HTTP: the link as credential,
//! CSRF, escaping, a double submit recorded once.

use std::io::{Read, Write};
use std::path::Path;

use serde_json::Value;

use mail_parser::MimeHeaders;

use super::common;
use crate::common::{TestDb, accessaudit};

/// T of the population.
pub(crate) const T: &str = "2026-11-01T00:00:00Z";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// The organisation: Mia manages Ann and Bob; Cal (CEO) is his own manager
/// in HR (a reviewer of his own access: the fallback takes it); a service
/// account has no person; Ann's name is hostile.
pub(crate) fn load(dir: &Path, url: &str) {
    write(
        dir,
        "people.csv",
        "id,email,full_name,department,title,manager_id,employment_status\n\
         cal,cal@x.org,Cal Chief,Management,CEO,cal,active\n\
         mia,mia@x.org,Mia Manager,Sales,Sales Director,cal,active\n\
         ann,ann@x.org,\"Ann <script>alert(1)</script>\",Sales,Account Executive,mia,active\n\
         bob,bob@x.org,Bob Builder,Sales,Account Executive,mia,active\n",
    );
    write(
        dir,
        "principals.csv",
        "id,login,email,person_id,status,account_type,created_at,last_login_at\n\
         p-cal,cal,cal@x.org,cal,active,human,2024-01-01,2026-10-30\n\
         p-mia,mia,mia@x.org,mia,active,human,2024-01-01,2026-10-30\n\
         p-ann,ann,ann@x.org,ann,active,human,2024-01-01,2026-10-30\n\
         p-bob,bob,bob@x.org,bob,active,human,2024-01-01,2026-10-30\n\
         p-svc,etl-bot,,,active,service,2024-01-01,\n",
    );
    write(
        dir,
        "roles.csv",
        "id,name,description,data_scope,privileged,owner_id\n\
         r-admin,CRM administrator,everything,all,true,cal\n\
         r-sales,Sales,own customers,self,false,mia\n",
    );
    write(
        dir,
        "role_permissions.csv",
        "role_id,permission\nr-admin,user.grant\nr-admin,customer.export\nr-sales,customer.view\n",
    );
    write(
        dir,
        "grants.csv",
        "id,principal_id,role_id,granted_at,granted_by,approved_by\n\
         g-cal-admin,p-cal,r-admin,2025-01-01,it,cal\n\
         g-ann-admin,p-ann,r-admin,2025-01-01,it,mia\n\
         g-ann-sales,p-ann,r-sales,2025-01-01,it,mia\n\
         g-bob-sales,p-bob,r-sales,2025-01-01,it,mia\n\
         g-svc-admin,p-svc,r-admin,2025-01-01,it,cal\n\
         g-old,p-bob,r-admin,2024-01-01,it,mia\n",
    );
    write(
        dir,
        "events.csv",
        "id,occurred_at,principal_id,action,outcome\n\
         e1,2026-10-20T10:00:00Z,p-ann,export,success\n\
         e2,2026-10-30T10:00:00Z,p-ann,login,success\n",
    );
    // g-old was revoked before T: not in the population.
    for table in [
        "people",
        "principals",
        "roles",
        "role_permissions",
        "grants",
        "events",
    ] {
        let out = accessaudit()
            .args(["--database", url, "import", table])
            .arg(dir.join(format!("{table}.csv")))
            .output()
            .expect("import");
        assert!(
            out.status.success(),
            "import {table}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = accessaudit()
        .args(["--database", url, "import", "grants"])
        .arg(write(
            dir,
            "revoked.csv",
            "id,principal_id,role_id,granted_at,revoked_at\ng-old,p-bob,r-admin,2024-01-01,2025-06-01\n",
        ))
        .output()
        .expect("import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn config(dir: &Path, url: &str, port: u16) -> std::path::PathBuf {
    write(
        dir,
        "accessaudit.yaml",
        &format!(
            "database: \"{url}\"\nmail:\n  from: \"accessaudit <audit@x.org>\"\n  transport:\n    kind: file\n    dir: \"{}\"\n\
             recipients:\n  compliance: [dpo@x.org]\n  it: [it@x.org]\n\
             jobs:\n  monthly:\n    recipients: [compliance]\n\
             review_page:\n  listen: 127.0.0.1:{port}\n  public_url: http://127.0.0.1:{port}\n\
             reviews:\n  quarterly:\n    reviewer: manager\n    fallback: compliance\n    justification: sensitive\n\
             \x20   at_deadline: revoke\n    remediation_sla: 1d\n    recipients: [compliance]\n    revocations_to: [it]\n",
            dir.join("outbox").display()
        ),
    )
}

/// A scratch deployment: the organisation loaded into `db`, the config
/// written with `edits` (from → to) applied to its campaign.
fn deployment(db: &TestDb, edits: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    load(dir.path(), &db.url);
    let config = config(dir.path(), &db.url, crate::common::daemon::free_port());
    let mut text = std::fs::read_to_string(&config).expect("config");
    for (from, to) in edits {
        assert!(text.contains(from), "`{from}` is not in the config");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&config, text).expect("config");
    (dir, config)
}

/// Opens the campaign as of T; its id.
fn open_campaign(config: &Path) -> String {
    ok(&cli(
        config,
        &["reviews", "open", "quarterly", "--as-of", T],
    ))
    .trim()
    .to_string()
}

pub(crate) fn cli(config: &Path, args: &[&str]) -> std::process::Output {
    accessaudit()
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run accessaudit")
}

pub(crate) fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn items(config: &Path, id: &str) -> Vec<Value> {
    let show: Value = serde_json::from_str(&ok(&cli(
        config,
        &["reviews", "show", id, "--format", "json"],
    )))
    .expect("show --format json");
    show["items"].as_array().expect("items").clone()
}

pub(crate) fn item<'a>(items: &'a [Value], grant: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["grant_id"] == grant)
        .unwrap_or_else(|| panic!("no item for {grant}: {items:?}"))
}

pub(crate) async fn count(db: &TestDb, sql: &str) -> i64 {
    db.store.count(sql, &[]).await.expect("count")
}

async fn a_whole_campaign(db: TestDb) {
    let (dir, config) = deployment(&db, &[]);
    // The latest monthly run's findings are shown beside each item.
    let out = cli(
        &config,
        &["run", "--job", "monthly", "--as-of", T, "--allow-skipped"],
    );
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let id = open_campaign(&config);
    let all = items(&config, &id);
    let grants: Vec<&str> = all
        .iter()
        .map(|i| i["grant_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        all.len(),
        5,
        "one item per grant live at T (not g-old): {grants:?}"
    );
    // Reviewers: the manager; the fallback for the service account (no
    // person) and for the CEO, who is his own manager.
    assert_eq!(item(&all, "g-ann-admin")["reviewer"], "person:mia");
    assert_eq!(item(&all, "g-bob-sales")["reviewer"], "person:mia");
    assert_eq!(item(&all, "g-svc-admin")["reviewer"], "group:compliance");
    assert_eq!(item(&all, "g-svc-admin")["assigned_because"], "fallback");
    assert_eq!(item(&all, "g-cal-admin")["reviewer"], "group:compliance");
    assert_eq!(item(&all, "g-cal-admin")["assigned_because"], "self");
    // The context a reviewer decides on.
    let ann = &item(&all, "g-ann-admin")["context"];
    assert_eq!(ann["login"], "ann");
    assert_eq!(ann["role_name"], "CRM administrator");
    assert_eq!(ann["department"], "Sales");
    assert_eq!(ann["manager"], "Mia Manager");
    assert_eq!(
        ann["last_used_at"], "2026-10-20T10:00:00Z",
        "the export is the last use of the admin role"
    );
    assert_eq!(ann["last_login_at"], "2026-10-30T00:00:00Z");
    assert_eq!(ann["peers"]["holding"], 1, "{ann}");
    assert_eq!(ann["peers"]["of"], 2, "{ann}");
    assert_eq!(ann["granted_by"], "it");
    let rules: Vec<&str> = ann["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(
        rules.contains(&"over-privileged"),
        "the monthly run's findings on Ann: {rules:?}"
    );
    assert_eq!(item(&all, "g-ann-sales")["sensitive"], false);

    // Deciding: only the reviewer, a justification for sensitive access,
    // the same decision twice recorded once, a changed mind superseding.
    let ann_admin = item(&all, "g-ann-admin")["id"].to_string();
    let ann_sales = item(&all, "g-ann-sales")["id"].to_string();
    let bob_sales = item(&all, "g-bob-sales")["id"].to_string();
    let e = failed(&cli(
        &config,
        &[
            "reviews",
            "decide",
            &id,
            &ann_admin,
            "--decision",
            "keep",
            "--by",
            "bob@x.org",
            "--justification",
            "x",
        ],
    ));
    assert!(e.contains("reviewed by"), "{e}");
    let e = failed(&cli(
        &config,
        &[
            "reviews",
            "decide",
            &id,
            &ann_admin,
            "--decision",
            "revoke",
            "--by",
            "mia@x.org",
        ],
    ));
    assert!(e.contains("needs a justification"), "{e}");
    for _ in 0..2 {
        ok(&cli(
            &config,
            &[
                "reviews",
                "decide",
                &id,
                &ann_admin,
                "--decision",
                "keep",
                "--by",
                "mia@x.org",
                "--justification",
                "runs the CRM",
            ],
        ));
    }
    ok(&cli(
        &config,
        &[
            "reviews",
            "decide",
            &id,
            &ann_admin,
            "--decision",
            "revoke",
            "--by",
            "mia",
            "--justification",
            "moved to sales only",
        ],
    ));
    let decisions = count(&db, "SELECT COUNT(*) AS n FROM review_decisions").await;
    assert_eq!(
        decisions, 2,
        "a double submit is one decision, a changed mind a second"
    );

    // A spreadsheet: all or nothing, errors by line and column.
    let bad = write(
        dir.path(),
        "bad.csv",
        &format!(
            "item_id,decision,justification,reviewer\n{ann_sales},keep,,mia@x.org\n{bob_sales},maybe,,mia@x.org\n"
        ),
    );
    let e = failed(&cli(
        &config,
        &[
            "reviews",
            "import-decisions",
            &id,
            bad.to_str().unwrap_or_default(),
        ],
    ));
    assert!(
        e.contains("bad.csv:3:2"),
        "file, line and column of the bad value: {e}"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM review_decisions").await,
        2,
        "nothing of a bad file is recorded"
    );
    // The export, filled in, read back.
    let export = ok(&cli(
        &config,
        &["reviews", "export", &id, "--format", "csv"],
    ));
    assert!(export.starts_with("item_id,"), "{export}");
    let mut filled = String::new();
    for (n, line) in export.lines().enumerate() {
        let mut cells: Vec<String> = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes())
            .records()
            .next()
            .and_then(|r| r.ok())
            .map(|r| r.iter().map(str::to_string).collect())
            .unwrap_or_default();
        if n > 0 && cells[0] == bob_sales {
            cells[14] = "keep".into();
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&cells).expect("csv");
        filled.push_str(&String::from_utf8(w.into_inner().expect("csv")).expect("utf-8"));
    }
    let good = write(dir.path(), "good.csv", &filled);
    let out = ok(&cli(
        &config,
        &[
            "reviews",
            "import-decisions",
            &id,
            good.to_str().unwrap_or_default(),
        ],
    ));
    let _ = out;
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM review_decisions").await,
        3
    );

    // Delegation: recorded, and the delegate may decide; nobody gets their
    // own access.
    let e = failed(&cli(
        &config,
        &[
            "reviews",
            "delegate",
            &id,
            &ann_sales,
            "--by",
            "mia@x.org",
            "--to",
            "ann@x.org",
        ],
    ));
    assert!(e.contains("own access"), "{e}");
    ok(&cli(
        &config,
        &[
            "reviews",
            "delegate",
            &id,
            &ann_sales,
            "--by",
            "mia@x.org",
            "--to",
            "bob@x.org",
        ],
    ));
    let all = items(&config, &id);
    assert_eq!(item(&all, "g-ann-sales")["reviewer"], "person:bob");
    assert_eq!(item(&all, "g-ann-sales")["assigned_because"], "delegated");

    // The close: undecided items revoked by policy, revocations to IT,
    // the evidence archived and verifiable.
    let out = cli(
        &config,
        &[
            "reviews",
            "close",
            &id,
            "--out",
            dir.path().join("evidence").to_str().unwrap_or_default(),
        ],
    );
    let e = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(&out);
    assert!(e.contains("3 decided by policy"), "{e}");
    let all = items(&config, &id);
    let policy: Vec<&str> = all
        .iter()
        .filter(|i| i["decision"]["source"] == "policy")
        .map(|i| i["grant_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(policy.len(), 3, "{policy:?}");
    ok(&cli(&config, &["reviews", "verify", &id]));
    let eml_path = dir
        .path()
        .join("evidence")
        .join(format!("review-{id}-evidence.eml"));
    let eml = std::fs::read_to_string(&eml_path).expect("evidence .eml");
    ok(&cli(
        &config,
        &[
            "reviews",
            "verify",
            &id,
            "--file",
            eml_path.to_str().unwrap_or_default(),
        ],
    ));
    let message = mail_parser::MessageParser::default()
        .parse(eml.as_bytes())
        .expect("a message");
    let html = message.body_html(0).expect("an HTML part").into_owned();
    assert!(
        html.contains("moved to sales only"),
        "the justification is in the evidence"
    );
    assert!(
        !html.contains("<script>alert(1)</script>"),
        "names are escaped"
    );
    let csv_part = message
        .attachments()
        .find(|a| {
            a.attachment_name()
                .is_some_and(|n| n.ends_with("-items.csv"))
        })
        .expect("the items CSV");
    let csv_text = String::from_utf8_lossy(csv_part.contents()).into_owned();
    assert_eq!(
        csv_text.lines().count(),
        6,
        "every item is accounted for: {csv_text}"
    );
    let e = failed(&cli(
        &config,
        &[
            "reviews",
            "decide",
            &id,
            &bob_sales,
            "--decision",
            "revoke",
            "--by",
            "mia@x.org",
            "--justification",
            "late",
        ],
    ));
    assert!(e.contains("closed"), "{e}");
    // Outbox: the evidence to compliance, the revocations to IT.
    let subjects = db
        .store
        .fetch_all("SELECT subject FROM outbox ORDER BY id", &[])
        .await
        .expect("outbox");
    let subjects: Vec<String> = subjects
        .iter()
        .filter_map(|r| r.text("subject").ok().flatten())
        .collect();
    assert!(
        subjects.iter().any(|s| s.starts_with("Revoke 4 accesses")),
        "{subjects:?}"
    );

    // Proof: a revocation still live a day after the close is a finding...
    let later = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let run = |as_of: &str| -> Vec<String> {
        let out = cli(
            &config,
            &[
                "run",
                "--rule",
                "review-revocation-pending",
                "--as-of",
                as_of,
                "--format",
                "json",
                "--no-record",
            ],
        );
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let mut found: Vec<String> = v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["subject_id"].as_str().unwrap_or("").to_string())
            .collect();
        found.sort();
        found
    };
    assert_eq!(
        run(&later),
        ["g-ann-admin", "g-ann-sales", "g-cal-admin", "g-svc-admin"]
    );
    assert!(
        run(&chrono::Utc::now().to_rfc3339()).is_empty(),
        "not before the SLA has passed"
    );
    let show = ok(&cli(&config, &["reviews", "show", &id]));
    assert!(show.contains("pending"), "{show}");
    // ...until an import shows it revoked (or the account disabled).
    let revoked = write(
        dir.path(),
        "revoke.csv",
        &format!(
            "id,principal_id,role_id,granted_at,revoked_at\ng-ann-admin,p-ann,r-admin,2025-01-01,{}\n",
            chrono::Utc::now().to_rfc3339()
        ),
    );
    ok(&accessaudit()
        .args(["--database", &db.url, "import", "grants"])
        .arg(&revoked)
        .output()
        .expect("import"));
    assert_eq!(run(&later), ["g-ann-sales", "g-cal-admin", "g-svc-admin"]);
    let list: Value =
        serde_json::from_str(&ok(&cli(&config, &["reviews", "list", "--format", "json"])))
            .expect("json");
    assert_eq!(list[0]["revocations"]["done"], 1, "{list}");
    assert_eq!(list[0]["revocations"]["pending"], 3, "{list}");

    // Every record of the campaign is in the ledger, and a changed or
    // removed one is named.
    let verify = ok(&cli(&config, &["runs", "verify", "--chain"]));
    assert!(verify.contains("chain intact"), "{verify}");
    for kind in [
        "review-campaign",
        "review-assignment",
        "review-decision",
        "review-revocation",
        "review-report",
    ] {
        let n = count(
            &db,
            &format!("SELECT COUNT(*) AS n FROM ledger WHERE kind = '{kind}'"),
        )
        .await;
        assert!(n > 0, "no {kind} entry");
    }
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) AS n FROM ledger WHERE kind = 'review-decision'"
        )
        .await,
        count(&db, "SELECT COUNT(*) AS n FROM review_decisions").await
    );
    let decision = count(&db, "SELECT MIN(id) AS n FROM review_decisions").await;
    db.store
        .execute(
            "UPDATE review_decisions SET decision = 'keep', justification = 'nothing to see' WHERE id = $1",
            &[accessaudit::store::SqlValue::int(decision)],
        )
        .await
        .expect("tamper");
    let out = cli(&config, &["runs", "verify", "--chain"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.contains(&format!("review-decision {decision}"))),
        "{text}"
    );
    let item = count(&db, "SELECT MAX(id) AS n FROM review_items").await;
    db.store
        .execute(
            "UPDATE review_items SET context = '{}' WHERE id = $1",
            &[accessaudit::store::SqlValue::int(item)],
        )
        .await
        .expect("tamper");
    let text =
        String::from_utf8_lossy(&cli(&config, &["runs", "verify", "--chain"]).stdout).into_owned();
    assert!(text.contains("review-campaign"), "{text}");
}

/// One HTTP/1.1 request on loopback; returns (status, headers, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn the_reviewer_page(db: TestDb) {
    let dir = tempfile::tempdir().expect("temp dir");
    load(dir.path(), &db.url);
    let port = crate::common::daemon::free_port();
    let config = config(dir.path(), &db.url, port);
    let id = open_campaign(&config);
    let mut server = accessaudit()
        .arg("--config")
        .arg(&config)
        .args([
            "reviews",
            "page",
            &id,
            "--reviewer",
            "mia@x.org",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("reviews page");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("the link");
    let path = line
        .trim()
        .trim_start_matches(&format!("http://127.0.0.1:{port}"))
        .to_string();
    assert!(
        path.starts_with("/review/") && path.len() == "/review/".len() + 43,
        "{line}"
    );
    let token = path.trim_start_matches("/review/").to_string();
    // The link is stored only as its hash.
    let links = db
        .store
        .fetch_all("SELECT token_sha256 FROM review_links", &[])
        .await
        .expect("links");
    let stored: Vec<String> = links
        .iter()
        .filter_map(|r| r.text("token_sha256").ok().flatten())
        .collect();
    assert!(!stored.is_empty() && !stored.contains(&token), "{stored:?}");

    let (status, head, page) = http(port, "GET", &path, None, "");
    assert_eq!(status, 200, "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(lower.contains("x-frame-options: deny"), "{head}");
    assert!(lower.contains("referrer-policy: no-referrer"), "{head}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .expect("the CSRF cookie")
        .to_string();
    let csrf = cookie
        .split_once('=')
        .map(|(_, v)| v.to_string())
        .expect("cookie value");
    assert!(page.contains(&format!("name=\"csrf\" value=\"{csrf}\"")));
    // Mia's items only; the hostile name shown as text.
    assert!(
        page.contains("Ann &lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped"
    );
    assert!(!page.contains("<script>"), "no script at all");
    assert!(!page.contains("etl-bot"), "another reviewer's item");
    let all = items(&config, &id);
    let ann_admin = item(&all, "g-ann-admin")["id"].to_string();
    let bob_sales = item(&all, "g-bob-sales")["id"].to_string();

    // A forged token, a missing CSRF token: refused, nothing recorded.
    let (status, _, _) = http(
        port,
        "GET",
        &format!("/review/{}", "A".repeat(43)),
        None,
        "",
    );
    assert_eq!(status, 404);
    let form = format!("d-{bob_sales}=keep&action=save");
    let (status, _, _) = http(port, "POST", &path, Some(&cookie), &form);
    assert_eq!(status, 403, "no CSRF token");
    let (status, _, _) = http(port, "POST", &path, None, &format!("csrf={csrf}&{form}"));
    assert_eq!(
        status, 403,
        "a CSRF token without its cookie (another site's form)"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM review_decisions").await,
        0
    );

    // Justification required for sensitive access: refused with the
    // reason, nothing saved; then saved; a double submit recorded once.
    let (status, _, body) = http(
        port,
        "POST",
        &path,
        Some(&cookie),
        &format!("csrf={csrf}&d-{ann_admin}=keep&d-{bob_sales}=keep&action=save"),
    );
    assert_eq!(status, 422);
    assert!(body.contains("needs a justification"), "{body}");
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM review_decisions").await,
        0,
        "all or nothing"
    );
    let just = enc("runs the <b>CRM</b>");
    let form = format!(
        "csrf={csrf}&d-{ann_admin}=keep&j-{ann_admin}={just}&d-{bob_sales}=keep&action=save"
    );
    for _ in 0..2 {
        let (status, _, body) = http(port, "POST", &path, Some(&cookie), &form);
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM review_decisions").await,
        2,
        "a double submit records one decision each"
    );
    let (_, _, page) = http(port, "GET", &path, Some(&cookie), "");
    assert!(
        page.contains("value=\"runs the &lt;b&gt;CRM&lt;/b&gt;\""),
        "justification shown as text"
    );
    // Bulk revoke of a selection with one justification.
    let ann_sales = item(&all, "g-ann-sales")["id"].to_string();
    let (status, _, _) = http(
        port,
        "POST",
        &path,
        Some(&cookie),
        &format!(
            "csrf={csrf}&sel={ann_sales}&sel={bob_sales}&bulk_justification=left&action=revoke_selected"
        ),
    );
    assert_eq!(status, 200);
    let all = items(&config, &id);
    assert_eq!(item(&all, "g-bob-sales")["decision"]["decision"], "revoke");
    assert_eq!(item(&all, "g-ann-sales")["decision"]["decision"], "revoke");
    assert_eq!(item(&all, "g-bob-sales")["decision"]["source"], "page");
    // Delegation from the page.
    let (status, _, _) = http(
        port,
        "POST",
        &path,
        Some(&cookie),
        &format!("csrf={csrf}&sel={ann_sales}&delegate_to=cal%40x.org&action=delegate"),
    );
    assert_eq!(status, 200);
    assert_eq!(
        item(&items(&config, &id), "g-ann-sales")["reviewer"],
        "person:cal"
    );
    // A revoked link opens nothing.
    ok(&cli(
        &config,
        &["reviews", "revoke-links", &id, "--reviewer", "mia@x.org"],
    ));
    let (status, _, body) = http(port, "GET", &path, None, "");
    assert_eq!(status, 404);
    assert!(body.contains("This review link is not valid"), "{body}");
    // Once the campaign has closed, its links (revoked by the close) say so.
    ok(&cli(&config, &["reviews", "close", &id]));
    let (status, _, body) = http(port, "GET", &path, None, "");
    assert_eq!(status, 410);
    assert!(body.contains("This review has closed"), "{body}");
    assert!(!body.contains("<form"), "{body}");
    let _ = server.kill();
    let _ = server.wait();
}

on_both_backends!(a_whole_campaign, the_reviewer_page);

/// The daemon keeps a campaign: opened on its schedule once whatever the
/// number of daemons, each reviewer invited once with a link minted as the
/// message is sent (in the mail, never in the database), a decision made
/// on the page survives a daemon killed, a reminder before the deadline,
/// and the close at the deadline with its evidence, once.
async fn a_campaign_kept_by_two_daemons(db: TestDb) {
    use crate::common::daemon::{Daemon, eml_files, once_at, soon, wait_until};
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("temp dir");
    load(dir.path(), &db.url);
    let port = crate::common::daemon::free_port();
    let config = config(dir.path(), &db.url, port);
    let opening = soon(3);
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replace(
        "    reviewer: manager\n",
        &format!(
            "    reviewer: manager\n    schedule: \"{}\"\n    duration: 14s\n    reminders: [7s]\n",
            once_at(opening)
        ),
    ) + "daemon:\n  catch_up: 1m\n";
    std::fs::write(&config, text).expect("config");
    let a = Daemon::start(&config, &dir.path().join("a.log"));
    // The second daemon shares the database and the public address of the
    // pages (behind one proxy); it listens on a port of its own.
    let second = dir.path().join("second.yaml");
    let text = std::fs::read_to_string(&config).expect("config");
    let other = crate::common::daemon::free_port();
    std::fs::write(
        &second,
        text.replace(
            &format!("listen: 127.0.0.1:{port}"),
            &format!("listen: 127.0.0.1:{other}"),
        ),
    )
    .expect("config");
    let b = Daemon::start(&second, &dir.path().join("b.log"));
    let outbox = dir.path().join("outbox");
    let invitation = |f: &std::path::PathBuf| {
        std::fs::read_to_string(f).is_ok_and(|t| t.contains("You have access to review"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while eml_files(&outbox).iter().filter(|f| invitation(f)).count() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for the invitations\nA: {}\nB: {}",
            a.log(),
            b.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM review_campaigns").await,
        1,
        "one campaign per slot"
    );
    let invitations: Vec<String> = eml_files(&outbox)
        .iter()
        .filter(|f| invitation(f))
        .map(|f| std::fs::read_to_string(f).expect("eml"))
        .collect();
    // Reviewers: mia, and compliance (the fallback); cal reviews nothing.
    assert_eq!(invitations.len(), 2, "one invitation per reviewer");
    let mia = invitations
        .iter()
        .find(|t| t.contains("mia@x.org"))
        .expect("Mia's invitation");
    let message = mail_parser::MessageParser::default()
        .parse(mia.as_bytes())
        .expect("mail");
    let body = message.body_text(0).expect("text").into_owned();
    let link = body
        .split_whitespace()
        .find(|w| w.starts_with(&format!("http://127.0.0.1:{port}/review/")))
        .unwrap_or_else(|| panic!("a link in {body}"))
        .to_string();
    let token = link.rsplit('/').next().unwrap_or_default().to_string();
    let stored = db
        .store
        .fetch_all("SELECT body FROM outbox", &[])
        .await
        .expect("outbox");
    assert!(
        stored.iter().all(|r| !r
            .text("body")
            .ok()
            .flatten()
            .unwrap_or_default()
            .contains(&token)),
        "the link is not in the outbox"
    );
    // Decide on the page of daemon A, then kill it: nothing is lost.
    let path = link
        .trim_start_matches(&format!("http://127.0.0.1:{port}"))
        .to_string();
    let (status, head, _) = http(port, "GET", &path, None, "");
    assert_eq!(status, 200, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_string();
    let csrf = cookie
        .split_once('=')
        .map(|(_, v)| v.to_string())
        .expect("csrf");
    let all = items(&config, "1");
    let bob = item(&all, "g-bob-sales")["id"].to_string();
    let (status, _, _) = http(
        port,
        "POST",
        &path,
        Some(&cookie),
        &format!("csrf={csrf}&d-{bob}=keep&action=save"),
    );
    assert_eq!(status, 200);
    a.kill9();
    wait_until("the reminder", Duration::from_secs(30), || {
        eml_files(&outbox).iter().any(|f| {
            std::fs::read_to_string(f).is_ok_and(|t| t.contains("Reminder: access reviews"))
        })
    });
    wait_until("the close", Duration::from_secs(40), || {
        eml_files(&outbox)
            .iter()
            .any(|f| std::fs::read_to_string(f).is_ok_and(|t| t.contains("Access review evidence")))
    });
    let all = items(&config, "1");
    assert_eq!(
        item(&all, "g-bob-sales")["decision"]["decision"],
        "keep",
        "the page's decision survived"
    );
    assert_eq!(item(&all, "g-bob-sales")["decision"]["source"], "page");
    assert_eq!(item(&all, "g-ann-sales")["decision"]["source"], "policy");
    let evidence = eml_files(&outbox)
        .iter()
        .filter(|f| std::fs::read_to_string(f).is_ok_and(|t| t.contains("Access review evidence")))
        .count();
    assert_eq!(evidence, 1, "closed once");
    let reminders = count(
        &db,
        "SELECT COUNT(*) AS n FROM review_notices WHERE kind LIKE 'remind%' AND reviewer <> '*'",
    )
    .await;
    assert_eq!(
        reminders, 2,
        "each reviewer with undecided items reminded once"
    );
    b.stop();
}

on_both_backends!(a_campaign_kept_by_two_daemons);

/// Delta re-certification: an item a reviewer kept in the previous campaign
/// of the same definition, whose facts did not change, is certified by
/// policy (`unchanged: skip`); one whose facts changed is asked again, with
/// the previous decision shown.
async fn unchanged_access_kept_last_time_is_certified(db: TestDb) {
    let (dir, config) = deployment(
        &db,
        &[(
            "at_deadline: revoke",
            "at_deadline: none\n    unchanged: skip",
        )],
    );
    let first = open_campaign(&config);
    let all = items(&config, &first);
    let ann_admin = item(&all, "g-ann-admin")["id"].to_string();
    let bob_sales = item(&all, "g-bob-sales")["id"].to_string();
    ok(&cli(
        &config,
        &[
            "reviews",
            "decide",
            &first,
            &ann_admin,
            &bob_sales,
            "--decision",
            "keep",
            "--by",
            "mia@x.org",
            "--justification",
            "needed",
        ],
    ));
    ok(&cli(&config, &["reviews", "close", &first]));
    // Bob changes title: his access is asked again.
    let people = write(
        dir.path(),
        "bob.csv",
        "id,email,full_name,department,title,manager_id,employment_status\nbob,bob@x.org,Bob Builder,Sales,Sales Manager,mia,active\n",
    );
    ok(&accessaudit()
        .args(["--database", &db.url, "import", "people"])
        .arg(&people)
        .output()
        .expect("import"));
    let second = open_campaign(&config);
    let all = items(&config, &second);
    let ann = item(&all, "g-ann-admin");
    assert_eq!(ann["decision"]["source"], "delta", "{ann}");
    assert_eq!(ann["decision"]["decision"], "keep");
    assert_eq!(ann["context"]["unchanged_since_keep"], true);
    let bob = item(&all, "g-bob-sales");
    assert!(
        bob["decision"].is_null(),
        "changed facts are asked again: {bob}"
    );
    assert_eq!(bob["context"]["previous"]["decision"], "keep");
    assert_eq!(bob["context"]["previous"]["unchanged"], false);
    // Kept by policy last time certifies nothing.
    assert!(item(&all, "g-svc-admin")["decision"].is_null());
}

on_both_backends!(unchanged_access_kept_last_time_is_certified);

/// Escalation: undecided items move once to the reviewer's manager (a
/// group's items to the fallback they already are with), recorded as
/// escalated, and the new reviewer is told.
async fn undecided_items_escalate_once_to_the_managers(db: TestDb) {
    let (_dir, config) = deployment(
        &db,
        &[(
            "    reviewer: manager\n",
            "    reviewer: manager\n    escalation: {after: 1d, to: manager}\n",
        )],
    );
    let id = open_campaign(&config);
    let all = items(&config, &id);
    let bob_sales = item(&all, "g-bob-sales")["id"].to_string();
    ok(&cli(
        &config,
        &[
            "reviews",
            "decide",
            &id,
            &bob_sales,
            "--decision",
            "keep",
            "--by",
            "mia@x.org",
        ],
    ));
    let out = cli(&config, &["reviews", "escalate", &id]);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2 item(s) escalated"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = items(&config, &id);
    assert_eq!(item(&all, "g-ann-admin")["reviewer"], "person:cal");
    assert_eq!(item(&all, "g-ann-admin")["assigned_because"], "escalated");
    assert_eq!(
        item(&all, "g-bob-sales")["reviewer"],
        "person:mia",
        "decided items stay"
    );
    assert_eq!(item(&all, "g-svc-admin")["reviewer"], "group:compliance");
    let out = cli(&config, &["reviews", "escalate", &id]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0 item(s) escalated"),
        "once"
    );
    let told = count(&db, "SELECT COUNT(*) AS n FROM review_notices WHERE kind = 'escalation' AND reviewer = 'person:cal'").await;
    assert_eq!(told, 1);
}

on_both_backends!(undecided_items_escalate_once_to_the_managers);
