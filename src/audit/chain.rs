//! The hash chain: how a record's hash is computed and how a chain is checked.

use crate::secret::SecretKey;
use crate::store::{AuditDraft, AuditFilter, Store, StoreError};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// `HMAC-SHA256(audit key, "portcullis-audit-v1" ‖ prev_hash ‖ seq (8 bytes, big-endian) ‖
/// JSON(event))`. Keyed, so that someone who can write the database but does not hold the
/// audit key (kept outside it) cannot rewrite history and recompute the chain. The JSON is
/// canonical: struct fields in declaration order, `extra` keys sorted.
pub fn chain_hash(key: &SecretKey, prev: &[u8; 32], seq: i64, event: &AuditDraft) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.bytes()[..])
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"portcullis-audit-v1");
    mac.update(prev);
    mac.update(&seq.to_be_bytes());
    // Serializing a struct of strings, integers and a sorted map cannot fail.
    mac.update(&serde_json::to_vec(event).unwrap_or_default());
    mac.finalize().into_bytes().into()
}

/// The first place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// A record's content does not match its hash: it was edited.
    #[error("record {seq} was modified (its hash does not match its content)")]
    Modified {
        /// The record.
        seq: i64,
    },
    /// A record does not link to the one before it: records were removed or reordered.
    #[error("record {seq} does not follow record {previous} (records removed or reordered)")]
    Unlinked {
        /// The record.
        seq: i64,
        /// The record before it in storage order.
        previous: i64,
    },
}

/// Walk the whole chain. `Ok(Ok(n))`: `n` records, all intact.
pub async fn verify(
    store: &dyn Store,
    key: &SecretKey,
) -> Result<Result<u64, ChainBreak>, StoreError> {
    let mut previous_seq = 0i64;
    let mut previous_hash = [0u8; 32];
    let mut count = 0u64;
    loop {
        let page = store
            .audit_events(&AuditFilter {
                after: Some(previous_seq),
                limit: 1000,
                ..AuditFilter::default()
            })
            .await?;
        if page.is_empty() {
            return Ok(Ok(count));
        }
        for record in page {
            if record.seq != previous_seq + 1 || record.prev_hash != previous_hash {
                return Ok(Err(ChainBreak::Unlinked {
                    seq: record.seq,
                    previous: previous_seq,
                }));
            }
            if chain_hash(key, &record.prev_hash, record.seq, &record.event) != record.hash {
                return Ok(Err(ChainBreak::Modified { seq: record.seq }));
            }
            previous_seq = record.seq;
            previous_hash = record.hash;
            count += 1;
        }
    }
}
