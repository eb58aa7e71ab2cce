//! Audit rules: the YAML model, strict loading with located errors, and the
//! rule tests that live beside the rule files.

mod load;
mod model;
pub mod named_params;
pub mod testing;

pub use load::{
    RuleErrors, RuleSet, SourceFile, builtin_files, is_rule_file, is_test_file, layered, load,
    load_sources, read_files, validate, with_params,
};
pub use model::*;
