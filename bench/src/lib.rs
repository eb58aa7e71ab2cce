//! Benchmarks at scale (`accessaudit-bench`, BENCHMARKS.md): a generator of
//! large canonical data sets, and for every shipped rule a reference query
//! written by hand, run by the database's own client, that must give the same
//! findings as the engine.
//!
//! - `generate`: the data set, streamed straight into the store;
//! - `reference`: the hand-written SQL per rule and backend;
//! - `harness`: running the `accessaudit` binary and the database clients as
//!   child processes, timing them (wall clock, peak RSS) and comparing findings.

pub mod generate;
pub mod harness;
pub mod reference;
