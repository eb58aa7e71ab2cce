//! The `accessaudit` binary: parse the command line, start telemetry, dispatch.

use std::process::ExitCode;

use clap::Parser;

use accessaudit::cli::Cli;

fn main() -> ExitCode {
    accessaudit_malloc_tuning::limit_arenas();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
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
