//! The directory source (`kind: ldap`) against a real OpenLDAP: Debian's
//! slapd, started and seeded by `.ci/slapd` (through `.ci/services`) on
//! 127.0.0.1 with StartTLS and LDAPS under a private CA. The shipped
//! OpenLDAP mapping syncs accounts (one locked by ppolicy), people with
//! their managers, groups and memberships through nested groups and a
//! cycle of groups; the shipped rules find the planted cases (an idle
//! account, a service account without a person). The TLS paths refuse an
//! unknown CA, a wrong password is refused without being printed, and
//! plain `ldap://` without StartTLS is refused at load.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use accessaudit::collect::mapping::{FeedStyle, Mapping};
use accessaudit::collect::sync::sync_source;
use accessaudit::config::Config;
use chrono::Utc;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start slapd with `eval \"$(bash .ci/services)\"`")
    })
}

fn shipped(mapping: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mappings")
        .join(mapping)
}

/// A config with one LDAP source `dir` over `url`; `extra` lines go into
/// the source (e.g. `starttls: true`).
fn write_config(dir: &Path, url: &str, password: &str, extra: &str) -> PathBuf {
    std::fs::write(dir.join("bind-password"), password).expect("password file");
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "sources:\n  dir:\n    kind: ldap\n    url: {url}\n    bind_dn: {bind}\n    base_dn: {base}\n    password_file: bind-password\n    mapping: {mapping}\n    page_size: 2\n    timeout: 20s\n{extra}",
            bind = env("ACCESSAUDIT_TEST_LDAP_BIND_DN"),
            base = env("ACCESSAUDIT_TEST_LDAP_BASE_DN"),
            mapping = shipped("openldap.yaml").display(),
        ),
    )
    .expect("config");
    path
}

fn ca_line() -> String {
    format!("    ca_file: {}\n", env("ACCESSAUDIT_TEST_LDAP_CA_FILE"))
}

