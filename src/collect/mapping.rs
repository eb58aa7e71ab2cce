//! Source mappings: a YAML file that says how to read each canonical table
//! from a foreign system (see docs/MAPPINGS.md).
//!
//! A mapping is a list of named *feeds*. A feed fills one canonical table:
//! from a SQL database with a `query` in the source's dialect whose result
//! columns are canonical column names, or from documents (CSV files, JSON
//! Lines exports, Elasticsearch indices) with `columns` naming the field
//! that gives each canonical column. `codes` translate the source's codes
//! (status 0/1/2, data scope 1..5, behaviours) into the contract's values.
//!
//! Loading is strict (unknown keys refused) and every error names file,
//! line, column and field. A mapping that would read a credential (a
//! password, salt, secret or token column, or `SELECT *` that could) is
//! refused: an audit tool has no business holding password hashes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::directory::{self, Convert, Members};
use super::tables::{self, TableSpec};
use crate::yaml::LocatedErrors;
use crate::yaml::{self, LocatedError};

/// A mapping file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The system and version this mapping reads (for people).
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// IANA time zone of the source's timestamps that carry no offset
    /// (MySQL DATETIME, `"2026-11-01 08:00:00"` strings).
    #[serde(default = "utc")]
    pub timezone: String,
    /// Ids fixed in the application's code rather than flagged in its data.
    #[serde(default)]
    pub privileged: Privileged,
    /// Named feeds; snapshot tables are synced before events.
    pub feeds: BTreeMap<String, Feed>,
    /// The file it was read from (set at load).
    #[serde(skip)]
    pub file: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privileged {
    /// Role ids marked `privileged` whatever the feed says.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Account ids that hold every permission by code (a super user): each
    /// gets a grant of the synthetic privileged role [`SUPER_ROLE_ID`].
    #[serde(default)]
    pub principals: Vec<String>,
}

/// The role given to `privileged.principals`.
pub const SUPER_ROLE_ID: &str = "accessaudit:super-user";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feed {
    /// The canonical table this feed fills.
    pub table: String,
    /// SQL sources: a SELECT in the source's dialect with explicit columns
    /// named like the canonical ones.
    #[serde(default)]
    pub query: Option<String>,
    /// SQL sources: a SELECT whose one row's first column counts the rows
    /// `query` reads, run in the same snapshot to reconcile them (default:
    /// `SELECT COUNT(*)` over `query` itself, with the watermark).
    #[serde(default)]
    pub count: Option<String>,
    /// CSV and JSON Lines sources: a file name in the source's directory;
    /// `*` matches any run of characters and `?` one (`wk-login-log-*.jsonl`).
    #[serde(default)]
    pub file: Option<String>,
    /// Elasticsearch/OpenSearch sources: an index, alias or pattern.
    #[serde(default)]
    pub index: Option<String>,
    /// Elasticsearch: an extra query clause (e.g. a `terms` filter), as YAML.
    /// LDAP: the search filter (RFC 4515), a string.
    #[serde(default)]
    pub filter: Option<serde_json::Value>,
    /// LDAP: where to search, if not the source's `base_dn` (a DN; one
    /// ending in the base DN, or relative to it: `ou=People`).
    #[serde(default)]
    pub base: Option<String>,
    /// LDAP, table grants: memberships from groups (see `directory`).
    #[serde(default)]
    pub members: Option<Members>,
    /// Document sources, events: the field the watermark and the
    /// Elasticsearch time range and sort apply to.
    #[serde(default)]
    pub time_field: Option<String>,
    /// Document sources: canonical column → the field that gives it (a
    /// dotted path into JSON documents, a header in CSV), or a constant.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnSource>,
    /// Canonical column → source code → canonical value. The key `"*"`
    /// catches codes not listed; a code mapped to `~` (null) drops the row.
    #[serde(default)]
    pub codes: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

/// Where a canonical column comes from in a document.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ColumnSource {
    Field(String),
    Constant {
        /// The same value in every row (e.g. `action: {value: login}`).
        value: String,
    },
    /// LDAP: an attribute read through a conversion
    /// (`status: {attribute: userAccountControl, as: account_control}`).
    Attribute {
        attribute: String,
        #[serde(rename = "as")]
        convert: Convert,
    },
}

