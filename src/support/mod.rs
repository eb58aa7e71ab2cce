//! Small pieces every layer may use, each in one place: they import nothing
//! of the pipeline.

pub mod atomic_file;
pub mod csv_lines;
pub mod http;
pub mod mail;
pub mod pii;
pub mod process;
pub mod progress;
pub mod secrets;
pub mod signing;
pub mod text;
pub mod wildcard;
