//! A complete template context with made-up values: templates are
//! test-rendered with it when they are loaded (handlebars' strict mode
//! checks a variable only when it is rendered), and report-templates/README.md
//! documents the same fields.

use serde_json::{Value, json};

use super::chart::CHART_CID;

/// A full context with made-up values, used to test-render templates when
/// they are loaded (strict mode then refuses unknown variables).
pub fn sample_context() -> Value {
    let finding = json!({
        "rule": "idle-accounts", "severity": "medium", "severity_colour": "#b9770e",
        "rule_title": "Idle accounts",
        "subject_type": "principal", "subject_id": "p1",
        "subject": {"label": "alice", "login": "alice", "display_name": "Alice Liu",
                    "department": "Sales", "title": "Account Manager", "manager": "Bob Chen",
                    "role": null},
        "title": "alice: idle",
        "status": "new", "first_seen": "2026-11-01T00:00:00Z",
        "first_seen_local": "2026-11-01 00:00 UTC", "days_open": 0, "due": "2027-01-30",
        "overdue": true,
        "evidence": [{"key": "last_sign_in", "name": "Last sign in", "value": "2026-06-19 09:14 UTC"}],
        "evidence_json": "{\"last_sign_in\":\"2026-06-19T09:14:00Z\"}",
        "exception": {"id": 1, "rule": "idle-accounts", "subject": "p*", "reason": "r",
                      "approved_by": "CISO", "expires_at": "2027-01-01T00:00:00Z", "source": "cli"},
        "was_open_before": false,
    });
    let exception = finding["exception"].clone();
    json!({
        "subject": "Monthly access review", "job": "monthly", "run_id": 1,
        "as_of": "2026-11-01T00:00:00Z", "as_of_local": "2026-11-01 00:00 UTC",
        "finished_at": "2026-11-01T00:00:01Z", "has_previous": true,
        "previous": {"run_id": 0, "as_of": "2026-10-01T00:00:00Z", "as_of_local": "2026-10-01 00:00 UTC"},
        "summary": {"accounts": 10, "grants": 20, "people": 8, "severities": "1 medium",
                    "oldest": [finding.clone()], "overdue": 1},
        "totals": [{"severity": "medium", "colour": "#b9770e", "count": 1, "previous": 0, "change": "+1"}],
        "total": {"count": 1, "previous": 0, "change": "+1"},
        "counts": {"new": 1, "open": 1, "resolved": 1, "accepted": 1},
        "not_rechecked": 0,
        "evaluation": {"total": 2, "evaluated": 1, "complete": false,
                       "not_evaluated": [{"id": "bulk-export", "title": "Bulk exports", "status": "skipped",
                                          "reason": "event feed is stale"}]},
        "rules": [{
            "id": "idle-accounts", "title": "Idle accounts", "severity": "medium",
            "controls": [{"framework": "PCI DSS 4.0", "control": "8.2.6"}],
            "remediation": "Disable the account, or record why it must stay.",
            "status": "ok", "ran": true, "reason": "", "finding_count": 1, "duration_ms": 3,
            "new": {"items": [finding.clone()], "total": 1, "more": 0},
            "open": {"items": [finding.clone()], "total": 1, "more": 0},
            "resolved": {"items": [finding.clone()], "total": 1, "more": 0},
            "accepted": {"items": [finding], "total": 3, "more": 2}, "quiet": false,
        }],
        "expired_exceptions": [exception],
        "has_expired_exceptions": true,
        "frameworks": [{"name": "PCI DSS 4.0", "evidenced": true, "controls": [{
            "control": "8.2.6", "name": "Inactive user accounts are removed or disabled within 90 days",
            "status": "findings", "status_colour": "#b03a2e", "findings": 1, "rules": "idle-accounts",
            "rule_list": [{"id": "idle-accounts", "title": "Idle accounts", "status": "findings", "findings": 1}],
        }]}],
        "departments": [{"department": "Sales", "count": 1}],
        "changes": {"recorded": true, "why": "", "items": [
            {"area": "rule", "text": "rule idle-accounts changed (rules/local.yaml): params.max_idle_days: 90 → 60"},
            {"area": "exception", "text": "exception #3 on idle-accounts for principal:p1, approved by ciso@example.com, until 2026-11-15T00:00:00Z expired"}]},
        "proof": {
            "rules": [{"id": "idle-accounts", "status": "ok", "reason": "", "finding_count": 1, "duration_ms": 3}],
            "tables": [{"table": "events", "rows": 10}],
            "sources": [{"source": "crm", "synced_at": "2026-10-31 23:00 CST",
                         "write_check": "read-only (SHOW GRANTS: no privilege beyond reading)", "feeds": [
                {"feed": "users", "table": "principals", "read": 12, "kept": 11, "source_count": "12", "reconciles": true, "difference": 0},
                {"feed": "logs", "table": "events", "read": 9, "kept": 9, "source_count": "10", "reconciles": false, "difference": 1}]}],
            "has_sources": true,
            "reconciled": false,
            "unreconciled": [{"source": "crm", "feed": "logs", "read": 9, "source_count": 10}],
            "newest_event": "2026-10-31T23:00:00Z",
            "failed_deliveries": [{"subject": "Monthly access review", "message_id": "m@x",
                                   "queued_at": "2026-10-01T07:00:00Z", "error": "SMTP: refused"}],
            "has_failed_deliveries": true,
        },
        "tool": {"name": "accessaudit", "version": "0.1.0"},
        "rule_versions": [{"id": "idle-accounts", "sha256": "0123456789abcdef"}],
        "chart_cid": CHART_CID,
        "chart_src": "cid:findings-chart",
        "departments_chart_src": "cid:findings-by-department",
        "csv_name": "findings.csv",
        "csv": {"name": "findings.csv", "attached": false, "rows": 546_000, "bytes": 412_000_000,
                "size": "412.0 MB", "sha256": "0123456789abcdef"},
    })
}
