//! `accessaudit retention --keep 18mo [--dry-run]` on both backends: what
//! goes and what stays, the run record, `run --as-of` before the horizon
//! skipped with the reason, bad input refused. On PostgreSQL partitioned
//! (`migrate --partition-events`), months are dropped as partitions (checked
//! in the catalogue); on a plain PostgreSQL table, rows are deleted in
//! batches; a store made before migration 0016 keeps every event through
//! it and through partitioning.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use accessaudit::store::partitions;
use accessaudit::store::{Backend, SqlValue, Store, StoreOptions};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use common::{TestDb, accessaudit};
use serde_json::Value;

/// The command with the test's database; its output.
fn cli(db: &TestDb, args: &[&str]) -> Output {
    accessaudit()
        .arg("--database")
        .arg(&db.url)
        .args(args)
        .output()
        .expect("run accessaudit")
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Three accounts that sign in every four days over 30 months, and one
/// that stopped 20 months ago (idle either way: its finding must survive).
fn write_csvs(dir: &Path, now: DateTime<Utc>) -> usize {
    let mut principals = String::from("id,login,status,created_at\n");
    for who in ["u1", "u2", "u3", "old"] {
        principals.push_str(&format!("{who},{who}.login,active,2020-01-01T00:00:00Z\n"));
    }
    std::fs::write(dir.join("principals.csv"), principals).unwrap();
    let mut events = String::from("id,occurred_at,principal_id,action,outcome,ip,device_id\n");
    let mut n = 0;
    for day in (0..30 * 30).step_by(4) {
        let at = now - Duration::days(day) - Duration::hours(2);
        let who: &[&str] = if day >= 20 * 30 {
            &["u1", "u2", "u3", "old"]
        } else {
            &["u1", "u2", "u3"]
        };
        for (i, p) in who.iter().enumerate() {
            events.push_str(&format!(
                "e{n},{},{p},login,success,10.0.0.{i},dev-{p}\n",
                at.format("%Y-%m-%dT%H:%M:%SZ")
            ));
            n += 1;
        }
    }
    std::fs::write(dir.join("events.csv"), events).unwrap();
    n
}

async fn count(store: &Store, sql: &str, params: &[SqlValue]) -> i64 {
    store.count(sql, params).await.unwrap()
}

/// The months of `events` in the catalogue (PostgreSQL).
async fn partition_names(store: &Store) -> BTreeSet<String> {
    store
        .fetch_all(
            "SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'events'::regclass",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.req_text("name").unwrap())
        .collect()
}

/// (rule, status) of every rule and (rule, subject) of every finding.
type Outcome = (BTreeSet<(String, String)>, BTreeSet<(String, String)>);

fn outcome(run: &Value) -> Outcome {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let rules = run["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (text(&r["rule"]), text(&r["status"])))
        .collect();
    let findings = run["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (text(&f["rule"]), text(&f["subject_id"])))
        .collect();
    (rules, findings)
}

/// On PostgreSQL with `events` partitioned (`migrate --partition-events`):
/// months dropped; on SQLite: batched deletes and the file shrinks.
async fn retention_removes_what_is_older_than_keep(db: TestDb) {
    let partition = db.store.backend() == Backend::Postgres;
    retention_case(db, partition).await
}

/// On PostgreSQL with a plain `events` (the default): batched deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_in_batches_on_plain_postgres() {
    retention_case(common::postgres().await, false).await
}

async fn retention_case(db: TestDb, partition: bool) {
    if partition {
        let out = cli(&db, &["migrate", "--partition-events"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("events partitioned by month"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let again = cli(&db, &["migrate", "--partition-events"]);
        assert!(String::from_utf8_lossy(&again.stderr).contains("already partitioned"));
    }
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now().trunc_subsecs(0);
    let written = write_csvs(dir.path(), now) as i64;
    for (table, file) in [("principals", "principals.csv"), ("events", "events.csv")] {
        let out = cli(
            &db,
            &["import", table, dir.path().join(file).to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = &db.store;
    assert_eq!(
        count(store, "SELECT COUNT(*) AS n FROM events", &[]).await,
        written
    );
    let pg = partition;
    if pg {
        // The import made the months its rows fall in: none in the default.
        assert_eq!(
            count(store, "SELECT COUNT(*) AS n FROM events_default", &[]).await,
            0
        );
    }
    let months_before = if pg {
        partition_names(store).await
    } else {
        BTreeSet::new()
    };
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--format", "json", "--no-record"];
        all.extend_from_slice(args);
        cli(&db, &all)
    };
    let before = run(&[]);
    let before = outcome(&stdout_json(&before));
    assert!(
        before.1.contains(&("idle-accounts".into(), "old".into())),
        "the account idle for 20 months is a finding: {before:?}"
    );

    // A keep shorter than a rule's window is refused, naming the rule.
    let out = cli(&db, &["retention", "--keep", "7d"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rule `") && stderr.contains("--force"),
        "{stderr}"
    );
    // A bad span is a usage error naming the option.
    let out = cli(&db, &["retention", "--keep", "18moons"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--keep") && stderr.contains("18moons"),
        "{stderr}"
    );
    assert_eq!(
        count(store, "SELECT COUNT(*) AS n FROM events", &[]).await,
        written
    );

    // The dry run names what would go and changes nothing.
    let out = cli(
        &db,
        &[
            "retention",
            "--keep",
            "18mo",
            "--dry-run",
            "--format",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dry = stdout_json(&out);
    assert_eq!(dry["dry_run"], true);
    let cutoff: DateTime<Utc> = dry["cutoff"].as_str().unwrap().parse().unwrap();
    let expected_cutoff = now - Duration::seconds(18 * 2_630_016);
    assert!(
        (cutoff - expected_cutoff).num_seconds().abs() < 120,
        "cutoff {cutoff} is now − 18 × 30.44 days ({expected_cutoff})"
    );
    let older = count(
        store,
        "SELECT COUNT(*) AS n FROM events WHERE occurred_at < $1",
        &[SqlValue::time(cutoff)],
    )
    .await;
    assert!(older > 0);
    let would = dry["rows"].as_i64().unwrap();
    let month_of_cutoff = partitions::month_start(cutoff);
    if pg {
        // Whole months before the cutoff's month; that month is kept.
        let before_month = count(
            store,
            "SELECT COUNT(*) AS n FROM events WHERE occurred_at < $1",
            &[SqlValue::time(month_of_cutoff)],
        )
        .await;
        assert_eq!(would, before_month);
        let months = dry["months"].as_array().unwrap();
        assert!(months.len() >= 11, "{dry}");
        assert!(
            months
                .iter()
                .all(|m| m["to"].as_str().unwrap() <= dry["cutoff"].as_str().unwrap())
        );
        assert_eq!(
            dry["kept_older"]["partition"],
            partitions::name_of(month_of_cutoff).as_str()
        );
        assert_eq!(partition_names(store).await, months_before);
    } else {
        assert_eq!(would, older);
        assert!(dry["deleted"]["oldest"].as_str().is_some());
    }
    assert_eq!(
        count(store, "SELECT COUNT(*) AS n FROM events", &[]).await,
        written
    );
    assert_eq!(
        count(store, "SELECT COUNT(*) AS n FROM retention_log", &[]).await,
        0
    );

    // Rows per day of what stays, to check nothing else is touched.
    let kept_from = if pg { month_of_cutoff } else { cutoff };
    let kept_before = count(
        store,
        "SELECT COUNT(*) AS n FROM events WHERE occurred_at >= $1",
        &[SqlValue::time(kept_from)],
    )
    .await;

    let out = cli(&db, &["retention", "--keep", "18mo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("total: {would} events removed")),
        "{stdout}"
    );
    let after = count(store, "SELECT COUNT(*) AS n FROM events", &[]).await;
    assert_eq!(after, written - would);
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) AS n FROM events WHERE occurred_at < $1",
            &[SqlValue::time(kept_from)],
        )
        .await,
        0
    );
    assert_eq!(
        after, kept_before,
        "every row of what is kept is still there"
    );
    if pg {
        let months_after = partition_names(store).await;
        let dropped: BTreeSet<String> = dry["months"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["partition"].as_str().unwrap().to_string())
            .collect();
        assert!(
            stdout.contains(&format!("{} partition(s) dropped", dropped.len())),
            "{stdout}"
        );
        assert_eq!(
            months_after,
            months_before
                .difference(&dropped)
                .cloned()
                .collect::<BTreeSet<_>>()
        );
        for name in &dropped {
            assert_eq!(
                count(
                    store,
                    "SELECT COUNT(*) AS n FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace",
                    &[SqlValue::text(name.as_str())],
                )
                .await,
                0,
                "{name} is gone from the catalogue"
            );
        }
    } else if store.backend() == Backend::Postgres {
        // A plain table: no partition, rows deleted in batches.
        assert!(partition_names(store).await.is_empty());
        assert!(stdout.contains(" 0 partition(s) dropped"), "{stdout}");
    } else {
        // "space: file A -> B pages …": the file shrank.
        let pages: Vec<i64> = stdout
            .split("space: file ")
            .nth(1)
            .unwrap_or_else(|| panic!("no space line: {stdout}"))
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .take(2)
            .collect();
        assert!(pages[1] < pages[0], "{stdout}");
        let auto_vacuum = count(
            store,
            "SELECT auto_vacuum AS n FROM pragma_auto_vacuum",
            &[],
        )
        .await;
        assert_eq!(auto_vacuum, 2, "a new store's auto_vacuum is incremental");
        assert_eq!(
            count(
                store,
                "SELECT freelist_count AS n FROM pragma_freelist_count",
                &[]
            )
            .await,
            0,
            "the freed pages went back to the file system"
        );
    }
    assert_eq!(
        count(store, "SELECT COUNT(*) AS n FROM retention_log", &[]).await,
        1
    );
    let logged = count(store, "SELECT rows_removed AS n FROM retention_log", &[]).await;
    assert_eq!(logged, would);

    // Now: the same findings as before retention.
    let now_after = outcome(&stdout_json(&run(&[])));
    assert_eq!(now_after, before);

    // As of 20 months ago: events before the horizon are gone, so every rule
    // that reads events is skipped with the reason; the run exits 4.
    let long_ago = (now - Duration::days(600))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let out = run(&["--as-of", &long_ago]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let old = stdout_json(&out);
    let idle = old["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "idle-accounts")
        .unwrap();
    assert_eq!(idle["status"], "skipped");
    let reason = idle["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("not reconstructible as of {long_ago}"))
            && reason.contains("were removed by retention on"),
        "{reason}"
    );
    // A rule that reads no events is still judged.
    let orphan = old["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "orphan-account");
    if let Some(orphan) = orphan {
        assert_ne!(orphan["status"], "skipped", "{orphan}");
    }
}

/// The key of events is (id, occurred_at) on both backends: the same id at
/// the same instant (however its offset is spelled) is one event, the
/// later row winning; at another instant it is another event.
async fn an_event_is_its_id_at_its_instant(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.csv");
    std::fs::write(
        &file,
        "id,occurred_at,principal_id,action,record_count\n\
         e1,2026-03-01T08:00:00Z,u1,export,1\n\
         e1,2026-03-01T16:00:00+08:00,u1,export,2\n\
         e1,2026-04-01T08:00:00Z,u1,export,3\n",
    )
    .unwrap();
    for _ in 0..2 {
        let out = cli(&db, &["import", "events", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rows = db
        .store
        .fetch_all(
            "SELECT occurred_at, record_count FROM events WHERE id = 'e1' ORDER BY occurred_at",
            &[],
        )
        .await
        .unwrap();
    let seen: Vec<(DateTime<Utc>, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.time("occurred_at").unwrap().unwrap(),
                r.i64("record_count").unwrap().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("2026-03-01T08:00:00Z".parse().unwrap(), 2),
            ("2026-04-01T08:00:00Z".parse().unwrap(), 3)
        ]
    );
}

on_both_backends!(
    retention_removes_what_is_older_than_keep,
    an_event_is_its_id_at_its_instant
);

/// A PostgreSQL store with events from before 0016 keeps every one of them
/// through the migration and through `partition_events`, each in its
/// month; a month created later takes its rows out of the default
/// partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioning_keeps_the_events_of_an_older_store() {
    let base = common::postgres_url();
    let schema = format!("t_{}", fastrand::u64(..));
    let admin = Store::connect(&base, StoreOptions::default())
        .await
        .unwrap();
    admin
        .execute(&format!("CREATE SCHEMA {schema}"), &[])
        .await
        .unwrap();
    let url = format!("{base}?options[search_path]={schema}");
    // The migrations before 0016, as a store made then has them.
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.as_str() < "0016" {
            std::fs::copy(&path, dir.path().join(&name)).unwrap();
        }
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(dir.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let times = [
        "2023-01-15T10:00:00Z",
        "2023-01-31T23:59:59.999999Z",
        "2023-02-01T00:00:00Z",
        "2024-07-04T12:00:00Z",
    ];
    for (i, t) in times.iter().enumerate() {
        sqlx::query(
            "INSERT INTO events (id, occurred_at, principal_id, action) VALUES ($1, $2::timestamptz, 'u1', 'login')",
        )
        .bind(format!("e{i}"))
        .bind(*t)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = Store::open(&url, StoreOptions::default()).await.unwrap();
    assert_eq!(
        count(&store, "SELECT COUNT(*) AS n FROM events", &[]).await,
        4
    );
    // Migrated, the table is still plain: partitioning is a choice.
    assert!(partition_names(&store).await.is_empty());
    assert!(store.partition_events().await.unwrap());
    assert!(!store.partition_events().await.unwrap(), "twice is once");
    assert_eq!(
        count(&store, "SELECT COUNT(*) AS n FROM events", &[]).await,
        4
    );
    let names = partition_names(&store).await;
    for month in [
        "events_p202301",
        "events_p202302",
        "events_p202407",
        "events_default",
    ] {
        assert!(names.contains(month), "{month} in {names:?}");
    }
    let in_month = |name: &str| format!("SELECT COUNT(*) AS n FROM {name}");
    assert_eq!(count(&store, &in_month("events_p202301"), &[]).await, 2);
    assert_eq!(count(&store, &in_month("events_p202302"), &[]).await, 1);
    assert_eq!(count(&store, &in_month("events_default"), &[]).await, 0);
    // The key is (id, occurred_at): the same id at another instant is
    // another event; at the same instant, the same one.
    store
        .execute(
            "INSERT INTO events (id, occurred_at, principal_id, action) VALUES ('e0', $1, 'u1', 'login')
             ON CONFLICT (id, occurred_at) DO NOTHING",
            &[SqlValue::time("2023-01-15T10:00:00Z".parse().unwrap())],
        )
        .await
        .unwrap();
    assert_eq!(
        count(&store, "SELECT COUNT(*) AS n FROM events", &[]).await,
        4
    );

    // A row of a month never created lands in the default partition; creating
    // the month moves it there.
    let stray: DateTime<Utc> = "2021-05-05T05:00:00Z".parse().unwrap();
    store
        .execute(
            "INSERT INTO events (id, occurred_at, principal_id, action) VALUES ('stray', $1, 'u1', 'login')",
            &[SqlValue::time(stray)],
        )
        .await
        .unwrap();
    assert_eq!(count(&store, &in_month("events_default"), &[]).await, 1);
    let mut tx = store.begin().await.unwrap();
    let created = partitions::ensure_months(&mut tx, stray, stray)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(created, ["events_p202105"]);
    assert_eq!(count(&store, &in_month("events_default"), &[]).await, 0);
    assert_eq!(count(&store, &in_month("events_p202105"), &[]).await, 1);
    assert_eq!(
        count(&store, "SELECT COUNT(*) AS n FROM events", &[]).await,
        5
    );
    // Months ahead of now exist (partition_events made them).
    let ahead = partitions::name_of(partitions::next_month(partitions::month_start(Utc::now())));
    assert!(partition_names(&store).await.contains(&ahead), "{ahead}");
    store.close().await;
}
