//! A decisions sheet (`accessaudit reviews import-decisions ID FILE.csv`).
#![no_main]

use std::path::Path;

use accessaudit::review::ReviewError;
use accessaudit::review::sheet::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for by in [None, Some("boss@example.com")] {
        match parse(Path::new("decisions.csv"), data, by) {
            Ok(sheet) => {
                for row in &sheet.rows {
                    assert!(row.line >= 2, "a decision on the header line");
                    assert!(!row.by.is_empty(), "a decision by nobody");
                }
            }
            Err(ReviewError::File(errors)) => {
                assert!(!errors.is_empty());
                for e in &errors {
                    accessaudit_fuzz::check_one(e);
                }
            }
            Err(e) => panic!("parsing reported {e}"),
        }
    }
});
