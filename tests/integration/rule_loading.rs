//! Rule files load strictly: every error names file, line, column and field,
//! and nothing runs when there is one. Overrides change a shipped rule
//! without editing it.

use std::path::{Path, PathBuf};

use crate::common;

use accessaudit::engine::RuleKind;

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn errors_of(dir: &Path) -> Vec<String> {
    match accessaudit::engine::load::load(&[dir.to_path_buf()], true) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

/// How many rules are shipped (each with its test file).
fn shipped_count() -> usize {
    accessaudit::engine::load::load(&[], true)
        .expect("shipped rules")
        .rules
        .len()
}

fn at(dir: &Path, file: &str) -> String {
    dir.join(file).display().to_string()
}

#[test]
fn shipped_rules_load_with_the_contract_ids_and_defaults() {
    let set = accessaudit::engine::load::load(&[], true).expect("shipped rules");
    let ids: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
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
            "review-revocation-pending",
            "separation-of-duties",
            "shared-account",
            "transfer-kept-access"
        ]
    );
    let idle = set.get("idle-accounts").unwrap();
    let RuleKind::IdleAccounts(p) = &idle.kind else {
        panic!("kind")
    };
    assert_eq!(p.max_idle.0.as_secs(), 90 * 86_400);
    assert!(
        idle.controls
            .iter()
            .any(|c| c.framework == "PCI DSS 4.0" && c.control == "8.2.6")
    );
    let RuleKind::BulkAction(b) = &set.get("bulk-export").unwrap().kind else {
        panic!("kind")
    };
    assert_eq!(
        (
            b.action.as_str(),
            b.min_records,
            b.min_events_without_count,
            b.window.0.as_secs()
        ),
        ("export", 1000, 10, 3600)
    );
    let RuleKind::BulkAction(d) = &set.get("bulk-delete").unwrap().kind else {
        panic!("kind")
    };
    assert_eq!(
        (d.action.as_str(), d.min_records, d.spike_min_records),
        ("delete", 100, 20)
    );
    assert_eq!(
        (
            b.spike_factor,
            b.baseline.0.as_secs(),
            b.lookback.0.as_secs()
        ),
        (5.0, 30 * 86_400, 30 * 86_400)
    );
    let RuleKind::SharedAccount(s) = &set.get("shared-account").unwrap().kind else {
        panic!("kind")
    };
    assert_eq!(
        (
            s.min_distinct_ips,
            s.min_distinct_devices,
            s.window.0.as_secs()
        ),
        (3, 3, 3600)
    );
    let RuleKind::DepartedStillActive(d) = &set.get("departed-still-active").unwrap().kind else {
        panic!("kind")
    };
    assert_eq!(d.grace.0.as_secs(), 86_400);
    let RuleKind::OverPrivileged(o) = &set.get("over-privileged").unwrap().kind else {
        panic!("kind")
    };
    assert_eq!(o.unused_after.0.as_secs(), 90 * 86_400);
}

#[test]
fn unknown_fields_wrong_types_and_bad_durations_are_located() {
    let dir = dir_with(&[
        (
            "a.yaml",
            "id: a\ntitle: A\nseverity: high\nkind: idle_accounts\nparams:\n  max_idle: soon\n",
        ),
        (
            "b.yaml",
            "id: b\ntitle: B\nseverity: high\nkind: bulk_export\nparams:\n  min_records: lots\n",
        ),
        (
            "c.yaml",
            "id: c\ntitle: C\nseverity: high\nkind: bulk_export\nparams:\n  min_record: 5\n",
        ),
        (
            "d.yaml",
            "id: d\ntitle: D\nseverity: high\nkind: idle_accounts\nowner: me\n",
        ),
    ]);
    let errors = errors_of(dir.path());
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(
        errors[0].starts_with(&format!(
            "{}:6:13: field `params.max_idle`: bad duration `soon`",
            at(dir.path(), "a.yaml")
        )),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with(&format!(
            "{}:6:16: field `params.min_records`: ",
            at(dir.path(), "b.yaml")
        )),
        "{}",
        errors[1]
    );
    assert!(
        errors[1].ends_with("expected a whole number, found `lots`"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].starts_with(&format!(
            "{}:6:3: field `params.min_record`: unknown field `min_record`",
            at(dir.path(), "c.yaml")
        )),
        "{}",
        errors[2]
    );
    assert!(
        errors[3].starts_with(&format!(
            "{}:5:1: field `owner`: unknown field `owner`",
            at(dir.path(), "d.yaml")
        )),
        "{}",
        errors[3]
    );
}

