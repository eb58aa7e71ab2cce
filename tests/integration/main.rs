//! Every integration test of accessaudit, in one binary (one link instead of
//! one per file; the tests still run in parallel). The harness all of them
//! share is `common`: real SQLite files and the PostgreSQL of `.ci/services`
//! (`common::db`), the binary with a clean environment
//! (`common::accessaudit`), the daemon beside a real SMTP server
//! (`common::daemon`), and a real browser (`common::browser`).

#[macro_use]
mod common;

mod alerts;
mod applications;
mod architecture;
mod as_of;
mod daemon;
mod demo;
mod evidence;
mod hardening;
mod import;
mod people;
mod report;
mod report_browser;
mod report_demo;
mod retention;
mod review_browser;
mod reviews;
mod routing;
mod rule_loading;
mod run;
mod shipped_rule_tests;
mod sync_documents;
mod sync_history;
mod sync_ldap;
mod sync_sql_sources;
mod sync_wukongcrm;
mod systemd_unit;
mod webhooks;
