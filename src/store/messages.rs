//! Storage of the message drop (seed 004), behind its own trait because it has two homes:
//! the SQL store, and Redis (the seed's store) when `redis_url` is set. Both implement the
//! same contract, and the same integration suite runs against both.
//!
//! The store never sees a message id or a plaintext body: rows are keyed by a hash of the id
//! and hold a sealed body (see `crate::services::messages`).

use super::StoreError;
use async_trait::async_trait;

/// One stored message, as the store keeps it.
#[derive(Clone)]
pub struct StoredMessage {
    /// Hex SHA-256 of the message id (domain-separated): the row's key.
    pub lookup: String,
    /// The body, encrypted and authenticated (nonce ‖ AES-256-GCM ciphertext).
    pub sealed: Vec<u8>,
    /// Deleted by its first successful read.
    pub burn: bool,
    /// Hex SHA-256 of the delete token.
    pub delete_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; the message is gone from this moment.
    pub expires_at: i64,
}

impl std::fmt::Debug for StoredMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredMessage")
            .field("lookup", &self.lookup)
            .field("sealed", &format_args!("{} bytes", self.sealed.len()))
            .field("burn", &self.burn)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What the message service needs from a store. Every method that reports success has
/// committed; `now` is passed in so that expiry follows the server's clock on every backend.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Store a new message unless `max_live` messages are stored already (then `Ok(false)`:
    /// the drop is full). Fails with `Conflict` if the lookup key exists (a 122-bit id
    /// collision: never in practice, but never an overwrite either). `now` lets expired
    /// messages not yet purged stop counting where the backend can tell cheaply (Redis).
    async fn put(
        &self,
        message: &StoredMessage,
        max_live: u64,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// The live message under `lookup`. A burn-after-reading message is deleted by the same
    /// atomic step that returns it, so of two concurrent readers exactly one gets it.
    async fn read(&self, lookup: &str, now: i64) -> Result<Option<StoredMessage>, StoreError>;
    /// The delete-token hash of the live message under `lookup`, for the caller to compare
    /// in constant time before calling [`MessageStore::delete`].
    async fn delete_hash(&self, lookup: &str, now: i64) -> Result<Option<String>, StoreError>;
    /// Remove the message; `false` when it was already gone.
    async fn delete(&self, lookup: &str) -> Result<bool, StoreError>;
    /// Remove expired messages (Redis expires its own keys; there this keeps the count of live
    /// messages true); returns how many entries were removed.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
    /// Messages stored, as counted for `max_live` (for metrics).
    async fn live(&self, now: i64) -> Result<u64, StoreError>;
    /// `sql` or `redis`, for logs and the service description.
    fn backend(&self) -> &'static str;
}
