//! CSV import of every canonical table: header mapping and every cell,
//! checked as `accessaudit import` checks them (no database involved).
#![no_main]

use std::path::Path;

use accessaudit::collect::csv_import::{ImportError, check_reader};
use accessaudit::collect::tables::ALL;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let spec = ALL[usize::from(pick) % ALL.len()];
    match check_reader(spec, Path::new("fuzz.csv"), rest) {
        Ok(_) => {}
        Err(ImportError::Invalid { errors, total, .. }) => {
            assert!(total >= errors.len() && !errors.is_empty());
            for e in errors {
                assert!(!e.message.is_empty(), "{e:?}");
            }
        }
        Err(e) => panic!("checking CSV text reported {e}"),
    }
});
