//! Routing a run's findings to the people who can fix them: one digest per
//! manager with only their people's findings, the rest to a fallback group,
//! and per recipient group a PII profile (pseudonymised, masked). The real
//! daemon, delivering into a folder; on SQLite and PostgreSQL.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};

use crate::common;
use crate::common::daemon::*;

/// Two managers (Ann: Alice and Carol; Bob: Dave), Erin without a manager
/// and `ghost`, an account of nobody: all idle. Besides `load_data`'s x1
/// (idle, nobody's) and v1 (active).
fn load_org(s: &Setup) {
    let now = chrono::Utc::now().to_rfc3339();
    std::fs::write(
        s.path("people.csv"),
        "id,email,full_name,manager_id,employment_status\n\
         p1,alice@corp.example,Alice Smith,m1,active\n\
         p2,carol@corp.example,Carol Jones,m1,active\n\
         p3,dave@corp.example,Dave Brown,m2,active\n\
         p4,erin@corp.example,Erin White,,active\n\
         m1,ann@corp.example,Ann Lead,,active\n\
         m2,bob@corp.example,Bob Boss,,active\n",
    )
    .expect("write");
    std::fs::write(
        s.path("accounts.csv"),
        format!(
            "id,login,email,display_name,person_id,status,created_at,last_login_at\n\
             a1,alice,alice@corp.example,Alice Smith,p1,active,2024-01-01,2024-02-01\n\
             a2,carol,carol@corp.example,Carol Jones,p2,active,2024-01-01,2024-02-01\n\
             a3,dave,dave@corp.example,Dave Brown,p3,active,2024-01-01,2024-02-01\n\
             a4,erin,erin@corp.example,Erin White,p4,active,2024-01-01,2024-02-01\n\
             a5,ghost,,,,active,2024-01-01,2024-02-01\n\
             am1,ann,ann@corp.example,Ann Lead,m1,active,2024-01-01,{now}\n\
             am2,bob,bob@corp.example,Bob Boss,m2,active,2024-01-01,{now}\n"
        ),
    )
    .expect("write");
    for (table, file) in [("people", "people.csv"), ("principals", "accounts.csv")] {
        let out = common::accessaudit()
            .args(["--database", &s.database, "import", table])
            .arg(s.path(file))
            .output()
            .expect("import");
        assert!(
            out.status.success(),
            "import {table}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

const KEY: &str = "the auditors' pseudonym key";

fn config(s: &Setup, schedule: &str) -> std::path::PathBuf {
    let text = format!(
        "database: \"{db}\"\ntimezone: UTC\nmail:\n  from: \"accessaudit <audit@example.com>\"\n  transport:\n    kind: file\n    dir: \"{out}\"\n\
         recipients:\n  compliance: [\"dpo@example.com\"]\n  works-council: [\"wc@example.com\"]\n  it: [\"it@example.com\"]\n\
         pii:\n  key_file: pii-key\n  groups:\n    works-council: pseudonymise\n    it: mask\n\
         jobs:\n  monthly:\n    schedule: \"{schedule}\"\n    rules: [idle-accounts]\n    recipients: [compliance, works-council]\n    subject: \"Access review\"\n    digests:\n      by: manager\n      fallback: [it]\n\
         daemon:\n  catch_up: 1h\n",
        db = s.database,
        out = s.path("outbox").display(),
    );
    let path = s.path("accessaudit.yaml");
    std::fs::write(&path, text).expect("write config");
    // The key is a systemd credential, not a file beside the config.
    std::fs::create_dir_all(s.path("creds")).expect("mkdir");
    std::fs::write(s.path("creds/pii-key"), format!("{KEY}\n")).expect("write key");
    path
}

/// A delivered message: its text parts and CSV, all in one string.
struct Delivered {
    subject: String,
    message_id: String,
    all: String,
    csv: String,
}

fn delivered(dir: &Path) -> BTreeMap<String, Delivered> {
    let mut out = BTreeMap::new();
    for file in eml_files(dir) {
        let bytes = std::fs::read(&file).expect("read");
        let m = MessageParser::default()
            .parse(&bytes)
            .expect("a MIME message");
        let to: Vec<String> = m
            .to()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.address())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(to.len(), 1, "one recipient each here: {to:?}");
        let csv = m
            .attachments()
            .find(|a| a.attachment_name().is_some_and(|n| n.ends_with(".csv")))
            .map(|a| String::from_utf8_lossy(a.contents()).to_string())
            .expect("the CSV");
        let all = format!(
            "{}\n{}\n{csv}",
            m.body_html(0).expect("html"),
            m.body_text(0).expect("text")
        );
        let d = Delivered {
            subject: m.subject().unwrap_or_default().to_string(),
            message_id: m.message_id().unwrap_or_default().to_string(),
            all,
            csv,
        };
        assert!(
            out.insert(to[0].clone(), d).is_none(),
            "at most one message per recipient per run"
        );
    }
    out
}

/// The subject ids in a message's CSV (its second column onwards is
/// whatever the report writes; ids are looked for as whole fields).
fn has_subject(d: &Delivered, id: &str) -> bool {
    d.csv
        .lines()
        .any(|l| l.split(',').any(|f| f.trim_matches('"') == id))
}

const LOGINS: [&str; 5] = ["alice", "carol", "dave", "erin", "ghost"];

fn shows_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')))
        .any(|w| w.trim_matches('.').eq_ignore_ascii_case(word))
}

/// The messages of one run of the job of `config`, by recipient: the report
/// in clear, the pseudonymised report, two managers' digests and the masked
/// fallback, each with what it may show and nothing else.
fn check_routed(got: &BTreeMap<String, Delivered>) {
    let to: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(
        to,
        [
            "ann@corp.example",
            "bob@corp.example",
            "dpo@example.com",
            "it@example.com",
            "wc@example.com"
        ]
    );

    // The report in clear has everyone.
    let full = &got["dpo@example.com"];
    for id in ["a1", "a2", "a3", "a4", "a5", "x1"] {
        assert!(has_subject(full, id), "{id} in the report:\n{}", full.csv);
    }
    assert!(shows_word(&full.all, "alice"), "the login in clear");

    // A manager's digest has their people's findings and nobody else's.
    let ann = &got["ann@corp.example"];
    assert!(
        has_subject(ann, "a1") && has_subject(ann, "a2"),
        "{}",
        ann.csv
    );
    for other in ["a3", "a4", "a5", "x1"] {
        assert!(
            !has_subject(ann, other),
            "{other} in Ann's digest:\n{}",
            ann.csv
        );
    }
    for login in ["dave", "erin", "ghost"] {
        assert!(!shows_word(&ann.all, login), "{login} in Ann's digest");
    }
    assert!(
        ann.subject.contains("your people's findings"),
        "{}",
        ann.subject
    );
    let bob = &got["bob@corp.example"];
    assert!(has_subject(bob, "a3"), "{}", bob.csv);
    for other in ["a1", "a2", "a4", "a5", "x1"] {
        assert!(
            !has_subject(bob, other),
            "{other} in Bob's digest:\n{}",
            bob.csv
        );
    }
    assert_ne!(ann.message_id, bob.message_id);

    // The fallback (masked) has the findings nobody owns, nothing in clear.
    let it = &got["it@example.com"];
    let rows = it
        .csv
        .lines()
        .filter(|l| l.contains("idle-accounts"))
        .count();
    assert_eq!(rows, 3, "a4, a5 and x1:\n{}", it.csv);
    assert!(it.all.contains("[masked]"));
    for word in
        LOGINS
            .iter()
            .copied()
            .chain(["erin@corp.example", "exporter@example.com", "Erin White"])
    {
        assert!(
            !it.all.contains(word),
            "`{word}` in clear in the masked digest"
        );
    }

    // The pseudonymised report: every finding, no login or email in clear.
    let wc = &got["wc@example.com"];
    let rows = wc
        .csv
        .lines()
        .filter(|l| l.contains("idle-accounts"))
        .count();
    assert_eq!(rows, 6, "{}", wc.csv);
    for word in LOGINS.iter().copied().chain([
        "alice@corp.example",
        "carol@corp.example",
        "dave@corp.example",
        "erin@corp.example",
        "exporter@example.com",
        "Alice Smith",
    ]) {
        assert!(
            !wc.all.contains(word),
            "`{word}` in clear in the pseudonymised report"
        );
    }
    assert!(!has_subject(wc, "a1"), "account ids are pseudonymised too");
}

fn digests_and_masks(s: &Setup) {
    load_org(s);
    let config = config(s, &once_at(soon(4)));
    let creds = s.path("creds");
    let daemon = Daemon::start_with_env(
        &config,
        &s.path("daemon.log"),
        &[("CREDENTIALS_DIRECTORY", creds.to_str().expect("utf-8"))],
    );
    // The report in clear, pseudonymised, two managers' digests, the fallback.
    wait_until("five messages", Duration::from_secs(60), || {
        eml_files(&s.path("outbox")).len() >= 5
    });
    assert!(daemon.stop().success());
    assert!(!daemon_log(s).contains(KEY), "the key is never logged");
    let got = delivered(&s.path("outbox"));
    check_routed(&got);
    let wc = &got["wc@example.com"];
    // An auditor with the key re-identifies a pseudonym.
    let tokens: std::collections::BTreeSet<&str> = wc
        .all
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("pii-") && w.len() == 24)
        .collect();
    assert!(
        tokens.len() >= 12,
        "a pseudonym per login and id: {tokens:?}"
    );
    let mut revealed = String::new();
    for t in &tokens {
        let out = common::accessaudit()
            .args([
                "--config",
                config.to_str().expect("utf-8"),
                "pii",
                "reveal",
                t,
            ])
            .env("CREDENTIALS_DIRECTORY", &creds)
            .output()
            .expect("pii reveal");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        revealed.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    for login in LOGINS {
        assert!(
            revealed.contains(&format!("login {login}")),
            "{login}:\n{revealed}"
        );
    }
    // Without the key, nothing is revealed.
    let out = common::accessaudit()
        .args(["--config", config.to_str().expect("utf-8"), "pii", "reveal"])
        .arg(tokens.iter().next().expect("a token"))
        .output()
        .expect("pii reveal");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PII pseudonym key"));
}

fn daemon_log(s: &Setup) -> String {
    std::fs::read_to_string(s.path("daemon.log")).unwrap_or_default()
}

#[test]
fn digests_per_manager_and_masked_groups_on_sqlite() {
    digests_and_masks(&Setup::sqlite());
}

#[test]
fn digests_per_manager_and_masked_groups_on_postgres() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (s, _db) = Setup::postgres(&rt);
    digests_and_masks(&s);
}

