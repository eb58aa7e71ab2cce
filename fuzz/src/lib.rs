//! What every fuzz target checks besides "no panic, no hang, no blow-up":
//! a refused input is refused with an error a person can act on.

use accessaudit::yaml::{LocatedError, LocatedErrors};

/// Every error names what is wrong and renders as `file:line:column: …`.
pub fn check_located(errors: &LocatedErrors) {
    assert!(!errors.0.is_empty(), "refused without an error");
    for e in &errors.0 {
        check_one(e);
    }
}

pub fn check_one(e: &LocatedError) {
    assert!(
        !e.message.trim().is_empty(),
        "an error without a message: {e:?}"
    );
    let shown = e.to_string();
    assert!(shown.starts_with(&e.file.display().to_string()), "{shown}");
}

/// The fuzz input as text: the parsers take `&str` (files are read as UTF-8
/// and refused with a located error when they are not).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}
