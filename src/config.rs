//! The deployment's configuration file (`--config FILE`, YAML): database,
//! time zone, rule and template directories, mail, recipient groups, jobs.
//!
//! Loaded strictly (unknown keys refused) with errors naming file, line,
//! column and field; then checked as a whole (a job naming an unknown
//! recipient group, a bad time zone…) so that a daemon never starts, and a
//! reload never applies, on a half-valid file. Relative paths are relative to
//! the file's directory. Without a file, [`Config::embedded`] applies: SQLite,
//! the shipped rules and templates, reports written as files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::Span;
use crate::yaml::{self, LocatedError, LocatedErrors};

mod applications;
mod identity;
mod reviews;
pub use applications::{ApplicationConfig, Criticality, application_of_source};
pub use identity::IdentityConfig;
pub use reviews::{
    DeadlineAction, DeltaPolicy, EscalateTo, Escalation, JustificationRule, ReviewConfig,
    ReviewPageConfig, ReviewScope, ReviewerRule,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// sqlite://PATH or postgres://…; the command line and
    /// ACCESSAUDIT_DATABASE_URL take precedence.
    #[serde(default)]
    pub database: Option<String>,
    /// PostgreSQL: the URL scans connect with, as a role that may only read
    /// the canonical tables (README, "Database roles"); the command line
    /// and ACCESSAUDIT_SCAN_DATABASE_URL take precedence. Without one,
    /// scans use `database`'s role.
    #[serde(default)]
    pub scan_database: Option<String>,
    /// Refuse to run rules when the scan role may do more than read the
    /// canonical tables (superuser, server files, the engine's own tables,
    /// dblink…); without it, each excess is a warning.
    #[serde(default)]
    pub require_least_privilege: bool,
    /// A name for this deployment, part of every report's Message-ID.
    /// Without one, the store's own id is used (made once, when the
    /// database is created), so the URL's spelling never matters.
    #[serde(default)]
    pub deployment: Option<String>,
    /// IANA time zone of schedules and of dates in reports.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// The longest one scan statement may run.
    #[serde(default = "default_statement_timeout")]
    pub statement_timeout: Span,
    /// Event actions the deployment's logs carry besides the known ones
    /// (login, export, delete, …): imports do not warn about these.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Directories of the deployment's own rules and overrides.
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// Load the rules shipped in the binary (before `rules`).
    #[serde(default = "yes")]
    pub builtin_rules: bool,
    /// A directory of templates overriding the shipped ones by name.
    #[serde(default)]
    pub templates: Option<PathBuf>,
    /// Where rendered reports are also written as files (report command default).
    #[serde(default)]
    pub reports_dir: Option<PathBuf>,
    #[serde(default)]
    pub mail: MailConfig,
    /// Named recipient groups, e.g. `compliance: [dpo@example.com]`.
    #[serde(default)]
    pub recipients: BTreeMap<String, Vec<String>>,
    /// Named jobs: a set of rules, a template, recipients, a schedule.
    #[serde(default)]
    pub jobs: BTreeMap<String, JobConfig>,
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// Foreign systems read by `accessaudit sync` through a source mapping.
    #[serde(default)]
    pub sources: BTreeMap<String, crate::collect::source::SourceConfig>,
    /// Personal data in messages: a profile per recipient group, and the
    /// key of pseudonyms.
    #[serde(default)]
    pub pii: PiiConfig,
    /// Named webhooks jobs post their findings to (JSON, signed).
    #[serde(default)]
    pub webhooks: BTreeMap<String, WebhookConfig>,
    /// How reports present findings (due dates, the CSV attachment).
    #[serde(default)]
    pub report: ReportConfig,
    /// Access-review campaigns by name (README, "Access reviews").
    #[serde(default)]
    pub reviews: BTreeMap<String, ReviewConfig>,
    /// Where `serve` serves reviewers' pages.
    #[serde(default)]
    pub review_page: Option<ReviewPageConfig>,
    /// The applications audited, by name (README, "Applications").
    #[serde(default)]
    pub applications: BTreeMap<String, ApplicationConfig>,
    /// How accounts are linked to people (README, "Identities").
    #[serde(default)]
    pub identity: IdentityConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// http:// or https:// URL the JSON is POSTed to.
    pub url: String,
    /// The key of the body's HMAC-SHA256 signature, from a file (a systemd
    /// credential by name) or an environment variable.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Personal data in the posted findings: `clear`, `pseudonymise`, `mask`.
    #[serde(default)]
    pub pii: crate::support::pii::Profile,
    #[serde(default = "default_webhook_timeout")]
    pub timeout: Span,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiConfig {
    /// The key of pseudonyms, from a file (a systemd credential by name)
    /// or an environment variable; never in this file.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub key_env: Option<String>,
    /// Recipient group → `clear`, `pseudonymise` or `mask`.
    #[serde(default)]
    pub groups: BTreeMap<String, crate::support::pii::Profile>,
}

impl PiiConfig {
    /// Where the key is read from.
    pub fn key_ref(&self) -> crate::support::secrets::SecretRef<'_> {
        crate::support::secrets::SecretRef {
            what: "the PII pseudonym key",
            env: self.key_env.as_deref(),
            file: self.key_file.as_deref(),
        }
    }
}

