//! `:name` placeholders of custom SQL rules, compiled to `$n` positions.
//!
//! Values are bound, never spliced: this only rewrites placeholder names into
//! the positional form both backends accept, skipping string literals, quoted
//! identifiers, comments and PostgreSQL `::type` casts.

/// A query with `$1…$n` placeholders and the names bound to each position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledQuery {
    pub sql: String,
    /// `names[i]` is bound to `$(i + 1)`.
    pub names: Vec<String>,
}

/// Why a custom query is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query must be one SELECT (or WITH … SELECT) statement")]
    NotASelect,
    #[error(
        "more than one statement: the query must be a single statement (found `;` before its end)"
    )]
    SeveralStatements,
    #[error(
        "positional placeholders (`?`, `$1`) are not allowed; name them `:name` and set them in params"
    )]
    Positional,
    #[error("unterminated quote or comment")]
    Unterminated,
}

/// Rewrites `:name` to `$n`; the same name reuses its position.
pub fn compile(query: &str) -> Result<CompiledQuery, QueryError> {
    let trimmed = query.trim().trim_end_matches(';').trim_end();
    let first_word: String = strip_leading_comments(trimmed)
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    if first_word != "select" && first_word != "with" {
        return Err(QueryError::NotASelect);
    }

    // SQLite's tokenizer also knows `[…]` and backtick identifiers, which
    // the scan below does not; a `;` hidden in them still ends a statement
    // there. (Dollar-quoted PostgreSQL strings would confuse it: skipped.
    // The store's prepare-time guard is the real boundary.)
    if !trimmed.contains('$') && accessaudit_sqlite_guard::several_statements(trimmed) {
        return Err(QueryError::SeveralStatements);
    }

    let chars: Vec<char> = trimmed.chars().collect();
    let mut out = String::with_capacity(trimmed.len());
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' => {
                let end = find_closing(&chars, i + 1, c).ok_or(QueryError::Unterminated)?;
                out.extend(&chars[i..=end]);
                i = end + 1;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                let end = chars[i..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map_or(chars.len(), |p| i + p);
                out.extend(&chars[i..end]);
                i = end;
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let end = (i + 2..chars.len().saturating_sub(1))
                    .find(|&j| chars[j] == '*' && chars[j + 1] == '/')
                    .ok_or(QueryError::Unterminated)?;
                out.extend(&chars[i..end + 2]);
                i = end + 2;
            }
            ';' => return Err(QueryError::SeveralStatements),
            '?' => return Err(QueryError::Positional),
            '$' if chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                return Err(QueryError::Positional);
            }
            ':' if chars.get(i + 1) == Some(&':') => {
                out.push_str("::");
                i += 2;
            }
            ':' if chars
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') =>
            {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_')
                {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                let position = match names.iter().position(|n| *n == name) {
                    Some(p) => p + 1,
                    None => {
                        names.push(name);
                        names.len()
                    }
                };
                out.push_str(&format!("${position}"));
                i = end;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(CompiledQuery { sql: out, names })
}

fn find_closing(chars: &[char], mut i: usize, quote: char) -> Option<usize> {
    while i < chars.len() {
        if chars[i] == quote {
            // A doubled quote is an escaped quote inside the literal.
            if chars.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

fn strip_leading_comments(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_positions_and_repeat() {
        let q = compile("SELECT id AS subject_id FROM principals WHERE created_at < :as_of AND login = :login OR x < :as_of").unwrap();
        assert_eq!(
            q.sql,
            "SELECT id AS subject_id FROM principals WHERE created_at < $1 AND login = $2 OR x < $1"
        );
        assert_eq!(q.names, vec!["as_of", "login"]);
    }

    #[test]
    fn literals_comments_and_casts_are_left_alone() {
        let q = compile("WITH x AS (SELECT ':no' AS a, \"col:umn\" FROM t) -- :nope\nSELECT a::text FROM x /* :not */ WHERE b = :yes").unwrap();
        assert_eq!(q.names, vec!["yes"]);
        assert!(q.sql.contains("':no'") && q.sql.contains("a::text") && q.sql.ends_with("b = $1"));
    }

    #[test]
    fn only_one_select_is_accepted() {
        assert_eq!(
            compile("DELETE FROM principals"),
            Err(QueryError::NotASelect)
        );
        assert_eq!(
            compile("SELECT 1; DROP TABLE principals"),
            Err(QueryError::SeveralStatements)
        );
        assert_eq!(
            compile("SELECT 1;"),
            Ok(CompiledQuery {
                sql: "SELECT 1".into(),
                names: vec![]
            })
        );
        assert_eq!(
            compile("SELECT * FROM t WHERE a = ?"),
            Err(QueryError::Positional)
        );
        assert_eq!(compile("SELECT 'open"), Err(QueryError::Unterminated));
        assert!(compile("-- note\nSELECT 1").is_ok());
    }

    #[test]
    fn semicolons_hidden_in_sqlite_identifiers_are_seen() {
        for q in [
            "SELECT id AS subject_id, 1 AS [a'b] FROM principals LIMIT 1; COMMIT; VACUUM INTO 'copy.db'; BEGIN; SAVEPOINT rule_eval --'",
            "SELECT id AS subject_id, 1 AS `a'b` FROM principals; ATTACH 'x.db' AS x --'",
        ] {
            assert_eq!(compile(q), Err(QueryError::SeveralStatements), "{q}");
        }
        assert!(compile("SELECT 1 AS [a'b], 2 AS `c'd` FROM t").is_ok());
    }
}
