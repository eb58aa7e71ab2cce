//! PostgreSQL: production and scale-out.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Postgres;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::query::Query;

use super::{Result, SqlValue, StoreError, Tx};

pub(super) async fn connect(url: &str) -> Result<PgPool> {
    let err = |source| StoreError::Connect {
        url: super::redact_url(url),
        source,
    };
    let options = PgConnectOptions::from_str(url).map_err(err)?;
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(err)
}

/// `REPEATABLE READ READ ONLY`: every rule of a run sees the same snapshot, and
/// nothing in it can write. The timeout is bound, not spliced.
pub(super) async fn begin_scan(pool: &PgPool, timeout: Duration) -> Result<Tx> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT set_config('statement_timeout', $1, true)")
        .bind(format!("{}ms", timeout.as_millis()))
        .execute(&mut *tx)
        .await?;
    // No JIT for scans: the rules are index-driven with correlated subqueries,
    // whose estimated cost crosses jit_above_cost while the compile costs
    // seconds and wins nothing (over-privileged on 10k accounts: 2.6-5 s with
    // JIT, 0.27 s without; BENCHMARKS.md).
    sqlx::query("SELECT set_config('jit', 'off', true)")
        .execute(&mut *tx)
        .await?;
    Ok(Tx::Postgres(tx))
}

pub(super) fn bind_all<'q>(
    mut q: Query<'q, Postgres, PgArguments>,
    params: &[SqlValue],
) -> Query<'q, Postgres, PgArguments> {
    for p in params {
        q = match p {
            SqlValue::Bool(b) => q.bind(*b),
            SqlValue::Int(i) => q.bind(*i),
            SqlValue::Float(f) => q.bind(*f),
            SqlValue::Text(s) => q.bind(s.clone()),
            SqlValue::Time(t) => q.bind(*t),
            SqlValue::TextList(items) => q.bind(items.clone()),
            SqlValue::Bytes(b) => q.bind(b.clone()),
        };
    }
    q
}
