//! CSV import of every canonical table: header mapping and every cell,
//! checked as `accessaudit import` checks them (no database involved).
#![no_main]

use std::path::Path;

use accessaudit::collect::csv_import::{ImportError, ImportOptions, check_reader};
use accessaudit::collect::namespace::Namespace;
use accessaudit::collect::tables::ALL;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let spec = ALL[usize::from(pick) % ALL.len()];
    // The high bits pick the separator and the zone of offset-less times.
    let options = ImportOptions {
        delimiter: [b',', b';', b'\t', b'|'][usize::from(pick >> 4) % 4],
        timezone: if pick & 0x80 == 0 {
            chrono_tz::UTC
        } else {
            chrono_tz::Asia::Shanghai
        },
        extra_actions: vec!["approve".into()],
        namespace: if pick & 0x08 == 0 {
            Namespace::as_given()
        } else {
            Namespace::named("erp")
        },
    };
    match check_reader(spec, Path::new("fuzz.csv"), rest, &options) {
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
