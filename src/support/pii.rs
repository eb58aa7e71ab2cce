//! Personal data in messages for recipients who should not see it: logins,
//! emails, names and account ids replaced by a mask, or by a keyed pseudonym
//! (HMAC-SHA256 under a secret key) that an auditor holding the key maps
//! back with `accessaudit pii reveal`. The same value gives the same
//! pseudonym in every message, so a pseudonymised report still shows which
//! findings belong to one account.

use std::collections::HashSet;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::secrets::Secret;

/// How much personal data a recipient sees. Ordered by strictness: an
/// address in two groups gets the stricter profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    #[default]
    Clear,
    /// Keyed pseudonyms (`pii-…`), re-identifiable with the key.
    Pseudonymise,
    /// `[masked]`, not re-identifiable from the message.
    Mask,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Clear => "clear",
            Profile::Pseudonymise => "pseudonymise",
            Profile::Mask => "mask",
        }
    }
}

pub const MASK: &str = "[masked]";
pub const TOKEN_PREFIX: &str = "pii-";

/// HMAC-SHA256 (RFC 2104), by the `hmac` crate of the `digest` generation
/// that `sha2` 0.10 belongs to.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The pseudonym of a value: case does not matter (emails and logins are
/// matched case-insensitively elsewhere too).
pub fn pseudonym(key: &Secret, value: &str) -> String {
    let mac = hmac_sha256(key.expose().as_bytes(), value.to_lowercase().as_bytes());
    format!("{TOKEN_PREFIX}{}", hex(&mac[..10]))
}

/// Characters of a login or an email: a run of them is one word.
fn word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+' | '\\' | '\'')
}

/// Punctuation a sentence may put around a word.
fn trim_word(w: &str) -> &str {
    w.trim_matches(|c| matches!(c, '.' | '-' | '_' | '\''))
}

/// Replaces personal data in text. Logins and emails are known words
/// (looked up whole, so `5000` in "5000 records" is never touched); names,
/// which contain spaces, are replaced as phrases where the caller knows
/// whose they are.
pub struct Masker {
    profile: Profile,
    key: Option<Secret>,
    words: HashSet<String>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Masker({}, {} words)",
            self.profile.as_str(),
            self.words.len()
        )
    }
}

impl Masker {
    /// A masker for `profile` (not `Clear`); `Pseudonymise` needs the key.
    pub fn new(profile: Profile, key: Option<Secret>) -> Masker {
        Masker {
            profile,
            key,
            words: HashSet::new(),
        }
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// A login or an email to replace wherever it stands as a word.
    pub fn add_word(&mut self, value: &str) {
        let v = value.trim();
        if !v.is_empty() {
            self.words.insert(v.to_lowercase());
        }
    }

    /// What a value becomes.
    pub fn replacement(&self, value: &str) -> String {
        match (self.profile, &self.key) {
            (Profile::Pseudonymise, Some(key)) => pseudonym(key, value.trim()),
            _ => MASK.to_string(),
        }
    }

    /// `text` with known words and the given phrases replaced.
    pub fn text(&self, text: &str, phrases: &[String]) -> String {
        let mut text = text.to_string();
        for p in phrases.iter().filter(|p| p.trim().chars().count() > 1) {
            if text.contains(p.as_str()) {
                text = text.replace(p.as_str(), &self.replacement(p));
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            if !word.is_empty() {
                if self.words.contains(&word.to_lowercase()) {
                    out.push_str(&self.replacement(word));
                } else {
                    let core = trim_word(word);
                    if !core.is_empty() && self.words.contains(&core.to_lowercase()) {
                        let start = word.find(core).unwrap_or(0);
                        out.push_str(&word[..start]);
                        out.push_str(&self.replacement(core));
                        out.push_str(&word[start + core.len()..]);
                    } else {
                        out.push_str(word);
                    }
                }
                word.clear();
            }
        };
        for c in text.chars() {
            if word_char(c) {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }

    /// Every string inside a JSON value, masked.
    pub fn json(&self, value: &mut serde_json::Value, phrases: &[String]) {
        match value {
            serde_json::Value::String(s) => *s = self.text(s, phrases),
            serde_json::Value::Array(items) => {
                items.iter_mut().for_each(|v| self.json(v, phrases));
            }
            serde_json::Value::Object(map) => {
                map.values_mut().for_each(|v| self.json(v, phrases));
            }
            _ => {}
        }
    }
}

/// Whether `text` shows one of `values` (logins, emails) as a word: the
/// check a masked message must pass before it is sent.
pub fn shows_any(text: &str, values: &HashSet<String>) -> bool {
    text.split(|c: char| !word_char(c)).any(|w| {
        !w.is_empty()
            && (values.contains(&w.to_lowercase()) || values.contains(&trim_word(w).to_lowercase()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn key() -> Secret {
        Secret::new("k".to_string())
    }

    #[test]
    fn words_are_replaced_whole_and_phrases_where_given() {
        let mut m = Masker::new(Profile::Mask, None);
        m.add_word("jdoe");
        m.add_word("Jane.Doe@example.com");
        let t = m.text(
            "Account jdoe (jane.doe@example.com) exported 5000 rows; jdoe2 did not. Ask Jane Doe, jdoe.",
            &["Jane Doe".to_string()],
        );
        assert_eq!(
            t,
            "Account [masked] ([masked]) exported 5000 rows; jdoe2 did not. Ask [masked], [masked]."
        );
        let values: HashSet<String> = ["jdoe".to_string()].into();
        assert!(!shows_any(&t, &values));
        assert!(shows_any("by jdoe.", &values));
        assert!(!shows_any("by jdoe2", &values));
    }

    #[test]
    fn pseudonyms_are_stable_keyed_and_case_blind() {
        let mut m = Masker::new(Profile::Pseudonymise, Some(key()));
        m.add_word("jdoe");
        let a = m.text("jdoe and JDOE", &[]);
        let p = pseudonym(&key(), "jdoe");
        assert_eq!(a, format!("{p} and {p}"));
        assert!(p.starts_with(TOKEN_PREFIX) && p.len() == TOKEN_PREFIX.len() + 20);
        let other = Secret::new("other".to_string());
        assert_ne!(pseudonym(&other, "jdoe"), p);
    }
}
