//! Chinese names in pinyin (for logins and the HR roster) and in characters
//! (the CRM's 真实姓名 display name).

/// (pinyin, characters), in the file's order.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NamesFile {
    surnames: Vec<(String, String)>,
    given: Vec<(String, String)>,
}

/// Part of the build, parsed by the test below: a failure is a broken build.
static NAMES: std::sync::LazyLock<NamesFile> = std::sync::LazyLock::new(|| {
    serde_saphyr::from_str(include_str!("data/names.yaml"))
        .unwrap_or_else(|e| panic!("src/demo/data/names.yaml: {e}"))
});

/// A generated name.
pub(super) struct Name {
    /// "Wang Fang"
    pub full: String,
    /// "王芳"
    pub hanzi: String,
    /// "wang.fang" (made unique by the caller)
    pub login_base: String,
}

pub(super) fn pick(rng: &mut fastrand::Rng) -> Name {
    let (sp, sh) = &NAMES.surnames[rng.usize(..NAMES.surnames.len())];
    let (gp, gh) = &NAMES.given[rng.usize(..NAMES.given.len())];
    Name {
        full: format!("{sp} {gp}"),
        hanzi: format!("{sh}{gh}"),
        login_base: format!("{}.{}", sp.to_lowercase(), gp.to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_data_file_holds_both_lists() {
        assert_eq!(super::NAMES.surnames.len(), 45);
        assert_eq!(super::NAMES.given.len(), 55);
        assert_eq!(super::NAMES.surnames[0], ("Wang".into(), "王".into()));
    }
}
