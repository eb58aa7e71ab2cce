//! Why a report could not be made.

use super::chart::ChartError;
use super::lifecycle::LifecycleError;
use super::templates::TemplateError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error("run {0} has not finished successfully (status {1}); only finished runs are reported")]
    Unfinished(i64, String),
    #[error("bad mail address `{0}`: {1}")]
    Address(String, String),
    #[error("building the message: {0}")]
    Mime(String),
    #[error("the {0} message would show a subject's login or email in clear; not rendered")]
    Masking(String),
    #[error("looking up the findings' subjects stopped: {0}")]
    Lookup(String),
    #[error("writing the CSV: {0}")]
    Csv(#[from] csv::Error),
}
