//! The audit writer: a bounded channel in front of a task that appends in batches.

use super::chain::chain_hash;
use super::event::AuditEvent;
use crate::clock::Clock;
use crate::secret::SecretKey;
use crate::store::{AuditDraft, Store};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Events waiting to be written at most; beyond that, recording waits (back-pressure) rather
/// than dropping security events.
const QUEUE: usize = 4096;
/// Events written per transaction at most.
const BATCH: usize = 256;

/// Handle for recording events. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sender: Option<mpsc::Sender<AuditDraft>>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    key: SecretKey,
}

impl AuditLog {
    /// A log with a background writer (for the server). Returns the writer's task, which
    /// ends after every handle is dropped and the queue is drained.
    pub fn spawn(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        key: SecretKey,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (sender, mut receiver) = mpsc::channel::<AuditDraft>(QUEUE);
        let writer_store = Arc::clone(&store);
        let writer_key = key.clone();
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            let hasher = move |prev: &[u8; 32], seq: i64, event: &AuditDraft| {
                chain_hash(&writer_key, prev, seq, event)
            };
            while receiver.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(err) = writer_store.append_audit(&batch, &hasher).await {
                    tracing::error!(error = %err, lost = batch.len(), "could not write audit events");
                }
                batch.clear();
            }
        });
        (
            Self {
                sender: Some(sender),
                store,
                clock,
                key,
            },
            task,
        )
    }

    /// A log that writes each event before returning (for the CLI).
    pub fn direct(store: Arc<dyn Store>, clock: Arc<dyn Clock>, key: SecretKey) -> Self {
        Self {
            sender: None,
            store,
            clock,
            key,
        }
    }

    /// Record an event, stamped with the current time.
    pub async fn record(&self, event: AuditEvent) {
        let mut draft = event.draft;
        draft.at_ms = (self.clock.now().unix_timestamp_nanos() / 1_000_000) as i64;
        match &self.sender {
            Some(sender) => {
                if sender.send(draft).await.is_err() {
                    tracing::error!("audit writer has stopped; event lost");
                }
            }
            None => {
                let key = self.key.clone();
                let hasher = move |prev: &[u8; 32], seq: i64, event: &AuditDraft| {
                    chain_hash(&key, prev, seq, event)
                };
                if let Err(err) = self.store.append_audit(&[draft], &hasher).await {
                    tracing::error!(error = %err, "could not write audit event");
                }
            }
        }
    }
}
