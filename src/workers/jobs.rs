//! The server's periodic jobs, each one step of work on a component that does the work.

use super::Worker;
use crate::audit::AuditLog;
use crate::auth::KeyVerifier;
use crate::auth::envelope::EnvelopeVerifier;
use crate::services::messages::Messages;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Picks up key changes made by the CLI or another node: the store's key revision is
/// compared with the last one seen, and the cache is cleared when it moved.
pub struct KeyRefresh {
    verifier: Arc<KeyVerifier>,
    every: Duration,
    /// The revision seen last; `i64::MAX` until the first answer (so the first step clears
    /// whatever the cache holds).
    seen: AtomicI64,
}

impl KeyRefresh {
    /// Check `verifier`'s store every `every`.
    pub fn new(verifier: Arc<KeyVerifier>, every: Duration) -> Self {
        Self {
            verifier,
            every,
            seen: AtomicI64::new(i64::MAX),
        }
    }
}

#[async_trait::async_trait]
impl Worker for KeyRefresh {
    fn name(&self) -> &'static str {
        "key refresh"
    }
    fn interval(&self) -> Duration {
        self.every
    }
    async fn tick(&self) {
        match self
            .verifier
            .refresh(self.seen.load(Ordering::Relaxed))
            .await
        {
            Ok(current) => self.seen.store(current, Ordering::Relaxed),
            Err(err) => tracing::warn!(error = %err, "cannot check for key changes"),
        }
    }
}

/// Writes the last-used times of keys to the store.
pub struct LastUsedFlush {
    verifier: Arc<KeyVerifier>,
    every: Duration,
}

impl LastUsedFlush {
    /// Flush `verifier`'s last-used times every `every`.
    pub fn new(verifier: Arc<KeyVerifier>, every: Duration) -> Self {
        Self { verifier, every }
    }
}

#[async_trait::async_trait]
impl Worker for LastUsedFlush {
    fn name(&self) -> &'static str {
        "last-used flush"
    }
    fn interval(&self) -> Duration {
        self.every
    }
    async fn tick(&self) {
        if let Err(err) = self.verifier.flush_last_used().await {
            tracing::warn!(error = %err, "cannot record last-used times");
        }
    }
}

/// Picks up a rotation of the envelope keys made on disk (`jose rotate`/`retire`).
pub struct EnvelopeKeyReload {
    envelope: Arc<EnvelopeVerifier>,
    every: Duration,
}

impl EnvelopeKeyReload {
    /// Look at the key files every `every`.
    pub fn new(envelope: Arc<EnvelopeVerifier>, every: Duration) -> Self {
        Self { envelope, every }
    }
}

#[async_trait::async_trait]
impl Worker for EnvelopeKeyReload {
    fn name(&self) -> &'static str {
        "envelope key reload"
    }
    fn interval(&self) -> Duration {
        self.every
    }
    async fn tick(&self) {
        let envelope = Arc::clone(&self.envelope);
        // Reading key files blocks; a slow disk must not stall request workers.
        let _ = tokio::task::spawn_blocking(move || envelope.reload_keys()).await;
    }
}

/// Writes the summaries of repeated refusals whose window has ended.
pub struct RefusalFlush {
    audit: AuditLog,
}

impl RefusalFlush {
    /// Flush `audit`'s ended refusal windows once a second.
    pub fn new(audit: AuditLog) -> Self {
        Self { audit }
    }
}

#[async_trait::async_trait]
impl Worker for RefusalFlush {
    fn name(&self) -> &'static str {
        "refusal summaries"
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(1)
    }
    async fn tick(&self) {
        self.audit.flush_refusals().await;
    }
}

/// Deletes expired messages from the SQL store (Redis expires its own; there it reconciles
/// the live count).
pub struct MessagePurge {
    messages: Messages,
}

impl MessagePurge {
    /// Purge `messages` every `messages.purge_interval`.
    pub fn new(messages: Messages) -> Self {
        Self { messages }
    }
}

#[async_trait::async_trait]
impl Worker for MessagePurge {
    fn name(&self) -> &'static str {
        "message purge"
    }
    fn interval(&self) -> Duration {
        self.messages.settings().purge_interval
    }
    async fn tick(&self) {
        match self.messages.purge_expired().await {
            Ok(0) => {}
            Ok(count) => tracing::debug!(count, "purged expired messages"),
            Err(err) => tracing::warn!(error = %err, "purging expired messages failed"),
        }
    }
}

/// Forgets expired one-time values in a shared database (used when there is no Redis).
pub struct NoncePurge {
    store: Arc<dyn crate::store::Store>,
    clock: Arc<dyn crate::clock::Clock>,
}

impl NoncePurge {
    /// Purge `store`'s expired values every minute.
    pub fn new(store: Arc<dyn crate::store::Store>, clock: Arc<dyn crate::clock::Clock>) -> Self {
        Self { store, clock }
    }
}

#[async_trait::async_trait]
impl Worker for NoncePurge {
    fn name(&self) -> &'static str {
        "nonce purge"
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(60)
    }
    async fn tick(&self) {
        match self.store.purge_nonces(self.clock.unix()).await {
            Ok(0) => {}
            Ok(count) => tracing::debug!(count, "purged expired one-time values"),
            Err(err) => tracing::warn!(error = %err, "purging one-time values failed"),
        }
    }
}
