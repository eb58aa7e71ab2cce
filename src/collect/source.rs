//! `sources:` in the configuration file: where a foreign system is and which
//! mapping reads it. Secrets never sit in the file: a password comes from an
//! environment variable or a file (a systemd credential).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::mapping::FeedStyle;
use crate::model::Span;
use crate::support::secrets::{Secret, SecretError, SecretRef};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub kind: SourceKind,
    /// SQL: `mysql://user@host/db`, `postgres://…`, `sqlite://PATH`;
    /// Elasticsearch/OpenSearch: `https://host:9200`. No password here.
    #[serde(default)]
    pub url: Option<String>,
    /// CSV and JSON Lines: the directory the mapping's files are in.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The mapping file (relative to the configuration file).
    pub mapping: PathBuf,
    /// The application this source's accounts and roles are in. Named, it
    /// also namespaces the source's ids (`APPLICATION:NATIVE`, so that two
    /// applications' native ids never collide); without it, the
    /// application is the source's name and ids are stored as given.
    #[serde(default)]
    pub application: Option<String>,
    /// Elasticsearch/OpenSearch basic-auth user (the password as below).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The longest one sync of this source may take (each source statement
    /// also gets it as its statement timeout).
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    /// Cron schedule of syncs under `serve` (5 or 6 fields, in the
    /// configured time zone). No schedule: `accessaudit sync` only.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Elasticsearch: documents per page of search_after paging; LDAP: the
    /// page size of simple paged results (RFC 2696; AD serves at most 1000).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Refuse to read the source when its account can write (a sync fails,
    /// `config check` fails, `serve` does not start); without it, a warning.
    #[serde(default)]
    pub require_read_only: bool,
    /// LDAP: the DN of the simple bind (the password as above).
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// LDAP: where the feeds search (a feed's `base` narrows it).
    #[serde(default)]
    pub base_dn: Option<String>,
    /// LDAP: upgrade an `ldap://` connection with StartTLS (required for
    /// `ldap://`: a simple bind must not cross the network in clear).
    #[serde(default)]
    pub starttls: bool,
    /// LDAP: the CA certificate(s) (PEM) the directory's certificate must
    /// chain to, instead of the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Mysql,
    Postgres,
    Sqlite,
    Csv,
    Jsonl,
    Elasticsearch,
    Opensearch,
    Ldap,
}

impl SourceKind {
    pub fn style(self) -> FeedStyle {
        match self {
            SourceKind::Mysql | SourceKind::Postgres | SourceKind::Sqlite => FeedStyle::Sql,
            SourceKind::Csv | SourceKind::Jsonl => FeedStyle::File,
            SourceKind::Elasticsearch | SourceKind::Opensearch => FeedStyle::Index,
            SourceKind::Ldap => FeedStyle::Directory,
        }
    }
}

fn default_timeout() -> Span {
    Span(std::time::Duration::from_secs(300))
}
fn default_page_size() -> u32 {
    1000
}

impl SourceConfig {
    /// Semantic checks of one source (`field` relative to the source).
    pub fn check(&self, tz: chrono_tz::Tz) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(Err(e)) = self
            .application
            .as_deref()
            .map(crate::model::application::check_name)
        {
            problems.push(("application".into(), e));
        }
        let needs_url = !matches!(self.kind, SourceKind::Csv | SourceKind::Jsonl);
        match (&self.url, needs_url) {
            (None, true) => {
                problems.push(("kind".into(), "this kind of source needs `url`".into()))
            }
            (Some(_), false) => problems.push((
                "url".into(),
                "CSV and JSON Lines sources take `path` (a directory), not `url`".into(),
            )),
            (Some(url), true) => {
                let schemes: &[&str] = match self.kind {
                    SourceKind::Mysql => &["mysql://", "mariadb://"],
                    SourceKind::Postgres => &["postgres://", "postgresql://"],
                    SourceKind::Sqlite => &["sqlite:"],
                    SourceKind::Ldap => &["ldaps://", "ldap://"],
                    _ => &["http://", "https://"],
                };
                if !schemes.iter().any(|s| url.starts_with(s)) {
                    problems.push((
                        "url".into(),
                        format!("expected a URL starting with {}", schemes.join(" or ")),
                    ));
                }
                if url_has_password(url) {
                    problems.push((
                        "url".into(),
                        "the URL carries a password: use password_env or password_file".into(),
                    ));
                }
            }
            (None, false) => {}
        }
        if !needs_url && self.path.is_none() {
            problems.push(("kind".into(), "this kind of source needs `path`".into()));
        }
        if self.password_env.is_some() && self.password_file.is_some() {
            problems.push((
                "password_file".into(),
                "give password_file or password_env, not both".into(),
            ));
        }
        problems.extend(self.check_ldap());
        if self.page_size == 0 || self.page_size > 10_000 {
            problems.push(("page_size".into(), "between 1 and 10000".into()));
        }
        if let Some(s) = &self.schedule
            && let Err(e) = crate::schedule::Schedule::parse(s, tz)
        {
            problems.push(("schedule".into(), e));
        }
        problems
    }

    /// The fields only an LDAP source takes, and how it must be secured.
    fn check_ldap(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.kind != SourceKind::Ldap {
            for (field, present) in [
                ("bind_dn", self.bind_dn.is_some()),
                ("base_dn", self.base_dn.is_some()),
                ("starttls", self.starttls),
                ("ca_file", self.ca_file.is_some()),
            ] {
                if present {
                    problems.push((
                        field.into(),
                        format!("`{field}` applies only to `kind: ldap`"),
                    ));
                }
            }
            return problems;
        }
        if self.base_dn.is_none() {
            problems.push(("kind".into(), "an LDAP source needs `base_dn`".into()));
        }
        if self.bind_dn.is_none() {
            problems.push((
                "kind".into(),
                "an LDAP source needs `bind_dn` (a simple bind)".into(),
            ));
        }
        if self.username.is_some() {
            problems.push((
                "username".into(),
                "an LDAP source binds as `bind_dn`".into(),
            ));
        }
        if self.password_env.is_none() && self.password_file.is_none() {
            problems.push((
                "kind".into(),
                "an LDAP source needs password_env or password_file (the bind's password)".into(),
            ));
        }
        let url = self.url.as_deref().unwrap_or("");
        if url.starts_with("ldaps://") && self.starttls {
            problems.push((
                "starttls".into(),
                "ldaps:// is TLS already: StartTLS applies to ldap://".into(),
            ));
        }
        if url.starts_with("ldap://") && !self.starttls {
            problems.push((
                "url".into(),
                "ldap:// would send the bind password in clear: use ldaps:// or `starttls: true`"
                    .into(),
            ));
        }
        problems
    }

    pub fn resolve_paths(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        join(&mut self.mapping);
        self.path.iter_mut().for_each(join);
        self.password_file.iter_mut().for_each(join);
        self.ca_file.iter_mut().for_each(join);
    }

    /// The password, read now from its environment variable or file (a
    /// systemd credential: see `support::secrets`).
    pub fn password(&self, name: &str) -> Result<Option<Secret>, SecretError> {
        SecretRef {
            what: &format!("source {name}: password"),
            env: self.password_env.as_deref(),
            file: self.password_file.as_deref(),
        }
        .read()
    }
}

fn url_has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_refused() {
        assert!(url_has_password("mysql://audit:pw@db/crm"));
        assert!(!url_has_password("mysql://audit@db/crm"));
        assert!(!url_has_password("https://es.example:9200/"));
    }
}
