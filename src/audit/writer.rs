//! The audit writer: a bounded channel in front of a task that appends in batches and moves
//! the external checkpoint forward. Recording an event that reports a success (a key made,
//! a session opened) waits until its batch has committed, so a response that follows it is
//! never ahead of the trail, even if the process is killed right after; refusals, which may
//! come in floods and report nothing, are queued without waiting.

use super::chain::chain_hash;
use super::checkpoint::Checkpoint;
use super::event::AuditEvent;
use super::refusals::RefusalGate;
use crate::clock::Clock;
use crate::secret::SecretKey;
use crate::store::{AuditDraft, Store};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Events waiting to be written at most; beyond that, recording waits (back-pressure) rather
/// than dropping security events.
const QUEUE: usize = 4096;
/// Events written per transaction at most.
const BATCH: usize = 256;
/// The checkpoint file is rewritten at most this often (each write is an fsync).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Kinds of refusal counted at once at most (see `refusals`).
const REFUSAL_TALLIES: usize = 10_000;

/// How the trail is kept, beyond the store and the key.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// The checkpoint file; none when unset.
    pub checkpoint: Option<PathBuf>,
    /// Repeated refusals within this window are counted into one summary (zero: off).
    pub refusal_window: Duration,
}

/// An event on its way to the writer, with whom to tell once it has committed.
type Queued = (AuditDraft, Option<oneshot::Sender<()>>);

/// Handle for recording events. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sender: Option<mpsc::Sender<Queued>>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    key: SecretKey,
    gate: Option<Arc<RefusalGate>>,
    checkpoint: Option<PathBuf>,
}

