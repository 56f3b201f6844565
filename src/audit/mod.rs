//! The tamper-evident audit trail (seed 001's audit record: time, route, message, context,
//! actor, client, outcome and extra fields).
//!
//! Each record stores the hash of its predecessor, and its own keyed hash covers that link,
//! its position and its content; so editing, deleting or reordering any record breaks every
//! hash after it, which `portcullis audit verify` reports. An external checkpoint (the latest
//! sequence number and hash, in a file beside the audit key) catches what a chain alone
//! cannot: records cut from the end. Recording is off the request path: handlers hand events
//! to a bounded channel and a background writer appends them in batches. Every value in an
//! event is bounded, and repeated refusals are counted rather than recorded one by one, so
//! no client can grow the trail faster than a few records per minute per address.

mod chain;
mod checkpoint;
mod event;
mod refusals;
mod writer;

pub use chain::{ChainBreak, ChainTip, chain_hash, matches_checkpoint, verify};
pub use checkpoint::{BadCheckpoint, CHECKPOINT_FILE, Checkpoint};
pub use event::{AuditEvent, MAX_TEXT, Outcome, bounded, bounded_text};
pub use refusals::RefusalGate;
pub use writer::{AuditLog, AuditOptions};

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
