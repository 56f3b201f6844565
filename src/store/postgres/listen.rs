//! Key changes as they commit anywhere: one `LISTEN` connection per node on
//! [`KEY_CHANNEL`](super::KEY_CHANNEL). Notifications sent while the connection is down are
//! lost, so a reconnect is reported as [`KeyNotice::Missed`] and the node forgets every
//! cached key; the revision poll stays as the backstop.

use crate::store::{KeyChangeFeed, KeyNotice, StoreError};
use async_trait::async_trait;
use sqlx::postgres::PgListener;
use sqlx::{Pool, Postgres};

/// A node's listener.
pub(super) struct KeyListener {
    listener: PgListener,
}

impl KeyListener {
    /// Connect and `LISTEN`.
    pub(super) async fn start(pool: &Pool<Postgres>) -> Result<Self, StoreError> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(super::KEY_CHANNEL).await?;
        Ok(Self { listener })
    }
}

#[async_trait]
impl KeyChangeFeed for KeyListener {
    async fn next(&mut self) -> Result<KeyNotice, StoreError> {
        // `try_recv` answers `None` when the connection was lost; the next call reconnects
        // (and re-issues the LISTEN) by itself.
        match self.listener.try_recv().await? {
            Some(notification) if notification.payload() == super::SESSIONS_ENDED => {
                Ok(KeyNotice::SessionsEnded)
            }
            Some(notification) => Ok(KeyNotice::Changed(notification.payload().to_owned())),
            None => Ok(KeyNotice::Missed),
        }
    }
}
