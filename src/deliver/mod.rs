//! Deliver: the last stage of the pipeline. Rendered messages are stored in
//! the outbox (in the database) before anything is sent; a sender loop takes
//! due messages, hands them to the transport (SMTP or files) and records the
//! outcome, retrying with exponential backoff.

pub mod compose;
pub mod outbox;
pub mod routing;
pub mod sender;
pub mod transport;
pub mod webhook;

pub use outbox::{OutboxDepth, OutgoingMessage};
pub use transport::{Transport, TransportError};
