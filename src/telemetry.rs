//! Logging through `tracing`, on stderr, as human text or JSON lines.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. `RUST_LOG` sets the level (default: warn
/// for commands, so that their output stays readable; info for the daemon,
/// whose log is its record of what it did).
/// sqlx's "slow statement" warnings are off by default: an audit scan of a
/// large table is slow by nature, and the run records each rule's duration.
pub fn init(format: LogFormat, daemon: bool) {
    let default = if daemon {
        "info,sqlx::query=error"
    } else {
        "warn,sqlx::query=error"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
