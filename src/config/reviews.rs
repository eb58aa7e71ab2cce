//! `reviews:` (access-review campaigns) and `review_page:` of the
//! configuration file. Checked with the rest of the file, so that a daemon
//! never opens a campaign from a half-valid definition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{AccountType, Span};

/// One campaign definition: who reviews what, when, and what happens to
/// what nobody decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    /// Cron schedule (in the configured time zone) of the openings; none:
    /// opened by hand only (`accessaudit reviews open NAME`).
    #[serde(default)]
    pub schedule: Option<String>,
    /// Which live grants are reviewed.
    #[serde(default)]
    pub scope: ReviewScope,
    /// Who reviews an item.
    pub reviewer: ReviewerRule,
    /// Who reviews what the rule gives nobody (no manager, no role owner)
    /// and a reviewer's own access: a recipient group or an address.
    pub fallback: String,
    /// How long the campaign runs: the deadline is the opening plus this.
    #[serde(default = "default_duration")]
    pub duration: Span,
    /// Reminders to reviewers with undecided items, this long before the
    /// deadline.
    #[serde(default)]
    pub reminders: Vec<Span>,
    /// Undecided items move to the reviewer's manager (or the fallback)
    /// this long after the opening.
    #[serde(default)]
    pub escalation: Option<Escalation>,
    /// What the deadline does to undecided items.
    #[serde(default)]
    pub at_deadline: DeadlineAction,
    /// When a decision needs a justification.
    #[serde(default)]
    pub justification: JustificationRule,
    /// How long IT has to carry out a revocation, counted from the close
    /// (when the list reaches it): a grant still live after that is a
    /// `review-revocation-pending` finding.
    #[serde(default = "default_remediation_sla")]
    pub remediation_sla: Span,
    /// An item kept in the previous campaign of this definition whose facts
    /// did not change: `prefill` the keep, `ask` again, or `skip` (kept by
    /// policy, recorded as such).
    #[serde(default)]
    pub unchanged: DeltaPolicy,
    /// Recipient groups or addresses that get the list of revocations (CSV)
    /// and the evidence report at the close.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Recipient groups or addresses (IT) that get the revocations to carry
    /// out, as CSV, at the close.
    #[serde(default)]
    pub revocations_to: Vec<String>,
    /// The job whose latest run's findings are shown beside each item.
    #[serde(default = "default_findings_from")]
    pub findings_from: String,
}

fn default_findings_from() -> String {
    "monthly".to_string()
}
fn default_duration() -> Span {
    Span::days(14)
}
fn default_remediation_sla() -> Span {
    Span::days(7)
}

/// Which live grants a campaign reviews; every list empty means all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewScope {
    /// Only grants of privileged or sensitive roles (privileged, over all
    /// data, or holding a permission of `sensitive_permissions`).
    #[serde(default)]
    pub sensitive_only: bool,
    /// Permission patterns that make a role sensitive (`*`, `?`;
    /// case-insensitive). Default: `*.export`, `*.delete`, `user.grant`.
    #[serde(default)]
    pub sensitive_permissions: Option<Vec<String>>,
    /// Only these roles (ids).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Only accounts of these departments.
    #[serde(default)]
    pub departments: Vec<String>,
    /// Only these account types (service, shared and external accounts are
    /// reviewed too unless left out here).
    #[serde(default)]
    pub account_types: Vec<AccountType>,
}

