//! Turning a run into something to read.
//!
//! - `output`: the `run --format` outputs (the JSON contract, CSV, a table);
//! - `lifecycle`: new / open / resolved / accepted against the previous run of the job;
//! - `exceptions`: accepted risks (database and versioned YAML file);
//! - `templates`: the handlebars templates (shipped, overridable by name),
//!   test-rendered at load with `sample`'s complete context;
//! - `chart`: findings per rule over the last runs, as a PNG;
//! - `render`: the report of a run as one MIME message, in four steps:
//!   `facts` (read all but the findings), `tally` (one streaming pass
//!   over the findings: what the report shows of them, each as `item`
//!   makes it, and the CSV file, `findings_csv`), `view` (the templates'
//!   data), `mime` (the message); the CSV and the standalone HTML are
//!   `spool`ed to files, hashed as they are written;
//! - `audience`: a digest's findings only, personal data masked;
//! - `humanise`: evidence as labelled facts, control ids in numeric order;
//!   `controls`: the names of the controls the shipped rules evidence;
//! - `archive`: every rendered report with its SHA-256 (and its ledger
//!   entry), and verification;
//! - `manifest`: a signed report's manifest, and its offline verification;
//! - `oscal`: a run as OSCAL assessment results.

pub mod applications;
pub mod archive;
pub mod audience;
pub mod changes;
pub mod chart;
pub mod controls;
pub mod error;
pub mod exceptions;
pub mod facts;
pub mod findings_csv;
pub mod humanise;
pub mod item;
pub mod lifecycle;
pub mod manifest;
pub mod mime;
pub mod oscal;
pub mod output;
pub mod render;
pub mod sample;
pub mod spool;
pub mod tally;
pub mod templates;
pub mod view;
