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
    let options = without_jit(PgConnectOptions::from_str(url).map_err(err)?);
    // One connection first, alone: the pool retries a failed connection
    // until its timeout and then says only that it timed out, while this
    // says why (connection refused, a wrong password, no such database).
    {
        use sqlx::Connection;
        let first = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::PgConnection::connect_with(&options),
        )
        .await
        .map_err(|_| err(sqlx::Error::PoolTimedOut))?
        .map_err(err)?;
        let _ = first.close().await;
    }
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(err)
}

/// Every connection starts with JIT off, unless the URL sets it
/// (`options[jit]=on`): our statements are index-driven, and their
/// estimated cost crosses `jit_above_cost` where compiling takes longer
/// than running. A run's read-back of 1,000 findings at 1M accounts spent
/// 25 ms of its 32 ms compiling. (Scans also turn it off in their
/// transaction, whatever the URL says: `assert_scan_settings`.)
fn without_jit(options: PgConnectOptions) -> PgConnectOptions {
    if options.get_options().is_some_and(|o| o.contains("jit=")) {
        options
    } else {
        options.options([("jit", "off")])
    }
}

/// One text value of a query without parameters.
pub(super) async fn text(pool: &PgPool, sql: &'static str) -> Result<String> {
    let row = sqlx::query(sql).fetch_one(pool).await?;
    Ok(sqlx::Row::try_get::<String, _>(&row, 0)?)
}

/// `REPEATABLE READ READ ONLY`: every rule of a run sees the same snapshot, and
/// nothing in it can write. The timeout is bound, not spliced.
pub(super) async fn begin_scan(pool: &PgPool, timeout: Duration) -> Result<Tx> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let mut tx = Tx::Postgres(tx);
    assert_scan_settings(&mut tx, timeout).await?;
    Ok(tx)
}

/// Sets, for the rest of the transaction, what scans rely on: the statement
/// timeout; no JIT (the rules are index-driven with correlated subqueries,
/// whose estimated cost crosses jit_above_cost while the compile costs
/// seconds and wins nothing: over-privileged on 10k accounts took 2.6-5 s
/// with JIT, 0.27 s without; BENCHMARKS.md); and the session's own
/// search_path and role (their values at connection, which no SET changes),
/// so that a rule cannot point the next ones at other tables or another
/// role. The engine runs this again before every rule. (READ ONLY needs no
/// repeating: a read-only transaction cannot be made read-write.)
pub(super) async fn assert_scan_settings(tx: &mut Tx, timeout: Duration) -> Result<()> {
    let Tx::Postgres(tx) = tx else {
        return Ok(());
    };
    sqlx::query(
        "SELECT set_config('statement_timeout', $1, true), set_config('jit', 'off', true), \
         set_config('search_path', (SELECT reset_val FROM pg_settings WHERE name = 'search_path'), true), \
         set_config('role', (SELECT reset_val FROM pg_settings WHERE name = 'role'), true)",
    )
    .bind(format!("{}ms", timeout.as_millis()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_start_without_jit_unless_the_url_sets_it() {
        let plain =
            without_jit(PgConnectOptions::from_str("postgres://u:p@localhost/db").expect("url"));
        assert_eq!(plain.get_options(), Some("-c jit=off"));
        let chosen = without_jit(
            PgConnectOptions::from_str("postgres://u:p@localhost/db?options[jit]=on").expect("url"),
        );
        assert_eq!(chosen.get_options(), Some("-c jit=on"));
    }
}
