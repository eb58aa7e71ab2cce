//! Access reviews: certification campaigns.
//!
//! A campaign (a definition of `reviews:` in the configuration) is opened as
//! of an instant T: its population is frozen then, one item per live grant
//! in scope, each with a reviewer and the facts a reviewer needs to decide
//! (`open.rs`). Reviewers decide keep or revoke on their page
//! (`web.rs`, served by `serve`) or from the command line, a spreadsheet
//! or a script (`decide.rs`, `sheet.rs`); every assignment and decision is
//! appended, never changed (`record.rs` is the one writer of the review
//! tables). Reminders and escalations go through the outbox (`notify.rs`);
//! the close applies the deadline's policy, records what IT must revoke and
//! renders the campaign's evidence report (`close.rs`). The rule
//! `review-revocation-pending` then checks every revocation against what
//! later syncs and imports show.

use std::fmt;

pub mod close;
pub mod cycle;
pub mod decide;
pub mod notify;
pub mod open;
pub mod record;
pub mod sheet;
pub mod web;

/// Errors of the review stage.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// Something the caller asked that cannot be done, in words.
    #[error("{0}")]
    Refused(String),
    /// A bad line of a decisions file (file, line, column, field).
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    File(Vec<crate::yaml::LocatedError>),
}

pub type Result<T, E = ReviewError> = std::result::Result<T, E>;

/// Who reviews: a person of `people`, a recipient group, or an address.
/// Stored as its key (`person:ID`, `group:NAME`, `mail:ADDRESS`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reviewer {
    Person(String),
    Group(String),
    Mail(String),
}

impl Reviewer {
    pub fn key(&self) -> String {
        match self {
            Reviewer::Person(id) => format!("person:{id}"),
            Reviewer::Group(g) => format!("group:{g}"),
            Reviewer::Mail(a) => format!("mail:{a}"),
        }
    }

    pub fn from_key(key: &str) -> Option<Reviewer> {
        let (kind, rest) = key.split_once(':')?;
        match kind {
            "person" => Some(Reviewer::Person(rest.to_string())),
            "group" => Some(Reviewer::Group(rest.to_string())),
            "mail" => Some(Reviewer::Mail(rest.to_string())),
            _ => None,
        }
    }

    /// A group name of the configuration or an address, as written in
    /// `fallback:` or on a command line.
    pub fn from_config(text: &str, config: &crate::config::Config) -> Reviewer {
        if config.recipients.contains_key(text) {
            Reviewer::Group(text.to_string())
        } else {
            Reviewer::Mail(text.trim().to_ascii_lowercase())
        }
    }
}

impl fmt::Display for Reviewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// What was decided about an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Keep,
    Revoke,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Keep => "keep",
            Decision::Revoke => "revoke",
        }
    }

    pub fn parse(s: &str) -> Option<Decision> {
        match s.trim().to_ascii_lowercase().as_str() {
            "keep" => Some(Decision::Keep),
            "revoke" => Some(Decision::Revoke),
            _ => None,
        }
    }
}

/// Where a decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionSource {
    /// The reviewer's page.
    Page,
    /// `accessaudit reviews decide`.
    Cli,
    /// `accessaudit reviews import-decisions`.
    Import,
    /// The deadline's action (`at_deadline`).
    Policy,
    /// An unchanged item kept in the previous campaign (`unchanged: skip`
    /// certifies it, `prefill` proposes it).
    Delta,
}

impl DecisionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionSource::Page => "page",
            DecisionSource::Cli => "cli",
            DecisionSource::Import => "import",
            DecisionSource::Policy => "policy",
            DecisionSource::Delta => "delta",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviewer_keys_round_trip() {
        for r in [
            Reviewer::Person("p:1".into()),
            Reviewer::Group("it".into()),
            Reviewer::Mail("a@x.org".into()),
        ] {
            assert_eq!(Reviewer::from_key(&r.key()), Some(r));
        }
        assert_eq!(Reviewer::from_key("nobody"), None);
    }
}
