//! Evaluating rules as of an instant T.
//!
//! A run opens one read-only snapshot of the canonical tables (with a statement
//! timeout), evaluates each rule inside the database, and streams the findings
//! into the engine's tables in batches: no rule holds a table in memory. A rule
//! that fails is recorded as failed and the others still run.

mod applications;
mod context;
pub mod deployment;
mod error;
pub mod identity;
pub mod kind;
pub mod kinds;
pub mod load;
pub mod named_params;
pub(crate) mod roles;
pub mod rule;
mod run;
mod sink;
pub mod testing;

pub(crate) use context::json_time;
pub use context::{Context, Evaluation, RuleMeta};
pub use deployment::{Deployment, IdentityMatch};
pub use error::{EngineError, Result};
pub use kind::Kind;
pub use kinds::RuleKind;
pub use load::{RuleSet, SourceFile};
pub use rule::{Control, Rule, Scope};
pub(crate) use run::principals_at;
pub use run::{RunSummary, probe, run, run_recorded_in};
pub use sink::Sink;
