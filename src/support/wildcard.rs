//! The one wildcard matcher: `*` matches any run of characters (also none),
//! `?` exactly one character, everything else itself. Used for exception
//! subjects, sensitive permissions and file-name patterns of sources, so a
//! pattern means the same wherever a person writes one.
//!
//! (A crate would bring path globbing — `/`, `**`, character classes — that
//! none of these places wants.)

/// Whether letter case matters when matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Sensitive,
    /// Both sides lower-cased first (Unicode lower case).
    Insensitive,
}

/// Whether `text` matches `pattern` as a whole.
pub fn matches(pattern: &str, text: &str, case: Case) -> bool {
    let fold = |s: &str| -> Vec<char> {
        match case {
            Case::Sensitive => s.chars().collect(),
            Case::Insensitive => s.to_lowercase().chars().collect(),
        }
    };
    let (p, t) = (fold(pattern), fold(text));
    // Iterative, with one backtrack point (the last `*`): linear in
    // practice and no recursion, whatever the pattern.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether the pattern has a wildcard at all (else it names one thing).
pub fn has_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::{Case, matches};

    #[test]
    fn stars_match_runs_and_question_marks_one_character() {
        let s = Case::Sensitive;
        assert!(matches("svc-*", "svc-backup", s));
        assert!(matches("svc-*", "svc-", s));
        assert!(!matches("svc-*", "svc", s));
        assert!(matches("p?", "p1", s));
        assert!(!matches("p?", "p12", s));
        assert!(matches("a*b*c", "a-x-b-y-c", s));
        assert!(!matches("a*b*c", "a-x-c", s));
        assert!(matches("*", "", s));
        assert!(!matches("", "x", s));
        assert!(matches(
            "wk-login-log-*.jsonl",
            "wk-login-log-2026.11.jsonl",
            s
        ));
        assert!(!matches(
            "wk-login-log-*.jsonl",
            "wk-login-log-2026.11.json",
            s
        ));
    }

    #[test]
    fn case_folding_is_a_choice() {
        assert!(matches(
            "*.export",
            "crm.customer.EXPORT",
            Case::Insensitive
        ));
        assert!(!matches("*.export", "crm.customer.EXPORT", Case::Sensitive));
        assert!(!matches("*.export", "customer.exporter", Case::Insensitive));
        assert!(matches(
            "crm.*.delete",
            "crm.lead.delete",
            Case::Insensitive
        ));
        assert!(!matches(
            "crm.*.delete",
            "hr.lead.delete",
            Case::Insensitive
        ));
    }

    #[test]
    fn long_inputs_do_not_backtrack_exponentially() {
        let text = "a".repeat(5_000);
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!matches(&pattern, &text, Case::Sensitive));
    }
}
