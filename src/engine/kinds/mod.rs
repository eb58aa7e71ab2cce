//! The rule kinds, one file each, and the one list that registers them.
//!
//! A kind's file holds everything about it: its parameters (a struct with
//! the documented default of every field, unknown fields refused), the
//! checks that types alone cannot make, and its evaluation (`impl Kind`,
//! see `engine::kind`). Loading, validation, overrides, rule tests and
//! dispatch are generic over the list below (`kinds!`), so adding a kind
//! touches its file, one line of the list, and its rule and rule-test YAML
//! (docs/ARCHITECTURE.md).

use serde::Serialize;

use super::context::{Context, Evaluation, Needed, RuleMeta, unfilled};
use super::error::Result;
use super::kind::{Kind, ParamsMaker, ParamsOp};
use super::sink::Sink;
use crate::store::Tx;

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
                    if name == <$params as Kind>::NAME
                        || <$params as Kind>::FORMER_NAMES.contains(&name)
                    {
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

            /// The subject type the kind's findings usually have.
            pub fn subject_type(&self) -> crate::model::SubjectType {
                match self {
                    $(RuleKind::$variant(p) => p.subject_type(),)+
                }
            }

            /// How far back before T the rule reads events (see `Kind::event_reach`).
            pub fn event_reach(&self) -> crate::engine::kind::EventReach {
                match self {
                    $(RuleKind::$variant(p) => p.event_reach(),)+
                }
            }

            /// The kind's own checks.
            pub fn check(&self) -> Result<(), (String, String)> {
                match self {
                    $(RuleKind::$variant(p) => p.check(),)+
                }
            }

            /// What only the database can check (see `Kind::probe`).
            pub async fn probe(
                &self,
                tx: &mut Tx,
                as_of: chrono::DateTime<chrono::Utc>,
            ) -> std::result::Result<(), String> {
                match self {
                    $(RuleKind::$variant(p) => p.probe(tx, as_of).await,)+
                }
            }

            /// Evaluates the rule `rule` (whose kind this is).
            pub(crate) async fn evaluate(
                &self,
                tx: &mut Tx,
                ctx: &Context,
                rule: &RuleMeta<'_>,
                sink: &mut Sink,
            ) -> Result<Evaluation> {
                // No silent clean: data the kind depends on that no row
                // fills makes the rule not applicable, whatever the kind.
                if let Some(reason) = unfilled(tx, self.needs()).await? {
                    return Ok(Evaluation::not_applicable(reason));
                }
                match self {
                    $(RuleKind::$variant(p) => p.evaluate(tx, ctx, rule, sink).await,)+
                }
            }

            /// The columns the kind depends on (see `Kind::NEEDS`).
            pub fn needs(&self) -> &'static [Needed] {
                match self {
                    $(RuleKind::$variant(_) => <$params as Kind>::NEEDS,)+
                }
            }
        }
    };
}

kinds! {
    IdleAccounts(idle_accounts::IdleAccounts),
    DepartedStillActive(departed_still_active::DepartedStillActive),
    TransferKeptAccess(transfer_kept_access::TransferKeptAccess),
    NonEmployeeAccess(non_employee_access::NonEmployeeAccess),
    AdminActionsReview(admin_actions_review::AdminActionsReview),
    DeviceSprawl(device_sprawl::DeviceSprawl),
    OverPrivileged(over_privileged::OverPrivileged),
    BulkAction(bulk_action::BulkAction),
    SharedAccount(shared_account::SharedAccount),
    SeparationOfDuties(separation_of_duties::SeparationOfDuties),
    Sql(sql::CustomSql),
    // Issue 12, rules-a: grants, passwords, MFA, orphans.
    ExpiredGrantStillLive(expired_grant_still_live::ExpiredGrantStillLive),
    GrantWithoutApproval(grant_without_approval::GrantWithoutApproval),
    InitialPasswordUnchanged(initial_password_unchanged::InitialPasswordUnchanged),
    PrivilegedWithoutMfa(privileged_without_mfa::PrivilegedWithoutMfa),
    OrphanAccount(orphan_account::OrphanAccount),
    // Issue 13: access reviews.
    ReviewRevocationPending(review_revocation_pending::ReviewRevocationPending),
}
