//! Turning a run into something to read.
//!
//! - `output`: the `run --format` outputs (the JSON contract, CSV, a table);
//! - `lifecycle`: new / open / resolved / accepted against the previous run of the job;
//! - `exceptions`: accepted risks (database and versioned YAML file);
//! - `templates`: the handlebars templates (shipped, overridable by name);
//! - `chart`: findings per rule over the last runs, as a PNG;
//! - `render`: the report of a run as one MIME message (text, HTML, chart, CSV);
//! - `archive`: every rendered report with its SHA-256, and verification.

pub mod archive;
pub mod chart;
pub mod exceptions;
pub mod lifecycle;
pub mod output;
pub mod render;
pub mod templates;
