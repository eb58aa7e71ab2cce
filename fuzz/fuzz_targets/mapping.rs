//! A source mapping, for each kind of source (SQL, file, index), and the
//! check every mapping query goes through.
#![no_main]

use std::path::Path;

use accessaudit::collect::mapping::{FeedStyle, Mapping, check_query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&style, rest)) = data.split_first() else {
        return;
    };
    let Some(text) = accessaudit_fuzz::text(rest) else {
        return;
    };
    let style = match style % 4 {
        0 => FeedStyle::Sql,
        1 => FeedStyle::File,
        2 => FeedStyle::Index,
        _ => FeedStyle::Directory,
    };
    match Mapping::parse(Path::new("mapping.yaml"), text, style) {
        Ok(mapping) => {
            let _ = mapping.tz();
            let _ = mapping.ordered_feeds();
        }
        Err(errors) => accessaudit_fuzz::check_located(&errors),
    }
    let _ = check_query(text);
});