#[test]
fn unknown_kinds_severities_and_duplicate_ids_are_errors() {
    let dir = dir_with(&[
        (
            "a.yaml",
            "id: a\ntitle: A\nseverity: high\nkind: idle_acounts\n",
        ),
        (
            "b.yaml",
            "id: b\ntitle: B\nseverity: urgent\nkind: idle_accounts\n",
        ),
        (
            "c.yaml",
            "id: idle-accounts\ntitle: Mine\nseverity: low\nkind: idle_accounts\n",
        ),
        (
            "d.yaml",
            "title: no id\nseverity: low\nkind: idle_accounts\n",
        ),
    ]);
    let errors = errors_of(dir.path());
    assert!(
        errors[0].starts_with(&format!(
            "{}:4:7: field `kind`: unknown variant `idle_acounts`",
            at(dir.path(), "a.yaml")
        )),
        "{errors:#?}"
    );
    assert!(
        errors[1].starts_with(&format!(
            "{}:3:11: field `severity`: unknown variant `urgent`",
            at(dir.path(), "b.yaml")
        )),
        "{errors:#?}"
    );
    assert_eq!(
        errors[2],
        format!(
            "{}:1:1: field `id`: duplicate rule id `idle-accounts` (first defined in rules/idle-accounts.yaml)",
            at(dir.path(), "c.yaml")
        )
    );
    assert!(
        errors[3].starts_with(&format!(
            "{}:1:1: field `id`: missing field `id`",
            at(dir.path(), "d.yaml")
        )),
        "{errors:#?}"
    );
}

#[test]
fn semantic_checks_point_at_the_param() {
    let dir = dir_with(&[(
        "a.yaml",
        "id: a\ntitle: A\nseverity: high\nkind: over_privileged\nparams:\n  unused_after: 30d\n  peer_max_share: 1.5\n",
    )]);
    let errors = errors_of(dir.path());
    assert_eq!(
        errors,
        [format!(
            "{}:7:3: field `params.peer_max_share`: must be a share between 0 and 1",
            at(dir.path(), "a.yaml")
        )]
    );
}

#[test]
fn overrides_change_params_severity_and_enabled_without_editing_shipped_files() {
    let dir = dir_with(&[
        (
            "idle.yaml",
            "override: idle-accounts\nseverity: high\nparams:\n  max_idle: 45d\n",
        ),
        ("shared.yaml", "override: shared-account\nenabled: false\n"),
    ]);
    let set = accessaudit::engine::load::load(&[dir.path().to_path_buf()], true)
        .expect("overrides apply");
    let idle = set.get("idle-accounts").unwrap();
    assert_eq!(idle.severity.as_str(), "high");
    let RuleKind::IdleAccounts(p) = &idle.kind else {
        panic!("kind")
    };
    assert_eq!(p.max_idle.0.as_secs(), 45 * 86_400);
    assert_eq!(
        p.statuses.len(),
        2,
        "params the override does not set keep their values"
    );
    assert_eq!(
        idle.sources,
        [
            PathBuf::from("rules/idle-accounts.yaml"),
            dir.path().join("idle.yaml")
        ]
    );
    assert!(!set.get("shared-account").unwrap().enabled);
    assert_eq!(set.enabled().count(), shipped_count() - 1);
}

