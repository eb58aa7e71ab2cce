//! What a rule kind is: the interface every kind's file implements
//! (`kinds/`), and what loading does with a kind's parameters without
//! knowing which kind it is.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::{Context, Evaluation, Needed, RuleMeta};
use super::error::Result;
use super::sink::Sink;
use crate::model::{AccountStatus, Span, SubjectType};
use crate::store::Tx;

/// What a rule kind is: its `kind:` name, its parameters, and how it is
/// evaluated. `Self` is the kind's parameter struct.
pub trait Kind:
    Sized + Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The `kind:` of rule files (snake_case).
    const NAME: &'static str;

    /// Names the kind had before, still accepted in rule files.
    const FORMER_NAMES: &'static [&'static str] = &[];

    /// The columns the kind depends on (`table`, `column`; `id` for "the
    /// table has a row"): when no row fills one, the rule is not applicable
    /// with that reason and is not evaluated (`RuleKind::evaluate`).
    const NEEDS: &'static [Needed] = &[];

    /// Parameters renamed: (former name, name). A rule file or override may
    /// still use the former name.
    const PARAM_ALIASES: &'static [(&'static str, &'static str)] = &[];

    /// The parameters of a rule file without `params:`; `Err` says what the
    /// kind needs instead (for kinds without a sensible default).
    fn defaults() -> Result<Self, &'static str>;

    /// The subject type this kind's findings usually have (a rule test's
    /// `expect` entry that names none means this one).
    fn subject_type(&self) -> SubjectType {
        SubjectType::Principal
    }

    /// How far back before T the kind reads events: what a run as of an
    /// instant before a retention run can still reconstruct (engine::run),
    /// and how short `retention --keep` may be. The default is the safe
    /// one for a kind that does not say: events of any age.
    fn event_reach(&self) -> EventReach {
        EventReach::AnyAge { needs: None }
    }

    /// What types alone cannot check; the offending parameter and why.
    fn check(&self) -> Result<(), (String, String)> {
        Ok(())
    }

    /// Checks what only the database can tell (a deployment's SQL against
    /// the canonical schema), reading no row: `rules validate` calls it in
    /// a read-only scan. Most kinds have nothing to probe.
    fn probe(
        &self,
        _tx: &mut Tx,
        _as_of: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = std::result::Result<(), String>> + Send {
        async { Ok(()) }
    }

    /// Evaluates `rule` as of `ctx.as_of` inside the run's snapshot,
    /// handing each finding to `sink`.
    fn evaluate(
        &self,
        tx: &mut Tx,
        ctx: &Context,
        rule: &RuleMeta<'_>,
        sink: &mut Sink,
    ) -> impl Future<Output = Result<Evaluation>> + Send;
}

/// How far back before T a rule reads events (`Kind::event_reach`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventReach {
    /// It reads no events.
    None,
    /// Only events in (T − span, T].
    Within(Span),
    /// Events of any age (the last sign-in ever, every use since a
    /// departure); `needs`: the span its judgement rests on, when it has one
    /// (an idle account is one without a sign-in within `max_idle`).
    AnyAge { needs: Option<Span> },
}

impl EventReach {
    /// The least history a run needs to judge as configured (`None`: no
    /// such span, or no events at all).
    pub fn needs(self) -> Option<Span> {
        match self {
            EventReach::None => None,
            EventReach::Within(span) => Some(span),
            EventReach::AnyAge { needs } => needs,
        }
    }
}

/// An operation on a kind's parameters that keeps their type (an override
/// merged onto them, a rule test's `params:`), generic over the kinds.
pub trait ParamsOp {
    type Error;
    fn apply<K: Kind>(&self, params: &K) -> Result<K, Self::Error>;
}

/// An operation that makes a kind's parameters from nothing (a rule file).
pub trait ParamsMaker {
    type Error;
    fn make<K: Kind>(&self) -> Result<K, Self::Error>;
}

// Defaults several kinds share.

pub(crate) fn statuses_active_pending() -> Vec<AccountStatus> {
    vec![AccountStatus::Active, AccountStatus::Pending]
}

pub(crate) fn statuses_usable() -> Vec<AccountStatus> {
    vec![
        AccountStatus::Active,
        AccountStatus::Pending,
        AccountStatus::Locked,
    ]
}

/// The default freshness gate: the event feed must have news of the last day.
pub(crate) fn gate_24h() -> Option<crate::model::Span> {
    Some(crate::model::Span::hours(24))
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The offending parameter and why, as `Kind::check` returns it.
pub(crate) fn invalid(field: &str, message: &str) -> Result<(), (String, String)> {
    Err((field.to_string(), message.to_string()))
}

/// `field` must list at least one `what` (an empty list would check nothing).
pub(crate) fn non_empty<T>(field: &str, items: &[T], what: &str) -> Result<(), (String, String)> {
    if items.is_empty() {
        return invalid(field, &format!("must list at least one {what}"));
    }
    Ok(())
}

/// Permission patterns are dotted names with `*` / `?` wildcards: never
/// empty, never with spaces (a pattern that matches nothing by mistake
/// would make a rule silently blind).
pub(crate) fn permission_patterns(
    field: &str,
    patterns: &[String],
) -> Result<(), (String, String)> {
    if patterns
        .iter()
        .any(|p| p.is_empty() || p.contains(char::is_whitespace))
    {
        return invalid(field, "patterns are dotted names like `*.export`");
    }
    Ok(())
}
