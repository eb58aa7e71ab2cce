//! The benchmark machinery at a tiny scale: the generator fills each backend,
//! and for every shipped rule the engine (the real binary) and the
//! hand-written reference query (run by `sqlite3` / `psql`) must give exactly
//! the same findings. This keeps the reference queries of BENCHMARKS.md honest.

#[path = "../../tests/integration/common/db.rs"]
#[allow(dead_code)]
#[macro_use]
mod common;

use accessaudit_bench::generate::{self, GenerateOptions};
use accessaudit_bench::harness::{self, Engine, Target};
use accessaudit_bench::reference::RULES;

use common::TestDb;

/// The `accessaudit` binary of this build, which the engine side runs.
/// `cargo test --workspace` builds it into the directory above this test's
/// (`target/debug/accessaudit` beside `target/debug/deps/`).
fn accessaudit_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let bin = exe
        .parent()
        .and_then(std::path::Path::parent)
        .map(|dir| dir.join("accessaudit"))
        .expect("the test runs inside a target directory");
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds it",
        bin.display()
    );
    bin
}

async fn engine_and_reference_agree(db: TestDb) {
    let opts = GenerateOptions {
        scale: 0.002, // 2,000 accounts: two planted cases of every kind
        events_per_account: 30.0,
        seed: 11,
    };
    let made = generate::generate(&db.store, &opts)
        .await
        .expect("generate");
    assert_eq!(made.principals, 2_000);
    assert!(made.grants > made.principals, "{made:?}");
    assert!(made.events > 30_000, "{made:?}");

    let engine = Engine {
        binary: accessaudit_binary(),
    };
    let target = Target::new(&db.url).expect("target");
    let t = generate::as_of();
    for rule in RULES {
        let c = tokio::task::block_in_place(|| harness::compare_rule(&engine, &target, rule, t, 1))
            .unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert!(
            c.agree(),
            "{rule}: only the engine found {:?}; only the reference found {:?}",
            c.only_engine,
            c.only_reference
        );
        assert!(
            c.findings > 0,
            "{rule}: the data set plants cases of every rule"
        );
        eprintln!(
            "{rule}: {} findings, engine {:?}, reference {:?}",
            c.findings,
            c.engine_median(),
            c.reference_median()
        );
    }

    // `floor` times storing and reading back a run's findings in the
    // database's own client, rolled back, then forgets the engine's run:
    // nothing it measured stays.
    let (runs, findings) = (count(&db, "runs").await, count(&db, "findings").await);
    let f = tokio::task::block_in_place(|| {
        harness::floor_rule(&engine, &target, "idle-accounts", t, 1)
    })
    .expect("floor");
    assert!(f.findings > 0, "{f:?}");
    assert_eq!(
        (count(&db, "runs").await, count(&db, "findings").await),
        (runs, findings),
        "the measured run and its copy are gone"
    );
}

async fn event_count(db: &TestDb) -> i64 {
    count(db, "events").await
}

async fn count(db: &TestDb, table: &str) -> i64 {
    db.store
        .fetch_all(&format!("SELECT COUNT(*) AS n FROM {table}"), &[])
        .await
        .expect("count")[0]
        .i64("n")
        .expect("n")
        .expect("a count")
}

async fn alert_scan_sees_only_new_exports(db: TestDb) {
    let opts = GenerateOptions {
        scale: 0.001,
        events_per_account: 10.0,
        seed: 3,
    };
    generate::generate(&db.store, &opts)
        .await
        .expect("generate");
    let before: i64 = event_count(&db).await;
    let t = generate::append_events(&db.store, &opts, 500, 10)
        .await
        .expect("append");
    assert_eq!(t, generate::as_of() + chrono::Duration::minutes(10));
    let after = event_count(&db).await;
    assert_eq!(after - before, 500);
    // Appending again replaces the earlier batch: the measurement can be rerun.
    generate::append_events(&db.store, &opts, 300, 10)
        .await
        .expect("append again");
    let again = event_count(&db).await;
    assert_eq!(again - before, 300);
}

on_both_backends!(engine_and_reference_agree, alert_scan_sees_only_new_exports);
