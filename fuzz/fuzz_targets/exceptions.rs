//! An exceptions file (`accessaudit exceptions load FILE`).
#![no_main]

use std::path::Path;

use accessaudit::report::exceptions::{ExceptionError, parse_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = accessaudit_fuzz::text(data) else {
        return;
    };
    let known = |rule: &str| matches!(rule, "idle-accounts" | "bulk-export" | "over-privileged");
    match parse_file(Path::new("exceptions.yaml"), text, known) {
        Ok(entries) => {
            for e in &entries {
                assert!(
                    e.problems().is_empty(),
                    "an accepted exception has problems"
                );
            }
        }
        Err(ExceptionError::File(errors)) => {
            assert!(!errors.is_empty());
            for e in &errors {
                accessaudit_fuzz::check_one(e);
            }
        }
        Err(e) => panic!("parsing reported {e}"),
    }
});