#[test]
fn the_former_bulk_export_names_still_load() {
    // A deployment's own rule written for the kind's first name, and an
    // override using the parameter's first name.
    let dir = dir_with(&[
        (
            "mine.yaml",
            "id: my-exports\ntitle: Mine\nseverity: low\nkind: bulk_export\nparams:\n  min_exports_without_count: 4\n",
        ),
        (
            "tune.yaml",
            "override: bulk-export\nparams:\n  min_exports_without_count: 3\n",
        ),
    ]);
    let set = accessaudit::engine::load::load(&[dir.path().to_path_buf()], true).expect("loads");
    let RuleKind::BulkAction(mine) = &set.get("my-exports").unwrap().kind else {
        panic!("kind")
    };
    assert_eq!(
        (mine.action.as_str(), mine.min_events_without_count),
        ("export", 4)
    );
    let RuleKind::BulkAction(tuned) = &set.get("bulk-export").unwrap().kind else {
        panic!("kind")
    };
    assert_eq!(tuned.min_events_without_count, 3);
    assert_eq!(tuned.min_records, 1000, "the rest keeps its shipped value");
}

#[test]
fn overrides_are_checked_against_their_rule() {
    let dir = dir_with(&[
        (
            "a.yaml",
            "override: idle-accounts\nparams:\n  max_idel: 3d\n",
        ),
        ("b.yaml", "override: nosuch-rule\nseverity: low\n"),
        ("c.yaml", "override: bulk-export\nparams:\n  window: 0s\n"),
    ]);
    let errors = errors_of(dir.path());
    assert!(
        errors[0].starts_with(&format!(
            "{}:3:3: field `params.max_idel`: unknown field `max_idel`",
            at(dir.path(), "a.yaml")
        )),
        "{errors:#?}"
    );
    assert_eq!(
        errors[1],
        format!(
            "{}:1:11: field `override`: no rule `nosuch-rule` is loaded before this override",
            at(dir.path(), "b.yaml")
        )
    );
    assert!(
        errors[2].contains("field `params.window`: duration `0s` must be greater than zero"),
        "{errors:#?}"
    );
}

#[test]
fn custom_sql_rules_must_be_one_select_with_known_parameters() {
    let dir = dir_with(&[
        (
            "a.yaml",
            "id: a\ntitle: A\nseverity: low\nkind: sql\nparams:\n  query: DELETE FROM principals\n",
        ),
        (
            "b.yaml",
            "id: b\ntitle: B\nseverity: low\nkind: sql\nparams:\n  query: SELECT id AS subject_id FROM principals WHERE login = :who\n",
        ),
        (
            "c.yaml",
            "id: c\ntitle: C\nseverity: low\nkind: sql\nparams:\n  query: SELECT 1 AS subject_id; DROP TABLE principals\n",
        ),
    ]);
    let errors = errors_of(dir.path());
    assert!(
        errors[0].ends_with(
            "field `params.query`: the query must be one SELECT (or WITH … SELECT) statement"
        ),
        "{errors:#?}"
    );
    assert!(
        errors[1].ends_with(
            "field `params.query`: `:who` is not set in params or before (`:as_of` is built in)"
        ),
        "{errors:#?}"
    );
    assert!(errors[2].contains("single statement"), "{errors:#?}");
}

