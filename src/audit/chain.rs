//! The hash chain: how a record's hash is computed and how a chain is checked, against
//! itself and against an external checkpoint.

use super::checkpoint::Checkpoint;
use crate::secret::SecretKey;
use crate::store::{AuditDraft, AuditFilter, AuditRecord, Store, StoreError};
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
    /// The chain is shorter than the checkpoint says it was: records were cut from the end
    /// (or all of them deleted).
    #[error(
        "the chain ends at record {last} but the checkpoint saw record {checkpoint}: records were removed from the end"
    )]
    Truncated {
        /// The last record in the store (0: none).
        last: i64,
        /// The record the checkpoint names.
        checkpoint: i64,
    },
    /// The record the checkpoint names is not the one that was there: history was rewritten.
    #[error("record {seq} is not the record the checkpoint saw: the chain was rewritten")]
    Diverged {
        /// The record.
        seq: i64,
    },
}

/// The end of an intact chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    /// Records in the chain.
    pub count: u64,
    /// Sequence number of the last record (0 for an empty chain).
    pub seq: i64,
    /// Hash of the last record (zeros for an empty chain).
    pub hash: [u8; 32],
}

impl ChainTip {
    /// The checkpoint that records this tip.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint::new(self.seq, self.hash)
    }
}

fn check_record(
    key: &SecretKey,
    record: &AuditRecord,
    previous_seq: i64,
    previous_hash: &[u8; 32],
) -> Result<(), ChainBreak> {
    if record.seq != previous_seq + 1 || &record.prev_hash != previous_hash {
        return Err(ChainBreak::Unlinked {
            seq: record.seq,
            previous: previous_seq,
        });
    }
    // The hash covers the canonical JSON of `extra`; stored text in any other form (a
    // repeated key, say) is an edit even when it parses to the same value.
    let canonical = serde_json::to_string(&record.event.extra).unwrap_or_default();
    if canonical != record.stored_extra
        || chain_hash(key, &record.prev_hash, record.seq, &record.event) != record.hash
    {
        return Err(ChainBreak::Modified { seq: record.seq });
    }
    Ok(())
}

/// Walk the whole chain, and compare it with `checkpoint` when one is given. `Ok(Ok(tip))`:
/// every record intact, and the checkpoint's record present and unchanged.
pub async fn verify(
    store: &dyn Store,
    key: &SecretKey,
    checkpoint: Option<&Checkpoint>,
) -> Result<Result<ChainTip, ChainBreak>, StoreError> {
    let mut tip = ChainTip {
        count: 0,
        seq: 0,
        hash: [0u8; 32],
    };
    loop {
        let page = store
            .audit_events(&AuditFilter {
                after: Some(tip.seq),
                limit: 1000,
                ..AuditFilter::default()
            })
            .await?;
        if page.is_empty() {
            break;
        }
        for record in page {
            if let Err(broken) = check_record(key, &record, tip.seq, &tip.hash) {
                return Ok(Err(broken));
            }
            if let Some(checkpoint) = checkpoint
                && checkpoint.seq == record.seq
                && !checkpoint.matches(&record.hash)
            {
                return Ok(Err(ChainBreak::Diverged { seq: record.seq }));
            }
            tip.seq = record.seq;
            tip.hash = record.hash;
            tip.count += 1;
        }
    }
    if let Some(checkpoint) = checkpoint
        && checkpoint.seq > tip.seq
    {
        return Ok(Err(ChainBreak::Truncated {
            last: tip.seq,
            checkpoint: checkpoint.seq,
        }));
    }
    Ok(Ok(tip))
}

/// The quick check made at start: the record the checkpoint names is present and unchanged
/// (one read, not a walk of the whole chain).
pub async fn matches_checkpoint(
    store: &dyn Store,
    checkpoint: &Checkpoint,
) -> Result<Result<(), ChainBreak>, StoreError> {
    if checkpoint.seq == 0 {
        return Ok(Ok(()));
    }
    let found = store
        .audit_events(&AuditFilter {
            after: Some(checkpoint.seq - 1),
            limit: 1,
            ..AuditFilter::default()
        })
        .await?;
    Ok(match found.first() {
        Some(record) if record.seq == checkpoint.seq => {
            if checkpoint.matches(&record.hash) {
                Ok(())
            } else {
                Err(ChainBreak::Diverged { seq: record.seq })
            }
        }
        _ => {
            let last = store
                .audit_events(&AuditFilter {
                    after: Some(0),
                    limit: 1,
                    descending: true,
                    ..AuditFilter::default()
                })
                .await?
                .first()
                .map_or(0, |r| r.seq);
            Err(ChainBreak::Truncated {
                last,
                checkpoint: checkpoint.seq,
            })
        }
    })
}
