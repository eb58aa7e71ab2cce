//! The one harness every integration test uses: real databases (`db`), the
//! real binary with a clean environment (`accessaudit`), the daemon with a
//! real SMTP server (`daemon`), and headless Chromium (`browser`). Never
//! mocks.
#![allow(dead_code)]

pub mod browser;
pub mod daemon;
#[macro_use]
pub mod db;

pub use db::*;

use std::process::Command;

/// The `accessaudit` binary of this build with every `ACCESSAUDIT_*`
/// variable and `CREDENTIALS_DIRECTORY` of the test process cleared, so
/// that what a test does not pass cannot leak in (the test runner's own
/// ACCESSAUDIT_TEST_* URLs, a developer's ACCESSAUDIT_DATABASE_URL).
pub fn accessaudit() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_accessaudit"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ACCESSAUDIT_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("CREDENTIALS_DIRECTORY");
    cmd
}