#[test]
fn the_cli_refuses_to_run_with_a_bad_rule_and_names_it() {
    let dir = dir_with(&[(
        "a.yaml",
        "id: a\ntitle: A\nseverity: high\nkind: idle_accounts\nparams:\n  max_idle: 10 parsecs\n",
    )]);
    let db = tempfile::tempdir().unwrap();
    let out = common::accessaudit()
        .args([
            "--database",
            &format!("sqlite://{}", db.path().join("x.db").display()),
        ])
        .args(["--rules", &dir.path().display().to_string(), "run"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("a.yaml:6:13: field `params.max_idle`: bad duration `10 parsecs`"),
        "{stderr}"
    );
    assert!(stderr.contains("no rule was run"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        !db.path().join("x.db").exists(),
        "nothing is written before the rules are valid"
    );
}

#[test]
fn a_file_named_like_a_shipped_one_replaces_it() {
    let dir = dir_with(&[(
        "idle-accounts.yaml",
        "id: idle-accounts\ntitle: Idle (ours)\nseverity: low\nkind: idle_accounts\nparams:\n  max_idle: 30d\n",
    )]);
    let set = accessaudit::engine::load::load(&[dir.path().to_path_buf()], true)
        .expect("no duplicate: the file replaces its namesake");
    let idle = set.get("idle-accounts").unwrap();
    assert_eq!(
        (idle.title.as_str(), idle.sources.len()),
        ("Idle (ours)", 1)
    );
    assert_eq!(set.rules.len(), shipped_count());
}

#[test]
fn the_shipped_rules_directory_validates_with_its_tests() {
    let out = common::accessaudit()
        .args([
            "rules",
            "validate",
            concat!(env!("CARGO_MANIFEST_DIR"), "/rules"),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let n = shipped_count();
    assert!(
        stderr.contains(&format!("{n} rule(s) and {n} rule test file(s) valid")),
        "{stderr}"
    );
}

/// `accessaudit schema` prints the user reference of the canonical model,
/// and that reference names every table and column the import knows, with
/// its type and, for enumerated columns, every allowed value.
#[test]
fn the_schema_reference_covers_every_table_and_column() {
    let out = common::accessaudit().arg("schema").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, accessaudit::collect::tables::REFERENCE);
    for table in accessaudit::collect::tables::ALL {
        let at = [
            format!("## {} ", table.name),
            format!("## {}\n", table.name),
        ]
        .iter()
        .find_map(|h| text.find(h.as_str()))
        .unwrap_or_else(|| panic!("no section for {}", table.name));
        let section = &text[at..];
        let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
        for c in table.columns {
            let row = section
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", c.name)))
                .unwrap_or_else(|| panic!("{}.{} is not documented", table.name, c.name));
            let ty = match c.ty {
                accessaudit::collect::tables::ColumnType::Text => "text",
                accessaudit::collect::tables::ColumnType::Int => "integer",
                accessaudit::collect::tables::ColumnType::Bool => "boolean",
                accessaudit::collect::tables::ColumnType::Timestamp => "timestamp",
                accessaudit::collect::tables::ColumnType::Enum(_) => "enum",
                accessaudit::collect::tables::ColumnType::Action => "action",
            };
            assert!(row.contains(&format!("| {ty} |")), "{row}");
            assert_eq!(row.contains("| yes |"), c.required, "{row}");
        }
    }
    use accessaudit::model::*;
    for value in EmploymentStatus::ALL
        .iter()
        .map(|v| v.as_str())
        .chain(AccountType::ALL.iter().map(|v| v.as_str()))
        .chain(AccountStatus::ALL.iter().map(|v| v.as_str()))
        .chain(DataScope::ALL.iter().map(|v| v.as_str()))
        .chain(Outcome::ALL.iter().map(|v| v.as_str()))
        .chain(KNOWN_ACTIONS)
    {
        assert!(
            text.contains(&format!("`{value}`")),
            "`{value}` is not documented"
        );
    }
    assert!(
        !text.contains("DESIGN.md"),
        "the reference stands on its own"
    );
}

/// Shell completions and the manual page come from the command line itself.
#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let out = common::accessaudit()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("accessaudit") && text.contains("allow-skipped"),
            "{shell}"
        );
    }
    let out = common::accessaudit().arg("man").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(".ie") || text.contains(".TH accessaudit"),
        "{text}"
    );
    // Neither needs a configuration: a broken one does not stop them.
    let out = common::accessaudit()
        .env("ACCESSAUDIT_CONFIG", "/nonexistent/accessaudit.yaml")
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
}