/// Who reviews an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReviewerRule {
    /// The holder's manager (`people.manager_id`).
    Manager,
    /// The role's owner (`roles.owner_id`).
    RoleOwner,
    /// A recipient group.
    Group(String),
    /// One person: a people id or an email address.
    Person(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// How long after the opening undecided items move.
    pub after: Span,
    /// `manager` (the reviewer's manager; the fallback where there is none)
    /// or `fallback`.
    #[serde(default)]
    pub to: EscalateTo,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalateTo {
    #[default]
    Manager,
    Fallback,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineAction {
    /// Undecided access is revoked (recorded "by policy").
    Revoke,
    /// Undecided access is kept (recorded "by policy").
    Keep,
    /// Nothing is decided: reported as undecided.
    #[default]
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JustificationRule {
    Always,
    /// For items of sensitive access, and for every revoke.
    #[default]
    Sensitive,
    Never,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeltaPolicy {
    #[default]
    Prefill,
    Ask,
    Skip,
}

/// `review_page:`: where `accessaudit serve` serves reviewers' pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewPageConfig {
    /// Local address the page listens on (behind a TLS proxy in production).
    pub listen: std::net::SocketAddr,
    /// The address reviewers' links start with, e.g.
    /// https://reviews.example.com (no trailing slash needed).
    pub public_url: String,
}

/// The problems of the `reviews:` definitions, as (dotted field, message).
pub(super) fn check(
    reviews: &BTreeMap<String, ReviewConfig>,
    page: Option<&ReviewPageConfig>,
    is_recipient: &dyn Fn(&str) -> Result<(), String>,
    tz: chrono_tz::Tz,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (name, r) in reviews {
        let at = |field: &str| format!("reviews.{name}.{field}");
        if let Some(s) = &r.schedule
            && let Err(e) = crate::schedule::Schedule::parse(s, tz)
        {
            problems.push((at("schedule"), e));
        }
        if let Err(e) = is_recipient(&r.fallback) {
            problems.push((at("fallback"), e));
        }
        if let ReviewerRule::Group(g) = &r.reviewer
            && let Err(e) = is_recipient(g)
        {
            problems.push((at("reviewer"), e));
        }
        for rcpt in r.recipients.iter().chain(&r.revocations_to) {
            if let Err(e) = is_recipient(rcpt) {
                problems.push((at("recipients"), e));
            }
        }
        if r.duration.0.is_zero() {
            problems.push((at("duration"), "a campaign must run for some time".into()));
        }
        for s in &r.reminders {
            if s.0 >= r.duration.0 {
                problems.push((
                    at("reminders"),
                    format!(
                        "a reminder {s} before the deadline would come before the opening (duration {})",
                        r.duration
                    ),
                ));
            }
        }
        if let Some(e) = &r.escalation
            && e.after.0 >= r.duration.0
        {
            problems.push((
                at("escalation.after"),
                format!(
                    "{} is not before the deadline (duration {})",
                    e.after, r.duration
                ),
            ));
        }
        if let Some(patterns) = &r.scope.sensitive_permissions
            && patterns.iter().any(|p| p.trim().is_empty())
        {
            problems.push((
                at("scope.sensitive_permissions"),
                "a pattern may not be empty".into(),
            ));
        }
    }
    if let Some(p) = page {
        let ok = p.public_url.parse::<hyper::Uri>().ok().is_some_and(|u| {
            matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
        });
        if !ok {
            problems.push((
                "review_page.public_url".into(),
                "not an http:// or https:// URL".into(),
            ));
        }
    }
    if !reviews.is_empty() && page.is_none() {
        problems.push((
            "review_page".into(),
            "campaigns send reviewers a link to their page: give review_page {listen, public_url}"
                .into(),
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    #[test]
    fn a_definition_is_strict_and_checked() {
        let text = "recipients:\n  it: [it@x.org]\nreview_page:\n  listen: 127.0.0.1:8089\n  public_url: https://r.x.org\nreviews:\n  q:\n    schedule: '0 9 1 1,4,7,10 *'\n    reviewer: manager\n    fallback: it\n    reminders: [7d, 1d]\n    escalation: {after: 10d}\n    at_deadline: revoke\n";
        let c = Config::parse(Path::new("c.yaml"), text).unwrap();
        let q = &c.reviews["q"];
        assert_eq!(q.duration.to_string(), "14d");
        assert_eq!(q.at_deadline, super::DeadlineAction::Revoke);

        let bad = "reviews:\n  q:\n    reviewer: {group: nope}\n    fallback: 'not an address'\n    duration: 7d\n    reminders: [8d]\n";
        let e = Config::parse(Path::new("c.yaml"), bad).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "reviews.q.fallback",
                "reviews.q.reviewer",
                "reviews.q.reminders",
                "review_page"
            ],
            "{e}"
        );
        let e = Config::parse(
            Path::new("c.yaml"),
            "reviews:\n  q:\n    reviewer: boss\n    fallback: a@x.org\n",
        )
        .unwrap_err();
        assert_eq!(e.0[0].line, 3, "{e}");
    }
}
