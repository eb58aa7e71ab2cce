//! Text from data made safe where people read it. A display name, a login
//! or an exception reason comes from a source or a CSV file, so it may hold
//! characters that drive a terminal (ESC sequences, BEL, NUL) or reorder
//! what is shown (bidirectional overrides such as U+202E, isolates
//! U+2066–2069, zero-width characters): enough to forge a line of a report.

/// Unicode's format characters (general category Cf, Unicode 15.1), which
/// are invisible but change how text is shown.
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a format character (Cf).
pub fn is_format(c: char) -> bool {
    FORMAT_CHARACTERS
        .iter()
        .any(|(from, to)| (*from..=*to).contains(&c))
}

/// Line breaks other than `\n` and `\r` that a text view honours.
fn is_line_break(c: char) -> bool {
    matches!(c, '\u{0085}' | '\u{2028}' | '\u{2029}')
}

/// For a terminal: every control and format character replaced by `?`, so
/// that nothing in the data is invisible or acts on the terminal.
pub fn for_terminal(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || is_format(c) || is_line_break(c) {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// For a value inside a plain-text message: line breaks and tabs folded
/// into a space (a value cannot start a line of its own), every other
/// control and format character dropped.
pub fn for_plain_text(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if is_line_break(c) => Some(' '),
            c if c.is_control() || is_format(c) => None,
            c => Some(c),
        })
        .collect()
}

/// `s` as HTML text or attribute value: `&`, `<`, `>`, `"` and `'`
/// escaped, so that whatever a name holds is shown as text.
///
/// ```
/// use accessaudit::support::text::html_escape;
/// assert_eq!(html_escape("<b a='1'>&\""), "&lt;b a=&#39;1&#39;&gt;&amp;&quot;");
/// ```
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_zero_width_characters_are_format_characters() {
        for c in [
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200B}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
        ] {
            assert!(is_format(c), "{:04X}", c as u32);
        }
        for c in ['a', '张', ' ', '\u{2010}', '\u{00A0}'] {
            assert!(!is_format(c), "{:04X}", c as u32);
        }
    }

    #[test]
    fn terminals_see_no_control_or_format_character() {
        assert_eq!(
            for_terminal("ad\u{202E}nimda\u{1b}[2J\u{7}x\u{0}\u{2028}"),
            "ad?nimda?[2J?x??"
        );
        assert_eq!(for_terminal("张伟 (sales)"), "张伟 (sales)");
    }

    #[test]
    fn plain_text_values_stay_on_their_line() {
        assert_eq!(
            for_plain_text("alice\nFINDINGS: 0\r\n\tok\u{1b}[1m\u{7}\u{0}\u{2066}x\u{2069}"),
            "alice FINDINGS: 0   ok[1mx"
        );
        assert_eq!(for_plain_text("张伟"), "张伟");
    }
}