impl ColumnSource {
    /// The field or attribute read, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ColumnSource::Field(f) | ColumnSource::Attribute { attribute: f, .. } => Some(f),
            ColumnSource::Constant { .. } => None,
        }
    }
}

/// Which feeds a kind of source can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedStyle {
    Sql,
    File,
    Index,
    /// LDAP: a search per feed (`filter`, `base`), or memberships (`members`).
    Directory,
}

impl Feed {
    pub fn spec(&self) -> &'static TableSpec {
        // Checked at load.
        tables::table(&self.table).unwrap_or(&tables::EVENTS)
    }

    /// Events are read incrementally; every other table is a snapshot.
    pub fn incremental(&self) -> bool {
        self.table == tables::EVENTS.name
    }
}

fn utc() -> String {
    "UTC".to_string()
}

impl Mapping {
    /// Reads and checks a mapping for a source whose feeds have `style`.
    pub fn load(path: &Path, style: FeedStyle) -> Result<Mapping, LocatedErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LocatedErrors::unreadable(path, "the mapping", &e))?;
        Mapping::parse(path, &text, style)
    }

    pub fn parse(path: &Path, text: &str, style: FeedStyle) -> Result<Mapping, LocatedErrors> {
        let mut mapping: Mapping = yaml::parse(path, text).map_err(|e| LocatedErrors(vec![e]))?;
        mapping.file = path.to_path_buf();
        let problems = mapping.check(style);
        if problems.is_empty() {
            Ok(mapping)
        } else {
            Err(LocatedErrors(
                problems
                    .into_iter()
                    .map(|(field, message)| LocatedError::at_field(path, text, &field, message))
                    .collect(),
            ))
        }
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The feeds in the order they are synced: parents before children
    /// (people, principals, roles, permissions, grants), events last.
    pub fn ordered_feeds(&self) -> Vec<(&String, &Feed)> {
        let mut feeds: Vec<(&String, &Feed)> = self.feeds.iter().collect();
        let rank = |f: &Feed| tables::ALL.iter().position(|t| t.name == f.table);
        feeds.sort_by_key(|(name, f)| (rank(f), name.to_string()));
        feeds
    }

    /// Semantic checks: (dotted field, message) for each problem.
    fn check(&self, style: FeedStyle) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            problems.push((
                "timezone".to_string(),
                format!(
                    "unknown time zone `{}` (an IANA name such as Asia/Shanghai or UTC)",
                    self.timezone
                ),
            ));
        }
        if self.feeds.is_empty() {
            problems.push((
                "feeds".to_string(),
                "a mapping needs at least one feed".into(),
            ));
        }
        for (name, feed) in &self.feeds {
            let at = |field: &str| format!("feeds.{name}.{field}");
            let Some(spec) = tables::table(&feed.table) else {
                let names: Vec<&str> = tables::ALL.iter().map(|t| t.name).collect();
                problems.push((
                    at("table"),
                    format!(
                        "unknown table `{}`; one of: {}",
                        feed.table,
                        names.join(", ")
                    ),
                ));
                continue;
            };
            let (wanted, unwanted): (&str, &[(&str, bool)]) = match style {
                FeedStyle::Sql => (
                    "query",
                    &[
                        ("file", feed.file.is_some()),
                        ("index", feed.index.is_some()),
                        ("columns", !feed.columns.is_empty()),
                        ("time_field", feed.time_field.is_some()),
                        ("filter", feed.filter.is_some()),
                    ],
                ),
                // One mapping may serve an index and its JSON Lines export:
                // `index` and `file` may both be given; each source uses its own.
                FeedStyle::File => (
                    "file",
                    &[
                        ("query", feed.query.is_some()),
                        ("count", feed.count.is_some()),
                    ],
                ),
                FeedStyle::Index => (
                    "index",
                    &[
                        ("query", feed.query.is_some()),
                        ("count", feed.count.is_some()),
                    ],
                ),
                FeedStyle::Directory => (
                    "filter` or `members",
                    &[
                        ("query", feed.query.is_some()),
                        ("count", feed.count.is_some()),
                        ("file", feed.file.is_some()),
                        ("index", feed.index.is_some()),
                        ("time_field", feed.time_field.is_some()),
                    ],
                ),
            };
            let has_wanted = match style {
                FeedStyle::Sql => feed.query.is_some(),
                FeedStyle::File => feed.file.is_some(),
                FeedStyle::Index => feed.index.is_some(),
                FeedStyle::Directory => feed.filter.is_some() || feed.members.is_some(),
            };
            if style == FeedStyle::Directory {
                problems.extend(directory_problems(name, feed, &self.feeds));
            } else {
                for (field, present) in [
                    ("base", feed.base.is_some()),
                    ("members", feed.members.is_some()),
                ] {
                    if present {
                        problems
                            .push((at(field), format!("`{field}` applies only to LDAP sources")));
                    }
                }
                for (column, source) in &feed.columns {
                    if matches!(source, ColumnSource::Attribute { .. }) {
                        problems.push((
                            format!("feeds.{name}.columns.{column}"),
                            "`attribute` / `as` applies only to LDAP sources".into(),
                        ));
                    }
                }
            }
            if !has_wanted {
                problems.push((
                    format!("feeds.{name}"),
                    format!("this source's feeds need `{wanted}`"),
                ));
            }
            for (field, present) in unwanted {
                if *present {
                    problems.push((
                        at(field),
                        format!(
                            "`{field}` does not apply to this kind of source (it takes `{wanted}`)"
                        ),
                    ));
                }
            }
            if let Some(query) = &feed.query
                && let Err(e) = check_query(query)
            {
                problems.push((at("query"), e));
            }
            if let Some(count) = &feed.count {
                if let Err(e) = check_query(count) {
                    problems.push((at("count"), e));
                }
                if feed.incremental() {
                    problems.push((
                        at("count"),
                        "an events feed is counted from its own query, with its watermark: \
                         `count` applies to snapshot feeds"
                            .into(),
                    ));
                }
            }
            if style != FeedStyle::Sql {
                for (column, source) in &feed.columns {
                    if spec.column(column).is_none() {
                        problems.push((
                            format!("feeds.{name}.columns.{column}"),
                            format!("table {} has no column `{column}`", spec.name),
                        ));
                    }
                    if let Some(field) = source.field()
                        && let Some(word) = credential_word(field)
                    {
                        problems.push((
                            format!("feeds.{name}.columns.{column}"),
                            format!("field `{field}` looks like a credential (`{word}`): a mapping may not read credentials"),
                        ));
                    }
                }
                // A membership feed makes its rows' columns itself.
                for required in spec
                    .columns
                    .iter()
                    .filter(|c| c.required && feed.members.is_none())
                {
                    if !feed.columns.contains_key(required.name) {
                        problems.push((
                            at("columns"),
                            format!("table {} needs column `{}`", spec.name, required.name),
                        ));
                    }
                }
                if feed.incremental() && style == FeedStyle::Index && feed.time_field.is_none() {
                    problems.push((
                        format!("feeds.{name}"),
                        "an events feed from an index needs `time_field` (the range query and sort use it)".into(),
                    ));
                }
            }
            for (column, codes) in &feed.codes {
                let Some(col) = spec.column(column) else {
                    problems.push((
                        format!("feeds.{name}.codes.{column}"),
                        format!("table {} has no column `{column}`", spec.name),
                    ));
                    continue;
                };
                for value in codes.values().flatten() {
                    if let Err(e) = col.parse(value) {
                        problems.push((
                            format!("feeds.{name}.codes.{column}"),
                            format!("`{value}` is not a valid value: {}", e.message),
                        ));
                    }
                }
            }
        }
        problems
    }
}

