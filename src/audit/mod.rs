//! The tamper-evident audit trail (seed 001's audit record: time, route, message, context,
//! actor, client, outcome and extra fields).
//!
//! Each record stores the SHA-256 of its predecessor, and its own hash covers that link, its
//! position and its content; so editing, deleting or reordering any record breaks every hash
//! after it, which `portcullis audit verify` reports. Recording is off the request path:
//! handlers hand events to a bounded channel and a background writer appends them in batches.

mod chain;
mod event;
mod writer;

pub use chain::{ChainBreak, chain_hash, verify};
pub use event::{AuditEvent, Outcome};
pub use writer::AuditLog;
