//! What a rule file says, typed. One YAML file per rule:
//!
//! ```yaml
//! id: idle-accounts
//! title: Idle accounts
//! description: …
//! severity: medium
//! controls: [{framework: PCI DSS 4.0, control: "8.2.6"}]
//! kind: idle_accounts
//! params: {max_idle: 90d}
//! ```
//!
//! Each kind has its own parameter struct; every field has the documented
//! default, and unknown fields are errors.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::model::{AccountStatus, AccountType, Severity, SubjectType};

/// A duration written the way people write them: `90d`, `24h`, `30 days`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Span(pub Duration);

impl Span {
    pub const fn days(n: u64) -> Span {
        Span(Duration::from_secs(n * 86_400))
    }
    pub const fn hours(n: u64) -> Span {
        Span(Duration::from_secs(n * 3_600))
    }
    pub fn chrono(self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl From<Span> for String {
    fn from(s: Span) -> String {
        s.to_string()
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = humantime::parse_duration(text.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "bad duration `{text}` ({e}); write e.g. 90d, 24h, 30m or `1h 30m`"
            ))
        })?;
        if parsed.is_zero() {
            return Err(serde::de::Error::custom(format!(
                "duration `{text}` must be greater than zero"
            )));
        }
        Ok(Span(parsed))
    }
}

/// A control a rule evidences, e.g. PCI DSS 4.0 8.2.6.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub framework: String,
    pub control: String,
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.framework, self.control)
    }
}

/// The rule kinds the engine knows; each has a params struct below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KindName {
    IdleAccounts,
    DepartedStillActive,
    OverPrivileged,
    BulkExport,
    SharedAccount,
    Sql,
}

impl KindName {
    pub fn as_str(self) -> &'static str {
        match self {
            KindName::IdleAccounts => "idle_accounts",
            KindName::DepartedStillActive => "departed_still_active",
            KindName::OverPrivileged => "over_privileged",
            KindName::BulkExport => "bulk_export",
            KindName::SharedAccount => "shared_account",
            KindName::Sql => "sql",
        }
    }
}

/// A rule's kind with its parameters, fully defaulted and validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "params", rename_all = "snake_case")]
pub enum RuleKind {
    IdleAccounts(IdleAccounts),
    DepartedStillActive(DepartedStillActive),
    OverPrivileged(OverPrivileged),
    BulkExport(BulkExport),
    SharedAccount(SharedAccount),
    Sql(CustomSql),
}

impl RuleKind {
    pub fn name(&self) -> KindName {
        match self {
            RuleKind::IdleAccounts(_) => KindName::IdleAccounts,
            RuleKind::DepartedStillActive(_) => KindName::DepartedStillActive,
            RuleKind::OverPrivileged(_) => KindName::OverPrivileged,
            RuleKind::BulkExport(_) => KindName::BulkExport,
            RuleKind::SharedAccount(_) => KindName::SharedAccount,
            RuleKind::Sql(_) => KindName::Sql,
        }
    }
}

/// A loaded rule: what the engine runs and reports describe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub controls: Vec<Control>,
    pub enabled: bool,
    #[serde(flatten)]
    pub kind: RuleKind,
    /// The file it came from, and the override files applied to it.
    #[serde(skip)]
    pub sources: Vec<std::path::PathBuf>,
}

fn statuses_active_pending() -> Vec<AccountStatus> {
    vec![AccountStatus::Active, AccountStatus::Pending]
}
fn statuses_usable() -> Vec<AccountStatus> {
    vec![
        AccountStatus::Active,
        AccountStatus::Pending,
        AccountStatus::Locked,
    ]
}
fn gate_24h() -> Option<Span> {
    Some(Span::hours(24))
}
fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `idle_accounts`: accounts whose last sign-in is older than `max_idle`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdleAccounts {
    /// Flag when the last sign-in is more than this before T.
    pub max_idle: Span,
    /// Account statuses that are checked.
    pub statuses: Vec<AccountStatus>,
    /// Account types that are checked.
    pub account_types: Vec<AccountType>,
    /// Freshness gate: skip the rule when the newest event is older than this
    /// before T (`null` turns the gate off, for sources without a login feed).
    pub max_event_age: Option<Span>,
}

impl Default for IdleAccounts {
    fn default() -> Self {
        IdleAccounts {
            max_idle: Span::days(90),
            statuses: statuses_active_pending(),
            account_types: vec![AccountType::Human],
            max_event_age: gate_24h(),
        }
    }
}

/// `departed_still_active`: accounts of people HR has terminated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DepartedStillActive {
    /// How long after `terminated_at` an account may stay open.
    pub grace: Span,
    /// Account statuses that count as still open.
    pub statuses: Vec<AccountStatus>,
    /// Raise to critical when the account was used after the termination.
    pub escalate_on_activity: bool,
}

impl Default for DepartedStillActive {
    fn default() -> Self {
        DepartedStillActive {
            grace: Span::days(1),
            statuses: vec![AccountStatus::Active],
            escalate_on_activity: true,
        }
    }
}

