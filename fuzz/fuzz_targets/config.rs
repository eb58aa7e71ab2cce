//! The configuration file (`--config`): jobs, schedules, mail, sources.
#![no_main]

use std::path::Path;

use accessaudit::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = accessaudit_fuzz::text(data) else {
        return;
    };
    match Config::parse(Path::new("accessaudit.yaml"), text) {
        Ok(config) => {
            let _ = config.tz();
        }
        Err(errors) => accessaudit_fuzz::check_located(&errors),
    }
});