/// Digests per role owner: grants of Ann's role go to Ann, of Bob's role to
/// Bob, findings about a grant of a role without an owner (and about
/// accounts) to the fallback.
#[test]
fn digests_per_role_owner() {
    let s = Setup::sqlite();
    load_org(&s);
    std::fs::write(
        s.path("roles.csv"),
        "id,name,owner_id\nr-ann,Ann's role,m1\nr-bob,Bob's role,m2\nr-none,Nobody's role,\n",
    )
    .expect("write");
    std::fs::write(
        s.path("grants.csv"),
        "id,principal_id,role_id,granted_at,expires_at\n\
         g1,a1,r-ann,2025-01-01,2025-06-01\n\
         g2,a3,r-bob,2025-01-01,2025-06-01\n\
         g3,a4,r-none,2025-01-01,2025-06-01\n",
    )
    .expect("write");
    for table in ["roles", "grants"] {
        let out = common::accessaudit()
            .args(["--database", &s.database, "import", table])
            .arg(s.path(&format!("{table}.csv")))
            .output()
            .expect("import");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let config = config(&s, &once_at(soon(4)));
    edit(
        &config,
        "rules: [idle-accounts]",
        "rules: [expired-grant-still-live]",
    );
    edit(&config, "by: manager", "by: role_owner");
    edit(
        &config,
        "recipients: [compliance, works-council]",
        "recipients: [compliance]",
    );
    let creds = s.path("creds");
    let daemon = Daemon::start_with_env(
        &config,
        &s.path("daemon.log"),
        &[("CREDENTIALS_DIRECTORY", creds.to_str().expect("utf-8"))],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while eml_files(&s.path("outbox")).len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "four messages: {:?}\n{}",
            eml_files(&s.path("outbox")),
            daemon_log(&s)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(daemon.stop().success());
    let got = delivered(&s.path("outbox"));
    let to: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(
        to,
        [
            "ann@corp.example",
            "bob@corp.example",
            "dpo@example.com",
            "it@example.com"
        ]
    );
    let ann = &got["ann@corp.example"];
    assert!(
        has_subject(ann, "g1") && !has_subject(ann, "g2") && !has_subject(ann, "g3"),
        "{}",
        ann.csv
    );
    assert!(
        ann.subject.contains("findings on the roles you own"),
        "{}",
        ann.subject
    );
    let bob = &got["bob@corp.example"];
    assert!(
        has_subject(bob, "g2") && !has_subject(bob, "g1"),
        "{}",
        bob.csv
    );
    let it = &got["it@example.com"];
    assert!(
        has_subject(it, "g3") && !has_subject(it, "g1"),
        "{}",
        it.csv
    );
}

/// `accessaudit report --routed` writes the messages the daemon would queue
/// for the run (the same checks as the daemon's delivery above), each an
/// archived report of the run; without `--routed`, the report in clear only.
#[test]
fn report_routed_writes_the_digests_and_masked_copies() {
    let s = Setup::sqlite();
    load_org(&s);
    let config = config(&s, "0 0 1 1 *");
    let creds = s.path("creds");
    let cli = |args: &[&str]| {
        let out = common::accessaudit()
            .args(["--config", config.to_str().expect("utf-8")])
            .args(args)
            .env("CREDENTIALS_DIRECTORY", &creds)
            .output()
            .expect("accessaudit");
        assert!(
            out.status.success(),
            "accessaudit {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let run: serde_json::Value =
        serde_json::from_slice(&cli(&["run", "--job", "monthly", "--format", "json"]).stdout)
            .expect("JSON");
    let run_id = run["run_id"].as_i64().expect("run id").to_string();

    let plain = s.path("plain");
    cli(&[
        "report",
        "--run",
        &run_id,
        "--out",
        plain.to_str().expect("utf-8"),
    ]);
    assert_eq!(eml_files(&plain).len(), 1, "the report in clear only");

    let routed = s.path("routed");
    let out = cli(&[
        "report",
        "--run",
        &run_id,
        "--routed",
        "--out",
        routed.to_str().expect("utf-8"),
    ]);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    // Three files per message (.eml, .html, -findings.csv), all listed.
    assert_eq!(listed.lines().count(), 15, "{listed}");
    for path in listed.lines() {
        assert!(Path::new(path).is_file(), "{path} listed, not written");
    }
    let got = delivered(&routed);
    check_routed(&got);
    // Each is a report of the run as archived (`runs verify` finds it).
    for eml in eml_files(&routed) {
        let out = cli(&[
            "runs",
            "verify",
            &run_id,
            "--file",
            eml.to_str().expect("utf-8"),
        ]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.lines().last().is_some_and(|l| l.starts_with("ok")),
            "{}: {said}",
            eml.display()
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(KEY), "the key is never printed");
    assert!(
        stderr.contains("ann@corp.example"),
        "who gets each: {stderr}"
    );
}
