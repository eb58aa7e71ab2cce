//! PostgreSQL: production and scale-out.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::error::{Result, StoreError, redact_url};
use super::tx::Tx;

pub(super) async fn connect(url: &str) -> Result<PgPool> {
    let err = |source| StoreError::Connect {
        url: redact_url(url),
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
