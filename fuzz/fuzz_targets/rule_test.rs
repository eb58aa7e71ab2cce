//! A rule test file (`<rule>.test.yaml`): fixtures, params, expectations.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = accessaudit_fuzz::text(data) else {
        return;
    };
    if let Err(e) = accessaudit::engine::testing::parse(Path::new("fuzz.test.yaml"), text) {
        accessaudit_fuzz::check_one(&e);
    }
});