/// The checks only a directory feed has: a string filter that parses, no
/// events (a directory keeps no event log), a membership feed's parts.
fn directory_problems(
    name: &str,
    feed: &Feed,
    feeds: &BTreeMap<String, Feed>,
) -> Vec<(String, String)> {
    let at = |field: &str| format!("feeds.{name}.{field}");
    let mut problems = Vec::new();
    if feed.incremental() {
        problems.push((at("table"), "an LDAP source has no events feed".into()));
    }
    match &feed.filter {
        Some(serde_json::Value::String(f)) => {
            if let Err(e) = directory::check_filter(f) {
                problems.push((at("filter"), e));
            }
        }
        Some(_) => problems.push((
            at("filter"),
            "an LDAP filter is a string, e.g. \"(objectClass=inetOrgPerson)\"".into(),
        )),
        None => {}
    }
    if let Some(members) = &feed.members {
        if feed.table != tables::GRANTS.name {
            problems.push((
                at("members"),
                "`members` makes grants: the feed's table must be grants".into(),
            ));
        }
        for (field, present) in [
            ("filter", feed.filter.is_some()),
            ("columns", !feed.columns.is_empty()),
            ("base", feed.base.is_some()),
        ] {
            if present {
                problems.push((at(field), format!("a `members` feed takes no `{field}` (the accounts' and groups' feeds say where to search)")));
            }
        }
        let table_of = |n: &str| feeds.get(n).map(|f| f.table.as_str());
        for (field, message) in directory::check_members(members, table_of) {
            problems.push((format!("feeds.{name}.members.{field}"), message));
        }
        for attribute in [&members.attribute, &members.member_of]
            .into_iter()
            .flatten()
        {
            if let Some(word) = credential_word(attribute) {
                problems.push((
                    at("members"),
                    format!("attribute `{attribute}` looks like a credential (`{word}`)"),
                ));
            }
        }
    }
    let dn_refs = feed.columns.iter().filter(|(_, s)| {
        matches!(
            s,
            ColumnSource::Attribute {
                convert: Convert::DnRef,
                ..
            }
        )
    });
    for (column, _) in dn_refs {
        if column == "id" {
            problems.push((
                format!("feeds.{name}.columns.id"),
                "`id` cannot be a reference to another entry".into(),
            ));
        }
    }
    problems
}