/// StartTLS, paged by two entries, through the shipped mapping: every
/// canonical table as the seed has it, then the rules' findings.
async fn openldap_directory_syncs(db: common::TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_config(
        dir.path(),
        &env("ACCESSAUDIT_TEST_LDAP_URL"),
        &env("ACCESSAUDIT_TEST_LDAP_PASSWORD"),
        &format!("    starttls: true\n{}", ca_line()),
    );
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let now = Utc::now();
    let report = sync_source(&db.store, "dir", &config.sources["dir"], now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let read: Vec<(&str, u64)> = report
        .feeds
        .iter()
        .map(|f| (f.feed.as_str(), f.read))
        .collect();
    assert_eq!(
        read,
        [
            ("people", 5),
            ("accounts", 6),
            ("groups", 6),
            ("memberships", 15)
        ],
        "{report:?}"
    );

    let accounts = db
        .store
        .fetch_all(
            "SELECT id, login, status, email, person_id, department, created_at, last_login_at, password_changed_at FROM principals ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let ids: Vec<String> = accounts.iter().map(|r| r.req_text("id").unwrap()).collect();
    assert_eq!(
        ids,
        [
            "chen.jie",
            "li.na",
            "svc-backup",
            "wang.li",
            "zhang.wei",
            "zhao.min"
        ]
    );
    let account = |id: &str| {
        accounts
            .iter()
            .find(|r| r.req_text("id").unwrap() == id)
            .unwrap()
    };
    // Locked by ppolicy (pwdAccountLockedTime): disabled; the rest active.
    for r in &accounts {
        let id = r.req_text("id").unwrap();
        let want = if id == "li.na" { "disabled" } else { "active" };
        assert_eq!(r.req_text("status").unwrap(), want, "{id}");
    }
    let chen = account("chen.jie");
    assert_eq!(chen.req_text("email").unwrap(), "chen.jie@example.org");
    assert_eq!(chen.req_text("department").unwrap(), "Sales");
    assert_eq!(chen.req_text("person_id").unwrap(), "chen.jie");
    // The seed's times are days before it was loaded (authTimestamp 200
    // days, createTimestamp and pwdChangedTime 500 days).
    let days_ago = |r: &accessaudit::store::DbRow, column: &str| {
        (now - r
            .time(column)
            .unwrap()
            .unwrap_or_else(|| panic!("{column}")))
        .num_days()
    };
    assert!((200..230).contains(&days_ago(chen, "last_login_at")));
    assert!((500..530).contains(&days_ago(chen, "created_at")));
    assert!((500..530).contains(&days_ago(chen, "password_changed_at")));
    assert!(days_ago(account("wang.li"), "last_login_at") < 30);

    // People: the entries with an employee number, managers by DN.
    let people = db
        .store
        .fetch_all(
            "SELECT id, manager_id, title, full_name FROM people ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let managers: Vec<(String, Option<String>)> = people
        .iter()
        .map(|r| (r.req_text("id").unwrap(), r.text("manager_id").unwrap()))
        .collect();
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        managers,
        [
            ("chen.jie".to_string(), some("zhang.wei")),
            ("li.na".to_string(), None),
            ("wang.li".to_string(), some("zhang.wei")),
            ("zhang.wei".to_string(), None),
            ("zhao.min".to_string(), some("li.na")),
        ]
    );
    assert_eq!(people[4].req_text("title").unwrap(), "Helpdesk Agent");
    assert_eq!(people[4].req_text("full_name").unwrap(), "Zhao Min");

    let roles = db
        .store
        .fetch_all("SELECT id, description FROM roles ORDER BY id", &[])
        .await
        .unwrap();
    let role_ids: Vec<String> = roles.iter().map(|r| r.req_text("id").unwrap()).collect();
    assert_eq!(
        role_ids,
        [
            "crm-users",
            "helpdesk",
            "it-admins",
            "ring-a",
            "ring-b",
            "sales"
        ]
    );

    // Grants: direct memberships, and through nesting: zhao.min is in
    // helpdesk, helpdesk in it-admins, it-admins in crm-users; sales is a
    // member of crm-users under a DN spelled in other case and spacing;
    // ring-a and ring-b are members of each other (a cycle).
    let grants: BTreeSet<(String, String)> = db
        .store
        .fetch_all(
            "SELECT principal_id, role_id FROM grants WHERE revoked_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.req_text("principal_id").unwrap(),
                r.req_text("role_id").unwrap(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("zhao.min", "helpdesk"),
        ("zhao.min", "it-admins"),
        ("zhao.min", "crm-users"),
        ("li.na", "it-admins"),
        ("li.na", "crm-users"),
        ("svc-backup", "it-admins"),
        ("svc-backup", "crm-users"),
        ("zhang.wei", "sales"),
        ("zhang.wei", "crm-users"),
        ("wang.li", "sales"),
        ("wang.li", "crm-users"),
        ("wang.li", "ring-b"),
        ("wang.li", "ring-a"),
        ("chen.jie", "sales"),
        ("chen.jie", "crm-users"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(grants, want);

    // A second sync changes nothing (ids are stable).
    let again = sync_source(&db.store, "dir", &config.sources["dir"], Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let moved: u64 = again
        .feeds
        .iter()
        .map(|f| f.removed + f.granted + f.revoked)
        .sum();
    assert_eq!(moved, 0, "{again:?}");

    // The shipped rules find the planted cases: chen.jie idle for 200
    // days (li.na's 150 days are not reported: disabled), and the service
    // account, whose person_id names no person.
    let out = common::accessaudit()
        .args([
            "--database",
            &db.url,
            "run",
            "--rule",
            "idle-accounts",
            "--rule",
            "orphan-account",
            "--format",
            "json",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let findings: Vec<(String, String)> = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["subject_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        findings,
        [
            ("idle-accounts".to_string(), "chen.jie".to_string()),
            ("orphan-account".to_string(), "svc-backup".to_string()),
        ],
        "{json}"
    );

    // An application behind the directory: li.na is locked in the
    // directory but her CRM account is active and was used yesterday, so
    // departed-still-active finds it (directory_disabled, critical: used
    // after the directory account was disabled). The directory is the
    // configuration's `kind: ldap` source.
    let yesterday = accessaudit::model::format_instant(now - chrono::Duration::days(1));
    for (table, text) in [
        (
            "principals",
            "id,login,status,person_id\n7,lina,active,li.na\n8,zmin,active,zhao.min\n".to_string(),
        ),
        (
            "events",
            format!(
                "id,occurred_at,principal_id,action\ne1,{yesterday},7,login\ne2,{yesterday},8,login\n"
            ),
        ),
    ] {
        let file = dir.path().join(format!("crm-{table}.csv"));
        std::fs::write(&file, text).expect("csv");
        let out = common::accessaudit()
            .args(["--database", &db.url, "import", table])
            .arg(&file)
            .args(["--application", "crm"])
            .output()
            .expect("import");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = common::accessaudit()
        .args(["--config"])
        .arg(&path)
        .args([
            "--database",
            &db.url,
            "run",
            "--rule",
            "departed-still-active",
            "--format",
            "json",
        ])
        .output()
        .expect("run");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let findings = json["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{json}");
    let f = &findings[0];
    assert_eq!(f["subject_id"], "crm:7", "{json}");
    assert_eq!(f["application"], "crm", "{json}");
    assert_eq!(f["evidence"]["reason"], "directory_disabled", "{json}");
    assert_eq!(f["severity"], "critical", "{json}");
}

on_both_backends!(openldap_directory_syncs);

/// LDAPS through the binary; an unknown CA, a wrong password and a plain
/// connection are refused, each with what and where, nothing written.
#[test]
fn ldaps_and_what_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("store.db").display());
    let ldaps = env("ACCESSAUDIT_TEST_LDAPS_URL");
    let password = env("ACCESSAUDIT_TEST_LDAP_PASSWORD");
    let sync = |config: &Path| {
        common::accessaudit()
            .args([
                "--config",
                config.to_str().unwrap(),
                "--database",
                &db,
                "sync",
            ])
            .output()
            .expect("sync")
    };
    let count = || {
        common::accessaudit()
            .args([
                "--database",
                &db,
                "run",
                "--rule",
                "orphan-account",
                "--format",
                "json",
            ])
            .output()
            .expect("run")
    };

    // The system's roots do not know the private CA.
    let config = write_config(dir.path(), &ldaps, &password, "");
    let out = sync(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot connect") && stderr.contains(&ldaps),
        "{stderr}"
    );
    assert!(!count().status.success(), "a failed sync writes no account");

    // A wrong password: refused by the directory, never printed.
    let config = write_config(dir.path(), &ldaps, "not-the-password", &ca_line());
    let out = sync(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("bind as `cn=auditor"), "{stderr}");
    assert!(
        stderr.contains("invalidCredentials") || stderr.contains("rc=49"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-password"), "{stderr}");

    // ldap:// without StartTLS would bind in clear: refused at load.
    let config = write_config(
        dir.path(),
        &env("ACCESSAUDIT_TEST_LDAP_URL"),
        &password,
        &ca_line(),
    );
    let out = sync(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("config.yaml:") && stderr.contains("sources.dir.url"),
        "{stderr}"
    );
    assert!(stderr.contains("starttls: true"), "{stderr}");

    // LDAPS with the CA: the directory is in.
    let config = write_config(dir.path(), &ldaps, &password, &ca_line());
    let out = sync(&config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The sync's report goes to stderr.
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(report.contains("memberships → grants: read 15"), "{report}");
}

/// Both shipped directory mappings load as an LDAP source's; a mapping's
/// mistakes are located.
#[test]
fn directory_mappings_are_checked() {
    for name in ["openldap.yaml", "active-directory.yaml"] {
        Mapping::load(&shipped(name), FeedStyle::Directory)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let text = "feeds:\n  users:\n    table: principals\n    filter: (objectClass=person\n    columns:\n      id: uid\n      login: userPassword\n      status: {attribute: userAccountControl, as: bitmask}\n  links:\n    table: grants\n    members:\n      accounts: users\n      groups: nowhere\n      attribute: member\n  logins:\n    table: events\n    filter: (objectClass=*)\n    columns:\n      id: uid\n      occurred_at: authTimestamp\n      action: {value: login}\n";
    let e = Mapping::parse(Path::new("m.yaml"), text, FeedStyle::Directory).unwrap_err();
    let all = e.to_string();
    // An unknown conversion fails the parse of the column itself.
    assert!(all.contains("m.yaml:"), "{all}");
    let text = text.replace(", as: bitmask", ", as: account_control");
    let e = Mapping::parse(Path::new("m.yaml"), &text, FeedStyle::Directory).unwrap_err();
    let got: Vec<(&str, usize)> = e.0.iter().map(|e| (e.field.as_str(), e.line)).collect();
    assert!(got.contains(&("feeds.users.filter", 4)), "{e}");
    assert!(got.contains(&("feeds.users.columns.login", 7)), "{e}");
    assert!(got.contains(&("feeds.links.members.groups", 13)), "{e}");
    assert!(got.contains(&("feeds.logins.table", 16)), "{e}");
    assert!(e.to_string().contains("no feed named `nowhere`"), "{e}");
    assert!(e.to_string().contains("has no events feed"), "{e}");
}
