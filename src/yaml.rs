//! Strict YAML with errors a person can act on: file, line, column, field.
//!
//! serde-saphyr (a maintained, pure-Rust serde YAML deserializer; serde_yaml is
//! archived and serde_yml unsound) reports the line and column of an error. The
//! field is not in its message for every kind of error, so it is read back from
//! the source: the key on the error's line and the keys of the mappings it sits in.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// An error at a place in a YAML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field, e.g. `params.max_idle` (empty when unknown).
    pub field: String,
    pub message: String,
}

/// Every error found in a set of files (rules, a config, a mapping, an
/// exceptions file): nothing is used while there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct LocatedErrors(pub Vec<LocatedError>);

impl LocatedErrors {
    /// A file that could not be read at all (`what` it is, for the message).
    pub fn unreadable(file: &Path, what: &str, e: &std::io::Error) -> LocatedErrors {
        LocatedErrors(vec![LocatedError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read {what}: {e}"),
        }])
    }
}

impl fmt::Display for LocatedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for LocatedError {}

impl LocatedError {
    /// An error about the value of `field`, located where that value is.
    pub fn at_value<T>(
        file: &Path,
        value: &serde_saphyr::Spanned<T>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> LocatedError {
        LocatedError {
            file: file.to_path_buf(),
            line: value.referenced.line() as usize,
            column: value.referenced.column() as usize,
            field: field.into(),
            message: message.into(),
        }
    }

    /// An error about `field` (a dotted path), located where the field's key is.
    pub fn at_field(
        file: &Path,
        source: &str,
        field: &str,
        message: impl Into<String>,
    ) -> LocatedError {
        let path: Vec<&str> = field.split('.').collect();
        // A key that is not written (a missing `columns:`) is placed at the
        // nearest one that is (the feed), never at line 1 unless none is.
        let (line, column) = (1..=path.len())
            .rev()
            .find_map(|n| locate_key(source, &path[..n]))
            .unwrap_or((1, 1));
        LocatedError {
            file: file.to_path_buf(),
            line,
            column,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Deserializes `source` (the text of `file`) into `T`.
pub fn parse<T: DeserializeOwned>(file: &Path, source: &str) -> Result<T, LocatedError> {
    serde_saphyr::from_str::<T>(source).map_err(|e| from_saphyr(file, source, &e))
}

fn from_saphyr(file: &Path, source: &str, e: &serde_saphyr::Error) -> LocatedError {
    let (line, column) = e
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .unwrap_or((1, 1));
    let mut message = e.without_snippet().to_string();
    // The message repeats the place we print ourselves.
    if let Some(rest) = message.strip_prefix("error: ") {
        message = rest.to_string();
    }
    if let Some(idx) = message.find(": ")
        && message[..idx].starts_with("line ")
    {
        message = message[idx + 2..].to_string();
    }
    // …and may end with the place again.
    if let Some(idx) = message.rfind(" at line ")
        && message[idx..].contains(", column ")
    {
        message.truncate(idx);
    }
    if let Some(kind) = message.strip_prefix("invalid ") {
        let expected = match kind {
            "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => {
                Some("a whole number")
            }
            "f32" | "f64" => Some("a number"),
            "bool" => Some("true or false"),
            _ => None,
        };
        if let Some(expected) = expected {
            message = format!(
                "expected {expected}, found `{}`",
                scalar_at(source, line, column)
            );
        }
    }
    let mut field = key_path_at(source, line);
    // "unknown field `x`" is about x: the error points at x itself, or at
    // the mapping (flow style, or its parent key) that holds it.
    if let Some(name) = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split('`').next())
        && !field.ends_with(name)
    {
        field = if field.is_empty() {
            name.to_string()
        } else {
            format!("{field}.{name}")
        };
    }
    LocatedError {
        file: file.to_path_buf(),
        line,
        column,
        field,
        message,
    }
}

/// The plain scalar written at a place (to quote it back in a message).
fn scalar_at(source: &str, line: usize, column: usize) -> String {
    let text = source.lines().nth(line.saturating_sub(1)).unwrap_or("");
    let rest: String = text.chars().skip(column.saturating_sub(1)).collect();
    let end = rest.find([',', '}', ']', '#']).unwrap_or(rest.len());
    rest[..end].trim().to_string()
}

/// The key a line defines (`key:` or `- key:`), with its indentation.
fn line_key(source: &str, line: usize) -> Option<(usize, String)> {
    let text = source.lines().nth(line.checked_sub(1)?)?;
    let body = text.trim_start();
    let mut indent = text.len() - body.len();
    let body = match body.strip_prefix("- ") {
        Some(rest) => {
            indent += 2;
            rest.trim_start()
        }
        None => body,
    };
    let (key, _) = body.split_once(':')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    if key.is_empty()
        || key.contains(' ') && !key.starts_with('{')
        || key.starts_with('#')
        || key.starts_with('{')
    {
        return None;
    }
    Some((indent, key.to_string()))
}

/// The dotted path of keys leading to the place at `line` (block style YAML).
pub fn key_path_at(source: &str, line: usize) -> String {
    let mut path = Vec::new();
    let mut limit = usize::MAX;
    let mut current = line;
    while current >= 1 {
        if let Some((indent, key)) = line_key(source, current)
            && indent < limit
        {
            path.push(key);
            limit = indent;
            if indent == 0 {
                break;
            }
        }
        current -= 1;
    }
    path.reverse();
    path.join(".")
}

/// Where the key at `path` (e.g. `["params", "max_idle"]`) is written:
/// 1-based line and column.
pub fn locate_key(source: &str, path: &[&str]) -> Option<(usize, usize)> {
    let mut depth = 0;
    let mut parent_indent: Option<usize> = None;
    for (i, _) in source.lines().enumerate() {
        let Some((indent, key)) = line_key(source, i + 1) else {
            continue;
        };
        if let Some(p) = parent_indent
            && indent <= p
        {
            // Left the mapping we were searching without finding the key.
            return None;
        }
        if key == path[depth] && parent_indent.is_none_or(|p| indent > p) {
            if depth + 1 == path.len() {
                return Some((i + 1, indent + 1));
            }
            parent_indent = Some(indent);
            depth += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str =
        "id: a\nparams:\n  max_idle: 3x\n  statuses: [active]\nother:\n  max_idle: 1\n";

    #[test]
    fn key_paths_follow_indentation() {
        assert_eq!(key_path_at(DOC, 3), "params.max_idle");
        assert_eq!(key_path_at(DOC, 1), "id");
        assert_eq!(key_path_at(DOC, 6), "other.max_idle");
    }

    #[test]
    fn keys_are_found_under_their_parent() {
        assert_eq!(locate_key(DOC, &["params", "max_idle"]), Some((3, 3)));
        assert_eq!(locate_key(DOC, &["other", "max_idle"]), Some((6, 3)));
        assert_eq!(locate_key(DOC, &["params", "missing"]), None);
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        id: String,
        params: Params,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Params {
        n: u32,
    }

    #[test]
    fn errors_name_file_line_column_and_field() {
        let e = parse::<Doc>(Path::new("r.yaml"), "id: a\nparams:\n  n: many\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "params.n"), "{e}");
        assert!(e.to_string().starts_with("r.yaml:3:"), "{e}");

        let e =
            parse::<Doc>(Path::new("r.yaml"), "id: a\nparams:\n  n: 1\n  extra: 2\n").unwrap_err();
        assert_eq!(e.field, "params.extra", "{e}");
        assert!(e.message.contains("unknown field `extra`"), "{e}");
    }
}
