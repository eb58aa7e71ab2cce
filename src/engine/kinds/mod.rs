//! The rule kinds, one file each, and the one list that registers them.
//!
//! A kind's file holds everything about it: its parameters (a struct with
//! the documented default of every field, unknown fields refused), the
//! checks that types alone cannot make, and its evaluation. Loading,
//! validation, overrides, rule tests and dispatch are generic over the
//! list below (`kinds!`), so adding a kind touches its file, one line of
//! the list, and its rule and rule-test YAML (docs/ARCHITECTURE.md).

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::rule::Rule;
use super::{Context, Evaluation, Result, Sink};
use crate::model::AccountStatus;
use crate::store::Tx;

/// What a rule kind is: its `kind:` name, its parameters, and how it is
/// evaluated. `Self` is the kind's parameter struct.
pub trait Kind:
    Sized + Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The `kind:` of rule files (snake_case).
    const NAME: &'static str;

    /// The parameters of a rule file without `params:`; `Err` says what the
    /// kind needs instead (for kinds without a sensible default).
    fn defaults() -> Result<Self, &'static str>;

    /// What types alone cannot check; the offending parameter and why.
    fn check(&self) -> Result<(), (String, String)> {
        Ok(())
    }

    /// Evaluates `rule` as of `ctx.as_of` inside the run's snapshot,
    /// handing each finding to `sink`.
    fn evaluate<'a>(
        &'a self,
        tx: &'a mut Tx,
        ctx: &'a Context,
        rule: &'a Rule,
        sink: &'a mut Sink,
    ) -> impl Future<Output = Result<Evaluation>> + Send + 'a;
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

/// Registers the kinds: `Variant(module::Params)`, one line each.
macro_rules! kinds {
    ($($variant:ident($module:ident::$params:ident)),+ $(,)?) => {
        $(pub mod $module;)+
        $(pub use $module::$params;)+

        /// A rule's kind with its parameters, defaulted and checked.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "kind", content = "params", rename_all = "snake_case")]
        pub enum RuleKind {
            $($variant($params),)+
        }

        impl RuleKind {
            /// Every kind's `kind:` name, in list order.
            pub const NAMES: &'static [&'static str] = &[$(<$params as Kind>::NAME),+];

            /// This kind's `kind:` name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(RuleKind::$variant(_) => <$params as Kind>::NAME,)+
                }
            }

            /// Parameters of the kind called `name`, made by `maker`;
            /// `None` for a name that is no kind.
            pub fn make<M: ParamsMaker>(
                name: &str,
                maker: &M,
            ) -> Option<Result<RuleKind, M::Error>> {
                $(
                    if name == <$params as Kind>::NAME {
                        return Some(maker.make::<$params>().map(RuleKind::$variant));
                    }
                )+
                None
            }

            /// The same kind with `op` applied to its parameters.
            pub fn map<O: ParamsOp>(&self, op: &O) -> Result<RuleKind, O::Error> {
                match self {
                    $(RuleKind::$variant(p) => op.apply(p).map(RuleKind::$variant),)+
                }
            }

            /// The kind's own checks.
            pub fn check(&self) -> Result<(), (String, String)> {
                match self {
                    $(RuleKind::$variant(p) => p.check(),)+
                }
            }

            /// Evaluates `rule` (whose kind this is).
            pub(crate) async fn evaluate(
                &self,
                tx: &mut Tx,
                ctx: &Context,
                rule: &Rule,
                sink: &mut Sink,
            ) -> Result<Evaluation> {
                match self {
                    $(RuleKind::$variant(p) => p.evaluate(tx, ctx, rule, sink).await,)+
                }
            }
        }
    };
}

kinds! {
    IdleAccounts(idle_accounts::IdleAccounts),
    DepartedStillActive(departed_still_active::DepartedStillActive),
    OverPrivileged(over_privileged::OverPrivileged),
    BulkExport(bulk_export::BulkExport),
    SharedAccount(shared_account::SharedAccount),
    Sql(sql::CustomSql),
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
