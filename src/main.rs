//! The `accessaudit` binary: parse the command line, start telemetry, dispatch.

use std::process::ExitCode;

use clap::Parser;

use accessaudit::cli::Cli;

/// accessaudit's own memory (`accessaudit_malloc_tuning`: why, and how tuned).
#[global_allocator]
static ALLOCATOR: accessaudit_malloc_tuning::MiMalloc = accessaudit_malloc_tuning::MiMalloc;

fn main() -> ExitCode {
    // Parsed before any thread starts: how malloc is tuned depends on the
    // command (and clap needs no runtime).
    let cli = Cli::parse();
    let arenas = match cli.command {
        // A report reads its findings and composes its message mostly on
        // one thread; with one arena what the first phase freed is reused
        // by the second (peak RSS at 686k findings: 98.3 and 99.2 MB
        // against 100.2 and 101.0 MB with two, BENCHMARKS.md).
        accessaudit::cli::Command::Report(_) => 1,
        _ => 2,
    };
    accessaudit_malloc_tuning::limit_arenas(arenas);
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
    let daemon = matches!(cli.command, accessaudit::cli::Command::Serve);
    accessaudit::telemetry::init(cli.global.log_format, daemon);
    let result = if daemon {
        let overrides = accessaudit::commands::overrides(&cli.global);
        accessaudit::daemon::serve(overrides)
            .await
            .map(|()| ExitCode::SUCCESS)
    } else {
        accessaudit::commands::dispatch(cli).await
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: typed errors
/// already quote their source in their own message.
fn describe(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}
