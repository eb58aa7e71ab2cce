//! The engine's errors.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rule {rule}: {message}")]
    Rule { rule: String, message: String },
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