/// Besides the report to the job's recipients: one digest per owner with
/// only the findings of the people they own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// Who owns a finding: `manager` (the subject's `people.manager_id`) or
    /// `role-owner` (`roles.owner_id` of the grant's role).
    pub by: DigestBy,
    /// Groups or addresses that get the findings nobody owns.
    pub fallback: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestBy {
    /// The subject's manager (`people.manager_id`).
    Manager,
    /// The owner of the role a finding is about (`roles.owner_id`): a
    /// grant's role, or the role itself; findings about an account or a
    /// person go to the fallback.
    #[serde(alias = "role_owner")]
    RoleOwner,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Cron schedule (5 fields `min hour dom mon dow`, or 6 with seconds
    /// first), in the configured time zone. No schedule: on demand only.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Rule ids; empty means every enabled rule.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Template name (`monthly`, `alert` or one of the deployment's own).
    #[serde(default = "default_template")]
    pub template: String,
    /// Recipient group names or plain addresses.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// When to send: every run (`always`) or only with new findings.
    #[serde(default)]
    pub send: SendPolicy,
    /// Mail subject; `{job}` and `{as_of}` are replaced.
    #[serde(default)]
    pub subject: Option<String>,
    /// A scheduled time missed while the daemon was down still runs at
    /// start-up when it is at most this old.
    #[serde(default)]
    pub catch_up: Option<Span>,
    /// An alert job sends a finding again after this long even when it
    /// never resolved. None: only after it resolved and came back.
    #[serde(default)]
    pub realert_after: Option<Span>,
    /// Digests per owner (manager) besides the report; none: no digests.
    #[serde(default)]
    pub digests: Option<DigestConfig>,
    /// Names of `webhooks:` this job's findings are posted to.
    #[serde(default)]
    pub webhooks: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SendPolicy {
    #[default]
    Always,
    NewFindings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The From: address.
    #[serde(default = "default_from")]
    pub from: String,
    #[serde(default)]
    pub transport: Transport,
    /// Retry schedule of failed sends.
    #[serde(default = "default_retry_initial")]
    pub retry_initial: Span,
    #[serde(default = "default_retry_max")]
    pub retry_max: Span,
    /// A message still not accepted after this long is marked failed.
    #[serde(default = "default_give_up_after")]
    pub give_up_after: Span,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            from: default_from(),
            transport: Transport::default(),
            retry_initial: default_retry_initial(),
            retry_max: default_retry_max(),
            give_up_after: default_give_up_after(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Transport {
    /// Messages written as .eml files into a directory (the embedded default).
    File {
        dir: PathBuf,
    },
    Smtp(SmtpConfig),
}

impl Default for Transport {
    fn default() -> Self {
        Transport::File {
            dir: PathBuf::from("accessaudit-outbox"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default, port 587), `implicit` (port 465) or `none`
    /// (loopback relays only).
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    /// The password is never written in this file: read from a file
    /// (e.g. a systemd credential) or an environment variable.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub password_env: Option<String>,
    /// A PEM file of CA certificates to trust besides the system's (a relay
    /// with a certificate from a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_smtp_timeout")]
    pub timeout: Span,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    #[default]
    Starttls,
    Implicit,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Local address of /healthz and /metrics; none: no HTTP endpoint.
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
    /// Default catch-up window of jobs (see [`JobConfig::catch_up`]).
    #[serde(default = "default_catch_up")]
    pub catch_up: Span,
    /// How long a job that cannot run keeps retrying before IT is told.
    #[serde(default = "default_job_retry_for")]
    pub job_retry_for: Span,
    /// Recipients told when a job could not run (group names or addresses).
    #[serde(default)]
    pub failure_recipients: Vec<String>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            listen: None,
            catch_up: default_catch_up(),
            job_retry_for: default_job_retry_for(),
            failure_recipients: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_timezone() -> String {
    "UTC".to_string()
}
fn default_statement_timeout() -> Span {
    Span(std::time::Duration::from_secs(300))
}
fn default_template() -> String {
    "monthly".to_string()
}
fn default_from() -> String {
    "accessaudit <accessaudit@localhost>".to_string()
}
fn default_retry_initial() -> Span {
    Span(std::time::Duration::from_secs(30))
}
fn default_retry_max() -> Span {
    Span::hours(1)
}
fn default_give_up_after() -> Span {
    Span::days(2)
}
fn default_smtp_timeout() -> Span {
    Span(std::time::Duration::from_secs(60))
}
fn default_webhook_timeout() -> Span {
    Span(std::time::Duration::from_secs(10))
}
fn default_catch_up() -> Span {
    Span::days(7)
}
fn default_job_retry_for() -> Span {
    Span::hours(1)
}

/// The jobs every deployment has unless its file defines its own.
pub const EMBEDDED: &str = include_str!("../examples/embedded.yaml");

impl Config {
    /// What every rule of a run is told of the deployment: its applications
    /// (critical ones, directories) and how accounts are linked to people.
    pub fn deployment(&self) -> crate::engine::Deployment {
        crate::engine::Deployment {
            identity: self.identity.methods.clone(),
            ..applications::deployment(&self.applications, &self.sources)
        }
    }

    /// The embedded default: SQLite, shipped rules and templates, a monthly
    /// compliance job and an export-alert job, reports written as files.
    pub fn embedded() -> Config {
        // The embedded text is checked by a unit test; failing here is a build defect.
        Config::parse(Path::new("<embedded>"), EMBEDDED)
            .expect("the embedded configuration is valid")
    }

    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, LocatedErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LocatedErrors::unreadable(path, "the file", &e))?;
        let mut config = Config::parse(path, &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        // A source's mapping is checked with the file that names it, so
        // that a daemon never starts on a mapping it cannot use.
        let mut errors = Vec::new();
        for source in config.sources.values() {
            if let Err(e) =
                crate::collect::mapping::Mapping::load(&source.mapping, source.kind.style())
            {
                errors.extend(e.0);
            }
        }
        if !errors.is_empty() {
            return Err(LocatedErrors(errors));
        }
        Ok(config)
    }

    /// Parses and checks configuration text (paths left as written).
    pub fn parse(file: &Path, text: &str) -> Result<Config, LocatedErrors> {
        let config: Config = yaml::parse(file, text).map_err(|e| LocatedErrors(vec![e]))?;
        let problems = config.check();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(LocatedErrors(
                problems
                    .into_iter()
                    .map(|(field, message)| LocatedError::at_field(file, text, &field, message))
                    .collect(),
            ))
        }
    }

    /// The configured time zone (checked at load).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The addresses of a job's recipients (groups expanded, order kept,
    /// duplicates dropped).
    pub fn addresses(&self, names: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for name in names {
            let expanded = match self.recipients.get(name) {
                Some(group) => group.clone(),
                None => vec![name.clone()],
            };
            for a in expanded {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }

    /// The PII profile of an address: the strictest of the groups it is
    /// in (a plain address not in any group: clear).
    pub fn profile_of(&self, address: &str) -> crate::support::pii::Profile {
        self.recipients
            .iter()
            .filter(|(_, members)| members.iter().any(|m| m == address))
            .map(|(g, _)| self.pii.groups.get(g).copied().unwrap_or_default())
            .max()
            .unwrap_or_default()
    }

    /// Semantic checks: (dotted field, message) for each problem.
    fn check(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            problems.push((
                "timezone".to_string(),
                format!(
                    "unknown time zone `{}` (an IANA name such as Europe/Berlin or UTC)",
                    self.timezone
                ),
            ));
        }
        if let Err(e) = check_mailbox(&self.mail.from) {
            problems.push(("mail.from".to_string(), e));
        }
        for (group, members) in &self.recipients {
            for m in members {
                if let Err(e) = check_mailbox(m) {
                    problems.push((format!("recipients.{group}"), e));
                }
            }
        }
        if let Transport::Smtp(smtp) = &self.mail.transport {
            if smtp.password_file.is_some() && smtp.password_env.is_some() {
                problems.push((
                    "mail.transport.password_file".to_string(),
                    "give password_file or password_env, not both".to_string(),
                ));
            }
            if smtp.username.is_none()
                && (smtp.password_file.is_some() || smtp.password_env.is_some())
            {
                problems.push((
                    "mail.transport.username".to_string(),
                    "a password is configured without a username".to_string(),
                ));
            }
        }
        for (name, job) in &self.jobs {
            if let Some(schedule) = &job.schedule
                && let Err(e) = crate::schedule::Schedule::parse(schedule, self.tz())
            {
                problems.push((format!("jobs.{name}.schedule"), e));
            }
            for r in &job.recipients {
                if !self.recipients.contains_key(r)
                    && let Err(e) = check_mailbox(r)
                {
                    problems.push((
                        format!("jobs.{name}.recipients"),
                        format!("`{r}` is neither a recipient group nor an address ({e})"),
                    ));
                }
            }
        }
        for (name, job) in &self.jobs {
            if let Some(d) = &job.digests {
                if d.fallback.is_empty() {
                    problems.push((
                        format!("jobs.{name}.digests.fallback"),
                        "give at least one group or address for the findings nobody owns"
                            .to_string(),
                    ));
                }
                for r in &d.fallback {
                    if !self.recipients.contains_key(r)
                        && let Err(e) = check_mailbox(r)
                    {
                        problems.push((
                            format!("jobs.{name}.digests.fallback"),
                            format!("`{r}` is neither a recipient group nor an address ({e})"),
                        ));
                    }
                }
            }
        }
        for (name, job) in &self.jobs {
            for w in &job.webhooks {
                if !self.webhooks.contains_key(w) {
                    problems.push((
                        format!("jobs.{name}.webhooks"),
                        format!("`{w}` is not a webhook of `webhooks:`"),
                    ));
                }
            }
        }
        for (name, w) in &self.webhooks {
            let scheme_ok = w.url.parse::<hyper::Uri>().ok().is_some_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
            });
            if !scheme_ok {
                problems.push((
                    format!("webhooks.{name}.url"),
                    "not an http:// or https:// URL".to_string(),
                ));
            }
            if w.secret_file.is_some() && w.secret_env.is_some() {
                problems.push((
                    format!("webhooks.{name}.secret_file"),
                    "give secret_file or secret_env, not both".to_string(),
                ));
            }
            if w.pii == crate::support::pii::Profile::Pseudonymise
                && self.pii.key_file.is_none()
                && self.pii.key_env.is_none()
            {
                problems.push((
                    format!("webhooks.{name}.pii"),
                    "pseudonymise needs a key: set pii.key_file or pii.key_env".to_string(),
                ));
            }
        }
        for (group, profile) in &self.pii.groups {
            if !self.recipients.contains_key(group) {
                problems.push((
                    format!("pii.groups.{group}"),
                    format!("`{group}` is not a recipient group"),
                ));
            }
            if *profile == crate::support::pii::Profile::Pseudonymise
                && self.pii.key_file.is_none()
                && self.pii.key_env.is_none()
            {
                problems.push((
                    format!("pii.groups.{group}"),
                    "pseudonymise needs a key: set pii.key_file or pii.key_env".to_string(),
                ));
            }
        }
        if self.report.signing_key_file.is_some() && self.report.signing_key_env.is_some() {
            problems.push((
                "report.signing_key_file".to_string(),
                "give signing_key_file or signing_key_env, not both".to_string(),
            ));
        }
        if self.pii.key_file.is_some() && self.pii.key_env.is_some() {
            problems.push((
                "pii.key_file".to_string(),
                "give key_file or key_env, not both".to_string(),
            ));
        }
        problems.extend(self.identity.check());
        for (name, source) in &self.sources {
            for (field, message) in source.check(self.tz()) {
                problems.push((format!("sources.{name}.{field}"), message));
            }
        }
        problems.extend(applications::check(&self.applications));
        let is_recipient = |r: &str| -> Result<(), String> {
            if self.recipients.contains_key(r) {
                return Ok(());
            }
            check_mailbox(r)
                .map_err(|e| format!("`{r}` is neither a recipient group nor an address ({e})"))
        };
        problems.extend(reviews::check(
            &self.reviews,
            self.review_page.as_ref(),
            &is_recipient,
            self.tz(),
        ));
        for r in &self.daemon.failure_recipients {
            if !self.recipients.contains_key(r)
                && let Err(e) = check_mailbox(r)
            {
                problems.push((
                    "daemon.failure_recipients".to_string(),
                    format!("`{r}` is neither a recipient group nor an address ({e})"),
                ));
            }
        }
        problems
    }

    fn resolve_paths(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.rules.iter_mut().for_each(join);
        self.templates.iter_mut().for_each(join);
        self.reports_dir.iter_mut().for_each(join);
        for source in self.sources.values_mut() {
            source.resolve_paths(base);
        }
        self.pii.key_file.iter_mut().for_each(join);
        self.report.signing_key_file.iter_mut().for_each(join);
        for w in self.webhooks.values_mut() {
            w.secret_file.iter_mut().for_each(join);
        }
        if let Transport::File { dir } = &mut self.mail.transport {
            join(dir);
        }
        if let Transport::Smtp(smtp) = &mut self.mail.transport {
            smtp.password_file.iter_mut().for_each(join);
            smtp.ca_file.iter_mut().for_each(join);
        }
        if let Some(path) = self
            .database
            .as_deref()
            .and_then(|url| url.strip_prefix("sqlite://"))
            .filter(|p| Path::new(p).is_relative() && !p.is_empty())
        {
            self.database = Some(format!("sqlite://{}", base.join(path).display()));
        }
    }
}

/// A mailbox as lettre accepts it (`a@b` or `Name <a@b>`).
pub fn check_mailbox(text: &str) -> Result<(), String> {
    text.parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|e| format!("`{text}` is not a mail address: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_is_person_id_then_email() {
        let c = Config::parse(Path::new("c.yaml"), "{}\n").expect("parses");
        assert_eq!(
            c.deployment().identity,
            [
                crate::engine::IdentityMatch::PersonId,
                crate::engine::IdentityMatch::Email
            ]
        );
        assert!(c.deployment().directories.is_empty());
    }

    #[test]
    fn the_order_is_kept_and_bad_methods_are_located() {
        let c = Config::parse(
            Path::new("c.yaml"),
            "identity:\n  match: [employee_number, login_is_mail_local_part]\n",
        )
        .expect("parses");
        assert_eq!(
            c.deployment().identity,
            [
                crate::engine::IdentityMatch::EmployeeNumber,
                crate::engine::IdentityMatch::LoginIsMailLocalPart
            ]
        );
        let e = Config::parse(
            Path::new("c.yaml"),
            "identity:\n  match: [person_id, badge_number]\n",
        )
        .expect_err("unknown method");
        let text = e.to_string();
        assert!(text.contains("badge_number"), "{text}");
        assert!(text.contains("identity"), "{text}");
        assert_eq!(e.0[0].line, 2, "{text}");
        let e = Config::parse(Path::new("c.yaml"), "identity:\n  match: [email, email]\n")
            .expect_err("twice");
        assert_eq!(e.0[0].field, "identity.match[1]", "{e}");
        let e = Config::parse(Path::new("c.yaml"), "identity:\n  match: []\n").expect_err("empty");
        assert_eq!(e.0[0].field, "identity.match", "{e}");
        let e = Config::parse(Path::new("c.yaml"), "identity:\n  by: [email]\n")
            .expect_err("unknown key");
        assert!(e.to_string().contains("by"), "{e}");
    }

    use super::*;

    #[test]
    fn the_embedded_configuration_is_valid() {
        let c = Config::parse(Path::new("<embedded>"), EMBEDDED).unwrap();
        assert!(c.jobs.contains_key("monthly"), "{:?}", c.jobs.keys());
    }

    #[test]
    fn the_production_example_is_valid() {
        let text = include_str!("../examples/production.yaml");
        let c = Config::parse(Path::new("production.yaml"), text).unwrap();
        assert!(matches!(c.mail.transport, Transport::Smtp(_)));
        assert_eq!(c.tz(), chrono_tz::Europe::Berlin);
    }

    #[test]
    fn errors_name_the_field() {
        let text = "timezone: Mars/Olympus\njobs:\n  m:\n    schedule: '61 * * * *'\n    recipients: [nobody]\n";
        let e = Config::parse(Path::new("c.yaml"), text).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["timezone", "jobs.m.schedule", "jobs.m.recipients"],
            "{e}"
        );
        assert_eq!(e.0[1].line, 4, "{e}");

        let e = Config::parse(Path::new("c.yaml"), "jobs:\n  m:\n    sned: always\n").unwrap_err();
        assert_eq!(e.0[0].field, "jobs.m.sned", "{e}");
    }

    #[test]
    fn sources_are_checked_with_located_errors() {
        let text = "sources:\n  crm:\n    kind: mysql\n    url: mysql://audit:hunter2@db/crm\n    mapping: m.yaml\n    schedule: 'every day'\n  hr:\n    kind: csv\n    mapping: hr.yaml\n";
        let e = Config::parse(Path::new("c.yaml"), text).unwrap_err();
        let got: Vec<(&str, usize)> = e.0.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(
            got,
            [
                ("sources.crm.url", 4),
                ("sources.crm.schedule", 6),
                ("sources.hr.kind", 8)
            ],
            "{e}"
        );
        assert!(
            e.to_string().contains("use password_env or password_file"),
            "{e}"
        );
        assert!(
            !e.to_string().contains("hunter2"),
            "the password is not repeated: {e}"
        );
        let e = Config::parse(
            Path::new("c.yaml"),
            "sources:\n  x:\n    kind: oracle\n    mapping: m.yaml\n",
        )
        .unwrap_err();
        assert_eq!(e.0[0].field, "sources.x.kind", "{e}");
    }

    #[test]
    fn routing_errors_name_the_field() {
        let text = "recipients:\n  it: [a@x.org]\npii:\n  groups:\n    it: pseudonymise\n    nobody: mask\nwebhooks:\n  chat:\n    url: ftp://x\njobs:\n  m:\n    webhooks: [chat, nope]\n    digests:\n      by: manager\n      fallback: [nowhere]\n";
        let e = Config::parse(Path::new("c.yaml"), text).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "jobs.m.digests.fallback",
                "jobs.m.webhooks",
                "webhooks.chat.url",
                "pii.groups.it",
                "pii.groups.nobody",
            ],
            "{e}"
        );
        let e = Config::parse(
            Path::new("c.yaml"),
            "jobs:\n  m:\n    digests:\n      by: department\n      fallback: [a@x.org]\n",
        )
        .unwrap_err();
        assert_eq!(e.0[0].line, 4, "{e}");
        let c = Config::parse(
            Path::new("c.yaml"),
            "recipients:\n  a: [x@y.org]\n  b: [x@y.org]\npii:\n  groups:\n    b: mask\n",
        )
        .unwrap();
        assert_eq!(c.profile_of("x@y.org"), crate::support::pii::Profile::Mask);
        assert_eq!(c.profile_of("z@y.org"), crate::support::pii::Profile::Clear);
    }

    #[test]
    fn groups_expand_to_addresses() {
        let text = "recipients:\n  it: [a@x.org, b@x.org]\n";
        let c = Config::parse(Path::new("c.yaml"), text).unwrap();
        assert_eq!(
            c.addresses(&["it".into(), "c@x.org".into(), "a@x.org".into()]),
            ["a@x.org", "b@x.org", "c@x.org"]
        );
    }
}

// ---- report: how reports present findings (kept apart from delivery) ----

/// `report:` of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// How long an open finding may stay open, per severity, before the
    /// report marks it overdue (counted from when it was first seen). A
    /// severity left out has no due date.
    #[serde(default = "default_due")]
    pub due: BTreeMap<crate::model::Severity, Span>,
    /// Start the CSV attachment with a UTF-8 byte-order mark, so that Excel
    /// reads non-ASCII names correctly.
    #[serde(default = "yes")]
    pub csv_bom: bool,
    /// The largest CSV of findings attached to a report's message, in
    /// bytes; a larger one is archived with the report and the message
    /// names it (its SHA-256, and how to get it): mail servers refuse large
    /// messages, and a message is built in memory.
    #[serde(default = "default_max_attachment_bytes")]
    pub max_attachment_bytes: u64,
    /// The Ed25519 private key reports are signed with (PKCS#8 PEM, made by
    /// `accessaudit keys generate`), from a file (or a systemd credential
    /// by name) or an environment variable; without one, reports are not
    /// signed.
    #[serde(default)]
    pub signing_key_file: Option<PathBuf>,
    #[serde(default)]
    pub signing_key_env: Option<String>,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            due: default_due(),
            csv_bom: true,
            max_attachment_bytes: default_max_attachment_bytes(),
            signing_key_file: None,
            signing_key_env: None,
        }
    }
}

/// 10 MB: with base64, a 14 MB message, under the 20–25 MB most mail
/// services accept.
fn default_max_attachment_bytes() -> u64 {
    10_000_000
}

impl ReportConfig {
    /// Where the signing key is read from.
    pub fn signing_key_ref(&self) -> crate::support::secrets::SecretRef<'_> {
        crate::support::secrets::SecretRef {
            what: "report.signing_key",
            env: self.signing_key_env.as_deref(),
            file: self.signing_key_file.as_deref(),
        }
    }
}

fn default_due() -> BTreeMap<crate::model::Severity, Span> {
    use crate::model::Severity;
    BTreeMap::from([
        (Severity::Critical, Span::days(7)),
        (Severity::High, Span::days(30)),
        (Severity::Medium, Span::days(90)),
        (Severity::Low, Span::days(180)),
    ])
}
