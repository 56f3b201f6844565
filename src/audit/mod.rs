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

use crate::store::AuditRecord;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An audit record as JSON (also the line format of `portcullis audit export`).
pub fn record_json(record: &AuditRecord) -> Value {
    let event = &record.event;
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(event.at_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok());
    json!({
        "seq": record.seq,
        "at": at,
        "kind": event.kind,
        "outcome": event.outcome,
        "route": event.route,
        "message": event.message,
        "context": event.context,
        "owner_id": event.owner_id,
        "key_id": event.key_id,
        "client": event.client,
        "extra": event.extra,
        "prev_hash": hex::encode(record.prev_hash),
        "hash": hex::encode(record.hash),
    })
}
