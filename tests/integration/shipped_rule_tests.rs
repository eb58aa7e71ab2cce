//! Every shipped rule's tests (rules/*.test.yaml), on SQLite and PostgreSQL.

use crate::common;
use accessaudit::engine::load as rules;

use common::TestDb;

async fn shipped_rule_tests_pass(db: TestDb) {
    let set = accessaudit::engine::load::load(&[], true).expect("shipped rules load");
    let files = rules::builtin_files(rules::is_test_file);
    let tested: std::collections::BTreeSet<String> = files
        .iter()
        .filter_map(|f| {
            accessaudit::engine::testing::parse(&f.path, &f.text)
                .ok()
                .map(|t| t.rule.value)
        })
        .collect();
    for rule in &set.rules {
        assert!(
            tested.contains(&rule.id),
            "shipped rule {} has no test file",
            rule.id
        );
    }
    let mut failures = Vec::new();
    let mut cases = 0;
    for file in &files {
        let results =
            accessaudit::engine::testing::run_file(&db.store, &set, &file.path, &file.text)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        for r in results {
            cases += 1;
            if !r.passed() {
                failures.push(format!(
                    "{} :: {}\n    {}",
                    r.rule,
                    r.case,
                    r.failures.join("\n    ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} rule test cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

on_both_backends!(shipped_rule_tests_pass);

/// Every shipped rule tells people what to do about a finding, where the
/// risk is described, and which controls of the four frameworks it
/// evidences (an officer maps findings to controls by these).
#[test]
fn shipped_rules_carry_remediation_references_and_controls() {
    let set = accessaudit::engine::load::load(&[], true).expect("shipped rules load");
    let mut missing = Vec::new();
    for rule in &set.rules {
        if rule.remediation.split_whitespace().count() < 12 {
            missing.push(format!("{}: no remediation paragraph", rule.id));
        }
        if rule.references.is_empty() {
            missing.push(format!("{}: no references", rule.id));
        }
        for framework in ["PCI DSS 4.0", "ISO 27001:2022", "SOC 2", "SOX ITGC"] {
            if !rule.controls.iter().any(|c| c.framework == framework) {
                missing.push(format!("{}: no {framework} control", rule.id));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
