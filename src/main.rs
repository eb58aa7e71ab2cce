//! The `accessaudit` binary: parse the command line, start telemetry, dispatch.

use std::process::ExitCode;

use clap::Parser;

use accessaudit::cli::Cli;

fn main() -> ExitCode {
    limit_malloc_arenas();
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

/// glibc gives each thread that contends for memory an arena of its own
/// (up to eight per core) and keeps what is freed in it, and serves large
/// blocks from its arenas once a large block has been freed (the mmap
/// threshold rises with it): a process that streams a large run through
/// several threads (the runtime's, one per SQLite connection) and builds
/// a few large strings (a report's HTML, its message) then holds far more
/// than it uses (measured: 343 MB of peak RSS for 164 MB of peak heap on a
/// 686k-finding report). Two arenas and a fixed threshold (blocks of 256
/// KiB and more are mapped, and returned when freed), set before any
/// thread starts, keep the footprint close to the heap.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc parameters; called before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
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
