//! Alert de-duplication against the real store: a finding is alerted once,
//! again only after it resolved and came back, or after the re-alert interval;
//! a rule that did not run forgets nothing.

use crate::common;

use accessaudit::daemon::alerts;
use accessaudit::model::{Finding, Severity, SubjectType};
use accessaudit::store::runs::FirstSeen;
use chrono::{DateTime, Duration, Utc};
use common::TestDb;

fn finding(rule: &str, subject: &str) -> Finding {
    Finding {
        application: None,
        rule: rule.to_string(),
        severity: Severity::High,
        subject_type: SubjectType::Principal,
        subject_id: subject.to_string(),
        title: format!("{rule} {subject}"),
        evidence: serde_json::Map::new(),
    }
}

/// Records a run of the job with these findings and takes its alerts.
async fn scan(
    db: &TestDb,
    findings: &[Finding],
    ran_ok: &[&str],
    now: DateTime<Utc>,
    realert: Option<Duration>,
) -> Vec<String> {
    let run_id = db.store.start_run(Some("alerts"), now).await.expect("run");
    db.store
        .record_findings(
            run_id,
            FirstSeen {
                previous_run: None,
                as_of: now,
            },
            findings,
        )
        .await
        .expect("findings");
    let ran_ok: Vec<String> = ran_ok.iter().map(|s| s.to_string()).collect();
    let mut tx = db.store.begin().await.expect("tx");
    let keys = alerts::take_new(
        &mut tx,
        "alerts",
        run_id,
        &ran_ok,
        realert.map(|d| now - d),
        now,
    )
    .await
    .expect("take_new");
    tx.commit().await.expect("commit");
    keys.into_iter().map(|k| k.subject_id).collect()
}

async fn alerts_once_until_resolved(db: TestDb) {
    let t0: DateTime<Utc> = "2026-11-01T08:00:00Z".parse().expect("instant");
    let at = |m: i64| t0 + Duration::minutes(m);
    let a = finding("bulk-export", "a");
    let b = finding("bulk-export", "b");
    let ok = ["bulk-export"];
    assert_eq!(
        scan(&db, std::slice::from_ref(&a), &ok, at(0), None).await,
        ["a"]
    );
    // Still there: not again. A new one: only the new one.
    assert!(
        scan(&db, std::slice::from_ref(&a), &ok, at(5), None)
            .await
            .is_empty()
    );
    assert_eq!(
        scan(&db, &[a.clone(), b.clone()], &ok, at(10), None).await,
        ["b"]
    );
    // The rule was skipped (stale feed): nothing resolved, nothing forgotten.
    assert!(scan(&db, &[], &[], at(15), None).await.is_empty());
    assert!(
        scan(&db, &[a.clone(), b.clone()], &ok, at(20), None)
            .await
            .is_empty()
    );
    // a resolved, then came back: alerted again.
    assert!(
        scan(&db, std::slice::from_ref(&b), &ok, at(25), None)
            .await
            .is_empty()
    );
    assert_eq!(
        scan(&db, &[a.clone(), b.clone()], &ok, at(30), None).await,
        ["a"]
    );
    // With a re-alert interval of 1 h, b (last alerted at 10) comes again at 70.
    let hour = Some(Duration::hours(1));
    assert!(
        scan(&db, &[a.clone(), b.clone()], &ok, at(69), hour)
            .await
            .is_empty()
    );
    assert_eq!(
        scan(&db, &[a.clone(), b.clone()], &ok, at(70), hour).await,
        ["b"]
    );
}

on_both_backends!(alerts_once_until_resolved);
