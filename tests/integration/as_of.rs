//! `run --as-of T` gives the findings the scheduled run at T gave, for every
//! shipped rule, after data dated later has arrived: later sign-ins and
//! exports, new accounts and grants, a later termination, a later revocation,
//! `last_login_at` moved past T. On SQLite and PostgreSQL.

use crate::common;

use std::collections::BTreeMap;

use accessaudit::model::Finding;
use accessaudit::store::{SqlValue, Store};
use accessaudit::{demo, engine};
use chrono::{DateTime, Duration, Utc};
use common::TestDb;

const SHIPPED: [&str; 5] = [
    "bulk-export",
    "departed-still-active",
    "idle-accounts",
    "over-privileged",
    "shared-account",
];

async fn findings_by_rule(store: &Store, run_id: i64) -> BTreeMap<String, Vec<Finding>> {
    let mut out: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    store
        .for_each_finding(run_id, |f| {
            out.entry(f.rule.clone()).or_default().push(f);
            Ok(())
        })
        .await
        .unwrap();
    out
}

async fn ids(store: &Store, sql: &str) -> Vec<String> {
    store
        .fetch_all(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.req_text("id").unwrap())
        .collect()
}

async fn event(
    store: &Store,
    id: String,
    at: DateTime<Utc>,
    who: &str,
    action: &str,
    records: Option<i64>,
    ip: &str,
) {
    store
        .execute(
            "INSERT INTO events (id, occurred_at, principal_id, action, object_type, record_count, ip, device_id, outcome)
             VALUES ($1, $2, $3, $4, 'customer', $5, $6, $7, 'success')",
            &[
                SqlValue::text(id),
                SqlValue::time(at),
                SqlValue::text(who),
                SqlValue::text(action),
                SqlValue::Int(records),
                SqlValue::text(ip),
                SqlValue::text(format!("dev-{ip}")),
            ],
        )
        .await
        .unwrap();
}