/// Append a batch, trying again while the store is unavailable (a database restarting, a
/// failover) for up to about half a minute: events wait, and so do the requests that
/// recorded a success, rather than the trail losing them. Another error is final.
async fn append_retrying(
    store: &dyn Store,
    drafts: &[AuditDraft],
    hasher: crate::store::ChainHasher<'_>,
) -> Result<Vec<crate::store::AuditRecord>, crate::store::StoreError> {
    let mut delay = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    let started = std::time::Instant::now();
    loop {
        match store.append_audit(drafts, hasher).await {
            Ok(records) => {
                crate::telemetry::metrics::metrics().audit_batch(records.len(), started.elapsed());
                return Ok(records);
            }
            Err(crate::store::StoreError::Unavailable(reason)) if waited < RETRY_FOR => {
                tracing::warn!(%reason, events = drafts.len(), "audit store unavailable; retrying");
                tokio::time::sleep(delay).await;
                waited += delay;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// How long a batch is retried while the store is unavailable.
const RETRY_FOR: Duration = Duration::from_secs(30);

fn write_checkpoint(path: Option<PathBuf>, checkpoint: Checkpoint) {
    if let Some(path) = path
        && let Err(err) = checkpoint.advance(&path)
    {
        tracing::error!(error = %err, path = %path.display(), "could not write the audit checkpoint");
    }
}

impl AuditLog {
    /// Events queued for the background writer and not yet taken (for metrics).
    pub fn queue_depth(&self) -> usize {
        self.sender
            .as_ref()
            .map_or(0, |s| s.max_capacity() - s.capacity())
    }

    /// A log with a background writer (for the server). Returns the writer's task, which
    /// ends after every handle is dropped and the queue is drained.
    pub fn spawn(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        key: SecretKey,
        options: AuditOptions,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (sender, mut receiver) = mpsc::channel::<Queued>(QUEUE);
        let writer_store = Arc::clone(&store);
        let writer_key = key.clone();
        let checkpoint_path = options.checkpoint.clone();
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            let hasher = move |prev: &[u8; 32], seq: i64, event: &AuditDraft| {
                chain_hash(&writer_key, prev, seq, event)
            };
            let mut pending: Option<Checkpoint> = None;
            let mut written_at = tokio::time::Instant::now() - CHECKPOINT_EVERY;
            loop {
                let due = written_at + CHECKPOINT_EVERY;
                tokio::select! {
                    received = receiver.recv_many(&mut batch, BATCH) => {
                        if received == 0 {
                            break;
                        }
                        let (drafts, acks): (Vec<AuditDraft>, Vec<_>) = batch.drain(..).unzip();
                        match append_retrying(&*writer_store, &drafts, &hasher).await {
                            Ok(records) => {
                                if let Some(last) = records.last() {
                                    pending = Some(Checkpoint::new(last.seq, last.hash));
                                }
                            }
                            Err(err) => {
                                tracing::error!(error = %err, lost = drafts.len(), "could not write audit events");
                            }
                        }
                        // Written (or failed and logged): the waiting requests go on.
                        for ack in acks.into_iter().flatten() {
                            let _ = ack.send(());
                        }
                    }
                    () = tokio::time::sleep_until(due), if pending.is_some() => {}
                }
                if tokio::time::Instant::now() >= due
                    && let Some(checkpoint) = pending.take()
                {
                    written_at = tokio::time::Instant::now();
                    let path = checkpoint_path.clone();
                    let _ = tokio::task::spawn_blocking(move || write_checkpoint(path, checkpoint))
                        .await;
                }
            }
            if let Some(checkpoint) = pending {
                let path = checkpoint_path.clone();
                let _ =
                    tokio::task::spawn_blocking(move || write_checkpoint(path, checkpoint)).await;
            }
        });
        let gate = (!options.refusal_window.is_zero())
            .then(|| Arc::new(RefusalGate::new(options.refusal_window, REFUSAL_TALLIES)));
        (
            Self {
                sender: Some(sender),
                store,
                clock,
                key,
                gate,
                checkpoint: options.checkpoint,
            },
            task,
        )
    }

    /// A log that writes each event before returning (for the CLI). Nothing is aggregated.
    pub fn direct(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        key: SecretKey,
        checkpoint: Option<PathBuf>,
    ) -> Self {
        Self {
            sender: None,
            store,
            clock,
            key,
            gate: None,
            checkpoint,
        }
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// Record an event, stamped with the current time. A refusal may be counted into a
    /// summary instead (see `refusals`).
    pub async fn record(&self, event: AuditEvent) {
        let now = self.now_ms();
        let wait = event.awaits_commit();
        if event.counts_repeats()
            && let Some(gate) = &self.gate
        {
            let admission = gate.admit(&event, now);
            for summary in admission.summaries {
                self.write(summary, now, false).await;
            }
            if !admission.record {
                return;
            }
        }
        self.write(event.draft, now, wait).await;
    }

    /// Record the summaries of refusal windows that have ended (called periodically).
    pub async fn flush_refusals(&self) {
        let Some(gate) = &self.gate else { return };
        let now = self.now_ms();
        for summary in gate.finished(now) {
            self.write(summary, now, false).await;
        }
    }

    /// Record every pending refusal summary, ended or not (at shutdown).
    pub async fn drain_refusals(&self) {
        let Some(gate) = &self.gate else { return };
        let now = self.now_ms();
        for summary in gate.drain() {
            self.write(summary, now, false).await;
        }
    }

    /// Write one record; with `wait`, return only once it is committed.
    async fn write(&self, mut draft: AuditDraft, now_ms: i64, wait: bool) {
        draft.at_ms = now_ms;
        match &self.sender {
            Some(sender) => {
                let (ack, committed) = if wait {
                    let (ack, committed) = oneshot::channel();
                    (Some(ack), Some(committed))
                } else {
                    (None, None)
                };
                if sender.send((draft, ack)).await.is_err() {
                    tracing::error!("audit writer has stopped; event lost");
                    return;
                }
                if let Some(committed) = committed {
                    let _ = committed.await;
                }
            }
            None => {
                let key = self.key.clone();
                let hasher = move |prev: &[u8; 32], seq: i64, event: &AuditDraft| {
                    chain_hash(&key, prev, seq, event)
                };
                match self.store.append_audit(&[draft], &hasher).await {
                    Ok(records) => {
                        if let Some(last) = records.last() {
                            write_checkpoint(
                                self.checkpoint.clone(),
                                Checkpoint::new(last.seq, last.hash),
                            );
                        }
                    }
                    Err(err) => tracing::error!(error = %err, "could not write audit event"),
                }
            }
        }
    }
}
