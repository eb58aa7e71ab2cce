//! The `accessaudit` binary: parse the command line, start telemetry, dispatch.

use std::process::ExitCode;

use clap::Parser;

use accessaudit::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    accessaudit::telemetry::init(cli.global.log_format);
    match accessaudit::commands::dispatch(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