/// Appends data dated after `t` that would change every rule's findings if
/// a rule read it without an as-of bound.
async fn later_data(store: &Store, t: DateTime<Utc>, at_t: &BTreeMap<String, Vec<Finding>>) {
    let subjects = |rule: &str| -> Vec<String> {
        at_t.get(rule)
            .map(|v| v.iter().map(|f| f.subject_id.clone()).collect())
            .unwrap_or_default()
    };
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("later-{n}")
    };
    // Idle and departed accounts sign in after T.
    for p in subjects("idle-accounts")
        .iter()
        .chain(subjects("departed-still-active").iter())
    {
        event(
            store,
            next(),
            t + Duration::hours(20),
            p,
            "login",
            None,
            "10.9.9.9",
        )
        .await;
    }
    // A nightly account feed moves last_login_at past T. (Where that column
    // was the very fact a finding rested on, overwriting it destroys the
    // fact, and no rerun can recover it: README, "as of". So only accounts
    // whose last sign-in came from the event log or created_at are touched.)
    for f in at_t.get("idle-accounts").into_iter().flatten().filter(|f| {
        f.evidence
            .get("last_sign_in_source")
            .and_then(|v| v.as_str())
            != Some("last_login_at")
    }) {
        let p = &f.subject_id;
        store
            .execute(
                "UPDATE principals SET last_login_at = $1 WHERE id = $2",
                &[SqlValue::time(t + Duration::hours(20)), SqlValue::text(p)],
            )
            .await
            .unwrap();
    }
    // Clean active accounts: a huge export, sign-ins from many IPs.
    let clean = ids(
        store,
        "SELECT id FROM principals WHERE status = 'active' AND account_type = 'human' ORDER BY id",
    )
    .await;
    let flagged: Vec<String> = at_t
        .values()
        .flatten()
        .map(|f| f.subject_id.clone())
        .collect();
    let clean: Vec<&String> = clean
        .iter()
        .filter(|p| !flagged.contains(p))
        .take(3)
        .collect();
    assert_eq!(clean.len(), 3, "the demo has clean accounts");
    for i in 0..12 {
        event(
            store,
            next(),
            t + Duration::minutes(30 + i),
            clean[0],
            "export",
            Some(50_000),
            "10.1.1.1",
        )
        .await;
    }
    for i in 0..6 {
        event(
            store,
            next(),
            t + Duration::minutes(10 * (i + 1)),
            clean[1],
            "login",
            None,
            &format!("172.16.0.{i}"),
        )
        .await;
    }
    // A later termination of a clean account's person.
    store
        .execute(
            "UPDATE people SET employment_status = 'terminated', terminated_at = $1
              WHERE id = (SELECT person_id FROM principals WHERE id = $2)
                 OR lower(email) = (SELECT lower(email) FROM principals WHERE id = $2)",
            &[
                SqlValue::time(t + Duration::days(3)),
                SqlValue::text(clean[2]),
            ],
        )
        .await
        .unwrap();
    // New accounts: a generic login and a shared one, created after T.
    for (id, login, kind) in [
        ("new-admin", "admin", "human"),
        ("new-shared", "sales-team", "shared"),
    ] {
        store
            .execute(
                "INSERT INTO principals (id, login, account_type, status, department, created_at)
                 VALUES ($1, $2, $3, 'active', 'Sales', $4)",
                &[
                    SqlValue::text(id),
                    SqlValue::text(login),
                    SqlValue::text(kind),
                    SqlValue::time(t + Duration::hours(1)),
                ],
            )
            .await
            .unwrap();
    }
    // A privileged role granted after T to a clean Sales account, and every
    // flagged grant revoked after T.
    let privileged = ids(store, "SELECT id FROM roles WHERE privileged ORDER BY id").await;
    store
        .execute(
            "INSERT INTO grants (id, principal_id, role_id, granted_at) VALUES ('later-grant', $1, $2, $3)",
            &[
                SqlValue::text(clean[0]),
                SqlValue::text(&privileged[0]),
                SqlValue::time(t + Duration::hours(2)),
            ],
        )
        .await
        .unwrap();
    for g in at_t
        .get("over-privileged")
        .into_iter()
        .flatten()
        .filter(|f| f.subject_type.as_str() == "grant")
    {
        store
            .execute(
                "UPDATE grants SET revoked_at = $1 WHERE id = $2",
                &[
                    SqlValue::time(t + Duration::days(1)),
                    SqlValue::text(&g.subject_id),
                ],
            )
            .await
            .unwrap();
    }
}

async fn as_of_reruns_reproduce_the_scheduled_run(db: TestDb) {
    let org = demo::build(&db.store, 7).await.expect("demo builds");
    let set = accessaudit::engine::load::load(&[], true).unwrap();
    let enabled: Vec<&accessaudit::engine::Rule> = set.enabled().collect();
    let t = org.as_of;
    let scheduled = engine::run(&db.store, &enabled, t, Some("monthly"))
        .await
        .unwrap();
    let before = findings_by_rule(&db.store, scheduled.run_id).await;
    for rule in SHIPPED {
        assert!(
            before.get(rule).is_some_and(|v| !v.is_empty()),
            "rule {rule} found nothing at T: the comparison would prove nothing"
        );
    }

    later_data(&db.store, t, &before).await;
    // The later data does change what a run now sees (so it is a real test).
    let now = engine::run(&db.store, &enabled, t + Duration::days(4), Some("after"))
        .await
        .unwrap();
    let after_t = findings_by_rule(&db.store, now.run_id).await;
    assert_ne!(after_t, before, "the later data changed nothing");

    let rerun = engine::run(&db.store, &enabled, t, Some("audit"))
        .await
        .unwrap();
    let again = findings_by_rule(&db.store, rerun.run_id).await;
    for rule in SHIPPED {
        assert_eq!(
            again.get(rule),
            before.get(rule),
            "rule {rule}: the as-of rerun differs from the scheduled run"
        );
    }
    assert_eq!(again, before);
}

on_both_backends!(as_of_reruns_reproduce_the_scheduled_run);
