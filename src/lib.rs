//! accessaudit: periodic access review and compliance auditing.
//!
//! Data flows one way: `collect` → `engine` (evaluate rules) → `report`.
//! `store` is the only module that opens database connections. See
//! docs/ARCHITECTURE.md.

// The project's only unsafe code is outside the library: SQLite's authorizer
// (crates/sqlite-guard), the benchmark's wait4 (bench/) and glibc's malloc
// tuning (crates/malloc-tuning).
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod collect;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod deliver;
pub mod demo;
pub mod engine;
pub mod model;
pub mod report;
pub mod review;
pub mod schedule;
pub mod store;
pub mod support;
pub mod telemetry;
pub mod yaml;
