//! Test databases: real ones, never mocks.
//!
//! SQLite runs in a temporary file. PostgreSQL is the server `.ci/services`
//! starts; each test gets a schema of its own. A PostgreSQL test fails (never
//! skips) when the server is missing.

use accessaudit::store::{Store, StoreOptions};

/// A scratch database and its URL; the SQLite file lives as long as this.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = Store::open(&url, StoreOptions::default())
        .await
        .expect("open SQLite");
    TestDb {
        store,
        url,
        _dir: Some(dir),
    }
}

/// The PostgreSQL server of the tests: `ACCESSAUDIT_TEST_POSTGRES_URL`.
pub fn postgres_url() -> String {
    std::env::var("ACCESSAUDIT_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "ACCESSAUDIT_TEST_POSTGRES_URL is not set: PostgreSQL tests need a real server. \
             Start one with `eval \"$(bash .ci/services)\"` (what .ci/run does)."
        )
    })
}

pub async fn postgres() -> TestDb {
    let base = postgres_url();
    let schema = format!("t_{}", fastrand::u64(..));
    let admin = Store::connect(&base, StoreOptions::default())
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at ACCESSAUDIT_TEST_POSTGRES_URL is not reachable: {e}")
        });
    admin
        .execute(&format!("CREATE SCHEMA {schema}"), &[])
        .await
        .expect("create test schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    let store = Store::open(&url, StoreOptions::default())
        .await
        .expect("open PostgreSQL");
    TestDb {
        store,
        url,
        _dir: None,
    }
}

/// Runs an async test body against SQLite and against PostgreSQL, as two tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(super::common::sqlite().await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(super::common::postgres().await).await
                }
            }
        )+
    };
}
