//! Key changes heard as they commit on any node (PostgreSQL `LISTEN`): each changed key is
//! forgotten by this node's cache at once, so a key revoked on one node is refused on every
//! other within the notification's delay rather than the poll's; the same feed says when
//! sessions ended somewhere, so cached sessions are read again. When the feed was
//! interrupted, changes may have been missed, so the whole cache is forgotten. The revision
//! poll (`KeyRefresh`) keeps running as the backstop.

use crate::auth::KeyVerifier;
use crate::store::{KeyChangeFeed, KeyNotice};
use std::sync::Arc;
use std::time::Duration;

/// Apply one notice to the cache.
pub fn apply(verifier: &KeyVerifier, notice: &KeyNotice) {
    match notice {
        KeyNotice::Changed(id) => verifier.invalidate(id),
        KeyNotice::SessionsEnded => verifier.sessions_ended(),
        KeyNotice::Missed => {
            tracing::info!("key change feed reconnected; forgetting every cached key");
            verifier.invalidate_all();
        }
    }
}

/// Listen until aborted (at shutdown). A failing feed is retried every second.
pub fn spawn(
    verifier: Arc<KeyVerifier>,
    mut feed: Box<dyn KeyChangeFeed>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match feed.next().await {
                Ok(notice) => apply(&verifier, &notice),
                Err(err) => {
                    tracing::warn!(error = %err, "key change feed failed; retrying");
                    verifier.invalidate_all();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    })
}
