//! A rule or override file, loaded beside the shipped rules (so an override
//! can reach every kind's parameters).
#![no_main]

use std::path::PathBuf;

use accessaudit::engine::load::{builtin_files, is_rule_file, load_sources};
use accessaudit::engine::{RuleKind, SourceFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = accessaudit_fuzz::text(data) else {
        return;
    };
    let mut files = builtin_files(is_rule_file);
    files.push(SourceFile {
        path: PathBuf::from("fuzz.yaml"),
        text: text.to_string(),
    });
    match load_sources(&files) {
        Ok(set) => {
            for rule in set.enabled() {
                // A loaded custom SQL rule's query compiles to positional parameters.
                if let RuleKind::Sql(p) = &rule.kind {
                    let _ = accessaudit::engine::named_params::compile(&p.query);
                }
                let _ = serde_json::to_string(&rule.kind);
            }
        }
        Err(errors) => accessaudit_fuzz::check_located(&errors),
    }
    // The custom SQL parameter compiler on the raw text too.
    let _ = accessaudit::engine::named_params::compile(text);
});
