//! The use cases, in one place, that both front ends call: the CLI commands
//! (`commands`) and the daemon (`daemon`). Neither decides on its own how
//! settings combine, which rules a job runs, or how a report is rendered,
//! archived and handed over.
//!
//! - `settings`: the settings of a process (the config file, or the embedded
//!   default, with the command line over it);
//! - `loaded`: the set a SIGHUP swaps — settings, rules, templates and
//!   schedules, with the config's references to them checked together — and
//!   "which rules does this run evaluate";
//! - `reports`: render a run's report, archive it, write its files or hand
//!   it to the outbox;
//! - `people`: one person's accounts, roles and findings across every
//!   application (`people show`);
//! - `ledger`: the check of the whole ledger and of the records it covers.

pub mod ledger;
pub mod loaded;
pub mod people;
pub mod reports;
pub mod settings;

pub use loaded::Loaded;
pub use settings::{Overrides, Settings};
