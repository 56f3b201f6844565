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
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An audit record as JSON (also the line format of `portcullis audit export`).
pub fn record_json(record: &AuditRecord) -> Value {
    serde_json::to_value(RecordView::of(record)).unwrap_or(Value::Null)
}

/// One record of the audit trail as the API and `portcullis audit export` show it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RecordView<'a> {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When it happened, RFC 3339 with milliseconds.
    pub at: Option<String>,
    /// What happened, e.g. `key.create`, `auth.refused`, `session.end`.
    pub kind: &'a str,
    /// `success`, `failure` or `denied`.
    pub outcome: &'a str,
    /// The route pattern, e.g. `/api/keys/{id}`.
    pub route: Option<&'a str>,
    /// A sentence for people.
    pub message: &'a str,
    /// Where it was recorded: `api`, `cli`, `worker`…
    pub context: &'a str,
    /// The acting owner.
    pub owner_id: Option<&'a str>,
    /// The acting key.
    pub key_id: Option<&'a str>,
    /// The client's address.
    pub client: Option<&'a str>,
    /// The event's own fields.
    pub extra: &'a serde_json::Map<String, Value>,
    /// Hex SHA-256 of the previous record.
    pub prev_hash: String,
    /// Hex SHA-256 of this record, chained to `prev_hash`.
    pub hash: String,
}

impl<'a> RecordView<'a> {
    /// The view of a stored record.
    pub fn of(record: &'a AuditRecord) -> Self {
        let event = &record.event;
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(event.at_ms) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok());
        Self {
            seq: record.seq,
            at,
            kind: &event.kind,
            outcome: &event.outcome,
            route: event.route.as_deref(),
            message: &event.message,
            context: &event.context,
            owner_id: event.owner_id.as_deref(),
            key_id: event.key_id.as_deref(),
            client: event.client.as_deref(),
            extra: &event.extra,
            prev_hash: hex::encode(record.prev_hash),
            hash: hex::encode(record.hash),
        }
    }
}