/// `over_privileged`: sensitive access held beyond need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OverPrivileged {
    /// Permissions that make a grant sensitive (`*` matches one dotted segment or more).
    pub sensitive_permissions: Vec<String>,
    /// Departments allowed to hold privileged roles and `user.grant`
    /// (case-insensitive); empty turns the department check off.
    pub admin_departments: Vec<String>,
    /// Flag sensitive access not used for this long.
    pub unused_after: Span,
    /// Event actions that count as using a privileged role.
    pub admin_actions: Vec<String>,
    /// Event actions that count as using `data_scope: all`.
    pub data_actions: Vec<String>,
    /// Peer check: only in groups (same department and title) of at least this many.
    pub peer_min_group: u32,
    /// Peer check: flag when fewer than this share of the peers hold the role.
    pub peer_max_share: f64,
    /// Roles that bundle export and delete over all data are findings themselves.
    pub flag_bundled_roles: bool,
    /// Account statuses that are checked.
    pub statuses: Vec<AccountStatus>,
    /// Freshness gate for the usage check only (the other checks need no events).
    pub max_event_age: Option<Span>,
}

impl Default for OverPrivileged {
    fn default() -> Self {
        OverPrivileged {
            sensitive_permissions: strings(&["*.export", "*.delete", "user.grant"]),
            admin_departments: strings(&["IT"]),
            unused_after: Span::days(90),
            admin_actions: strings(&["grant", "revoke", "update", "delete", "export"]),
            data_actions: strings(&["view", "update", "export", "delete"]),
            peer_min_group: 5,
            peer_max_share: 0.1,
            flag_bundled_roles: true,
            statuses: statuses_active_pending(),
            max_event_age: gate_24h(),
        }
    }
}

/// `bulk_export`: one principal exporting far more than usual.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulkExport {
    /// The sliding window exports are summed over.
    pub window: Span,
    /// Records exported within one window that are a finding.
    pub min_records: i64,
    /// Exports without a row count within one window that are a finding.
    pub min_exports_without_count: i64,
    /// Spike: more than this many times the principal's daily average…
    pub spike_factor: f64,
    /// …over this period before the window…
    pub baseline: Span,
    /// …and at least this many records (so a first small export is no spike).
    pub spike_min_records: i64,
    /// Windows considered: those ending within this period before T (a
    /// window and its baseline may reach further back).
    pub lookback: Span,
    /// Freshness gate on the event feed.
    pub max_event_age: Option<Span>,
}

impl Default for BulkExport {
    fn default() -> Self {
        BulkExport {
            window: Span::hours(1),
            min_records: 1000,
            min_exports_without_count: 10,
            spike_factor: 5.0,
            baseline: Span::days(30),
            spike_min_records: 200,
            lookback: Span::days(30),
            max_event_age: gate_24h(),
        }
    }
}

/// `shared_account`: one account used by several people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharedAccount {
    /// The sliding window sign-ins are compared over.
    pub window: Span,
    /// Distinct IPs within one window that are a finding.
    pub min_distinct_ips: u32,
    /// Distinct devices within one window that are a finding.
    pub min_distinct_devices: u32,
    /// Generic login names: a login is generic when, lower-cased, without its
    /// `@domain` and without trailing digits, `_`, `-` or `.`, it is one of these.
    pub generic_logins: Vec<String>,
    /// Account types a generic login is allowed on.
    pub generic_allowed_types: Vec<AccountType>,
    /// Accounts typed `shared` are findings themselves (the seed: 一人一号).
    pub flag_shared_type: bool,
    /// Account statuses that are checked.
    pub statuses: Vec<AccountStatus>,
    /// Sign-ins considered: those within this period before T.
    pub lookback: Span,
    /// Freshness gate for the sign-in check only.
    pub max_event_age: Option<Span>,
}

impl Default for SharedAccount {
    fn default() -> Self {
        SharedAccount {
            window: Span::hours(1),
            min_distinct_ips: 3,
            min_distinct_devices: 3,
            generic_logins: strings(&[
                "admin",
                "administrator",
                "root",
                "test",
                "tester",
                "demo",
                "guest",
                "temp",
                "tmp",
                "user",
                "sales",
                "support",
                "service",
                "helpdesk",
                "office",
                "info",
                "team",
                "shared",
                "finance",
                "marketing",
                "hr",
                "it",
                "crm",
                "default",
            ]),
            generic_allowed_types: vec![AccountType::Service, AccountType::Shared],
            flag_shared_type: true,
            statuses: statuses_usable(),
            lookback: Span::days(30),
            max_event_age: gate_24h(),
        }
    }
}

/// A scalar parameter of a custom SQL rule, bound to `:name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SqlParam {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<String>),
}

/// `sql`: a SELECT over the canonical tables, run read-only. Columns map onto
/// the finding: `subject_id` (required), `subject_type`, `severity`, `title`;
/// every other column goes into the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomSql {
    /// One SELECT (or WITH … SELECT) statement; `:as_of` and `:name` of the
    /// params below are bound, never spliced.
    pub query: String,
    /// Values bound to `:name` placeholders.
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, SqlParam>,
    /// Instants bound to `:name` as T minus the duration (e.g. `idle_since: 90d`).
    #[serde(default)]
    pub before: std::collections::BTreeMap<String, Span>,
    /// The subject type when the query has no `subject_type` column.
    #[serde(default = "default_subject")]
    pub subject_type: SubjectType,
}

fn default_subject() -> SubjectType {
    SubjectType::Principal
}