/// Words that name credentials in column and field names.
const CREDENTIAL_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "salt",
    "secret",
    "token",
    "credential",
    "apikey",
    "api_key",
    "private_key",
    "hash",
];
/// Canonical columns and directory attributes whose names contain such a
/// word but hold no credential (when a password was set or locked out).
const ALLOWED_NAMES: &[&str] = &[
    "password_changed_at",
    "pwdlastset",
    "pwdchangedtime",
    "pwdaccountlockedtime",
    "pwdlastsuccess",
];

/// The credential word in an identifier, if any.
fn credential_word(identifier: &str) -> Option<&'static str> {
    let lower = identifier.to_ascii_lowercase();
    if ALLOWED_NAMES.contains(&lower.as_str()) {
        return None;
    }
    CREDENTIAL_WORDS.iter().copied().find(|w| lower.contains(w))
}

/// Refuses a query that reads a credential column or selects `*`.
///
/// Identifiers are taken from the text outside string literals and
/// comments, so `'password reset'` in a literal is fine but `u.password`,
/// `` `salt` `` and `SELECT u.*` are not. (`COUNT(*)` is fine.)
pub fn check_query(query: &str) -> Result<(), String> {
    let tokens = tokenize(query);
    if !tokens
        .iter()
        .any(|t| matches!(t, Token::Word(w) if w.eq_ignore_ascii_case("select")))
    {
        return Err("the query must be a SELECT".into());
    }
    // A cheap static look with SQLite's tokenizer (it knows `[…]` and
    // backticks); the source's prepare is the real guard (readers::sql).
    let body = query.trim().trim_end_matches(';');
    if !body.contains('$') && accessaudit_sqlite_guard::several_statements(body) {
        return Err("more than one statement: the query must be a single SELECT".into());
    }
    for (i, token) in tokens.iter().enumerate() {
        match token {
            // MySQL's `SELECT … INTO OUTFILE/DUMPFILE` writes a file on the
            // source's server (READ ONLY does not stop it).
            Token::Word(w)
                if w.eq_ignore_ascii_case("outfile") || w.eq_ignore_ascii_case("dumpfile") =>
            {
                return Err(format!("`{w}` writes a file: a mapping only reads"));
            }
            Token::Word(w) | Token::Quoted(w) => {
                if let Some(word) = credential_word(w) {
                    return Err(format!(
                        "`{w}` looks like a credential column (`{word}`): a mapping may not read credentials"
                    ));
                }
            }
            Token::Star => {
                let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
                let next = tokens.get(i + 1);
                // `COUNT(*)` counts; `a * b` multiplies; anything else
                // (`SELECT *`, `, *`, `u.*`) projects every column.
                let counted = matches!(prev, Some(Token::Punct('(')))
                    && matches!(next, Some(Token::Punct(')')));
                let multiplied = match prev {
                    Some(Token::Word(w)) => !["select", "distinct", "all"]
                        .iter()
                        .any(|k| w.eq_ignore_ascii_case(k)),
                    Some(Token::Number | Token::Quoted(_) | Token::Punct(')')) => true,
                    _ => false,
                };
                if !counted && !multiplied {
                    return Err(
                        "`*` is not allowed: list the columns (a star could read a password column)"
                            .into(),
                    );
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    /// A quoted identifier (`"x"`, `` `x` ``, `[x]`).
    Quoted(String),
    Number,
    Star,
    Punct(char),
}

fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let until = |from: usize, end: char| -> (String, usize) {
        let mut j = from;
        let mut s = String::new();
        while j < chars.len() && chars[j] != end {
            s.push(chars[j]);
            j += 1;
        }
        (s, j + 1)
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' => {
                // A string literal; '' is an escaped quote.
                i += 1;
                while i < chars.len() {
                    if chars[i] == '\'' {
                        if chars.get(i + 1) == Some(&'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '"' | '`' | '[' => {
                let end = match c {
                    '[' => ']',
                    other => other,
                };
                let (name, next) = until(i + 1, end);
                out.push(Token::Quoted(name));
                i = next;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            // MySQL's executable comments (`/*! … */`, `/*!50100 … */`,
            // MariaDB's `/*M! … */`) are code: read what is inside.
            '/' if chars.get(i + 1) == Some(&'*')
                && (chars.get(i + 2) == Some(&'!')
                    || (chars.get(i + 2) == Some(&'M') && chars.get(i + 3) == Some(&'!'))) =>
            {
                i += if chars[i + 2] == 'M' { 4 } else { 3 };
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            '*' if chars.get(i + 1) == Some(&'/') => i += 2,
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            '*' => {
                out.push(Token::Star);
                i += 1;
            }
            c if c.is_ascii_digit() => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                out.push(Token::Number);
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut s = String::new();
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
                {
                    s.push(chars[i]);
                    i += 1;
                }
                out.push(Token::Word(s));
            }
            c if c.is_whitespace() => i += 1,
            c => {
                out.push(Token::Punct(c));
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_columns_are_refused_wherever_they_appear() {
        for q in [
            "SELECT u.user_id AS id, u.password AS login FROM wk_admin_user u",
            "SELECT user_id AS id, `salt` AS login FROM wk_admin_user",
            "SELECT id, login FROM users WHERE \"PasswordHash\" IS NOT NULL",
            "SELECT id, api_token AS login FROM users",
        ] {
            let e = check_query(q).unwrap_err();
            assert!(e.contains("credential"), "{q}: {e}");
        }
    }

    #[test]
    fn file_writes_and_hidden_statements_are_refused() {
        for (q, why) in [
            ("SELECT id INTO OUTFILE '/tmp/x' FROM t", "writes a file"),
            (
                "SELECT id FROM t /*! INTO DUMPFILE '/tmp/x' */",
                "writes a file",
            ),
            (
                "SELECT id, 1 AS [a'b] FROM t; COMMIT; VACUUM INTO 'c.db'; BEGIN --'",
                "more than one statement",
            ),
            (
                "SELECT id, 1 AS `a'b` FROM t; SELECT 2 --'",
                "more than one statement",
            ),
        ] {
            let e = check_query(q).unwrap_err();
            assert!(e.contains(why), "{q}: {e}");
        }
    }

    #[test]
    fn stars_are_refused_but_counts_and_products_are_not() {
        for q in [
            "SELECT * FROM wk_admin_user",
            "SELECT u.* FROM wk_admin_user u",
            "select distinct * from t",
        ] {
            assert!(check_query(q).unwrap_err().contains('*'), "{q}");
        }
        for q in [
            "SELECT COUNT(*) AS record_count, id FROM t",
            "SELECT id, 'into outfile' AS action FROM t",
            "SELECT id, n * 2 AS record_count FROM t",
            "SELECT id, 'password reset' AS action FROM t -- password in a comment",
            "SELECT id, password_changed_at FROM t",
        ] {
            assert_eq!(check_query(q), Ok(()), "{q}");
        }
    }

    #[test]
    fn errors_name_the_feed_field_and_line() {
        let text = "timezone: Asia/Shanghai\nfeeds:\n  users:\n    table: principals\n    query: SELECT u.* FROM wk_admin_user u\n    codes:\n      status: {\"0\": gone}\n";
        let e = Mapping::parse(Path::new("m.yaml"), text, FeedStyle::Sql).unwrap_err();
        let got: Vec<(&str, usize)> = e.0.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(
            got,
            [("feeds.users.query", 5), ("feeds.users.codes.status", 7)],
            "{e}"
        );
        assert!(
            e.0[1].message.contains("`gone` is not a valid value"),
            "{e}"
        );

        let text = "feeds:\n  logins:\n    table: events\n    index: wk-login-log-*\n    columns:\n      id: _id\n      actor: userId\n";
        let e = Mapping::parse(Path::new("m.yaml"), text, FeedStyle::Index).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"feeds.logins.columns.actor"), "{e}");
        assert!(e.to_string().contains("needs column `occurred_at`"), "{e}");
        assert!(e.to_string().contains("needs `time_field`"), "{e}");

        let e = Mapping::parse(
            Path::new("m.yaml"),
            "feeds:\n  x:\n    table: events\n    quarry: SELECT 1\n",
            FeedStyle::Sql,
        )
        .unwrap_err();
        assert_eq!(e.0[0].field, "feeds.x.quarry", "{e}");
        assert_eq!(e.0[0].line, 4, "{e}");
    }

    #[test]
    fn feeds_sync_parents_first_and_events_last() {
        let text = "feeds:\n  a_logs:\n    table: events\n    query: SELECT 1 AS id\n  b_links:\n    table: grants\n    query: SELECT 1 AS id\n  c_users:\n    table: principals\n    query: SELECT 1 AS id\n";
        let m = Mapping::parse(Path::new("m.yaml"), text, FeedStyle::Sql).unwrap();
        let order: Vec<&str> = m.ordered_feeds().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(order, ["c_users", "b_links", "a_logs"]);
    }
}
