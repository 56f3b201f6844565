//! The message drop (seed 004): post a text, get an unguessable URL, read it back.
//!
//! Beyond the seed, as message-drop services offer: a lifetime per message (default and
//! maximum from config), burn-after-reading (the first read deletes it, atomically), a size
//! limit, and deletion by the poster with a token returned once, at creation.
//!
//! This layer owns ids, expiry rules and encryption at rest; the HTTP layer owns who may call
//! it, and the store ([`MessageStore`]) owns atomicity.

mod id;
/// The HTTP face of the message drop: the only file here that knows axum.
pub mod routes;
/// `[messages]`.
pub mod settings;

pub use id::MessageId;

use crate::clock::Clock;
use crate::config::MessageSettings;
use crate::secret::SecretString;
use crate::store::{MessageStore, StoreError, StoredMessage};
use crate::telemetry::metrics::metrics;
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a message operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The request makes no sense (empty message, bad lifetime); the text is safe to return.
    #[error("{0}")]
    Invalid(String),
    /// The message is larger than the configured limit.
    #[error("the message exceeds {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// `max_live` messages are stored already.
    #[error("the message drop is full")]
    Full,
    /// No live message has this id (or this id and delete token): unknown, malformed,
    /// expired, already burned, or deleted — deliberately indistinguishable.
    #[error("no such message")]
    NotFound,
    /// The OS random source failed.
    #[error("random generator: {0}")]
    Random(#[from] getrandom::Error),
    /// A stored body does not decrypt under its id: the row was altered.
    #[error("stored message {0} does not decrypt")]
    Corrupt(String),
    /// The store failed or is unreachable.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A message to post.
pub struct NewMessage {
    /// The text.
    pub text: SecretString,
    /// Lifetime; the configured default when `None`.
    pub expires_in: Option<Duration>,
    /// Delete on first read.
    pub burn_after_reading: bool,
}

/// A posted message: everything the poster needs, returned once.
pub struct Created {
    /// The id: whoever holds it may read the message.
    pub id: MessageId,
    /// Lets the poster delete the message; only its hash is stored.
    pub delete_token: Zeroizing<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Deleted by its first read.
    pub burn_after_reading: bool,
}

/// A message, as read.
pub struct Message {
    /// The text.
    pub text: Zeroizing<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Whether this read deleted it.
    pub burn_after_reading: bool,
}

/// The message-drop service.
#[derive(Clone)]
pub struct Messages {
    store: Arc<dyn MessageStore>,
    clock: Arc<dyn Clock>,
    settings: MessageSettings,
}

impl Messages {
    /// The service over `store`.
    pub fn new(
        store: Arc<dyn MessageStore>,
        clock: Arc<dyn Clock>,
        settings: MessageSettings,
    ) -> Self {
        Self {
            store,
            clock,
            settings,
        }
    }

    /// The settings in effect (for the service description).
    pub fn settings(&self) -> &MessageSettings {
        &self.settings
    }

    /// `sql` or `redis`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Store a message, encrypted under a key derived from its fresh id.
    pub async fn create(&self, new: NewMessage) -> Result<Created, MessageError> {
        let text = new.text.expose();
        if text.is_empty() {
            return Err(MessageError::Invalid(
                "The message must not be empty".to_owned(),
            ));
        }
        if text.len() > self.settings.max_message_bytes {
            return Err(MessageError::TooLarge {
                limit: self.settings.max_message_bytes,
            });
        }
        let lifetime = new.expires_in.unwrap_or(self.settings.default_expires_in);
        if lifetime.as_secs() == 0 || lifetime > self.settings.max_expires_in {
            return Err(MessageError::Invalid(format!(
                "expires_in must be between 1s and {}",
                humantime::format_duration(self.settings.max_expires_in)
            )));
        }
        let id = MessageId::generate()?;
        let lookup = id.lookup();
        let sealed = seal(&id, &lookup, text.as_bytes())?;
        let delete_token = new_delete_token()?;
        let created_at = self.clock.unix();
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        let expires_at = created_at.saturating_add(lifetime);
        let stored = self
            .store
            .put(
                &StoredMessage {
                    lookup,
                    sealed,
                    burn: new.burn_after_reading,
                    delete_hash: token_hash(&delete_token),
                    created_at,
                    expires_at,
                },
                self.settings.max_live,
                created_at,
            )
            .await?;
        if !stored {
            return Err(MessageError::Full);
        }
        metrics().message("posted");
        Ok(Created {
            id,
            delete_token,
            created_at,
            expires_at,
            burn_after_reading: new.burn_after_reading,
        })
    }

    /// Read a message by the id's text. A malformed id costs the same store round trip as a
    /// well-formed unknown one (with a random stand-in), so neither answers faster.
    pub async fn read(&self, id: &str) -> Result<Message, MessageError> {
        let (id, lookup) = resolve(id)?;
        let stored = self
            .store
            .read(&lookup, self.clock.unix())
            .await?
            .ok_or(MessageError::NotFound)?;
        let text = open(&id, &lookup, &stored.sealed)?;
        metrics().message(if stored.burn { "burned" } else { "read" });
        Ok(Message {
            text,
            created_at: stored.created_at,
            expires_at: stored.expires_at,
            burn_after_reading: stored.burn,
        })
    }

    /// Delete a message with the token given at its creation. A wrong token is `NotFound`,
    /// like an unknown id.
    pub async fn delete(&self, id: &str, token: &str) -> Result<(), MessageError> {
        let (_, lookup) = resolve(id)?;
        let stored = self
            .store
            .delete_hash(&lookup, self.clock.unix())
            .await?
            .unwrap_or_default();
        // Compared as hashes of equal length, in constant time.
        let presented = token_hash(token);
        let matches =
            bool::from(stored.as_bytes().ct_eq(presented.as_bytes())) && !stored.is_empty();
        if !matches {
            return Err(MessageError::NotFound);
        }
        // Gone either way: a concurrent burn-after-reading read may have taken it first.
        if self.store.delete(&lookup).await? {
            metrics().message("deleted");
        }
        Ok(())
    }

    /// Messages stored now (for metrics).
    pub async fn live(&self) -> Result<u64, MessageError> {
        Ok(self.store.live(self.clock.unix()).await?)
    }

    /// Delete expired messages from the store.
    pub async fn purge_expired(&self) -> Result<u64, MessageError> {
        Ok(self.store.purge_expired(self.clock.unix()).await?)
    }
}

/// The id named by `text` and its lookup key. Text that is no id gets a random stand-in, so
/// that it goes on to the same store lookup as an unknown id and answers no faster.
fn resolve(text: &str) -> Result<(MessageId, String), MessageError> {
    let id = match MessageId::parse(text) {
        Some(id) => id,
        None => MessageId::generate()?,
    };
    let lookup = id.lookup();
    Ok((id, lookup))
}

/// 32 random bytes, base64url: 256 bits the poster keeps to delete the message.
fn new_delete_token() -> Result<Zeroizing<String>, getrandom::Error> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut_slice())?;
    Ok(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_slice())))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `nonce ‖ ciphertext ‖ tag`, AES-256-GCM under the id's body key, bound to the row's lookup
/// key so that a body moved to another row does not open.
fn seal(id: &MessageId, lookup: &str, text: &[u8]) -> Result<Vec<u8>, MessageError> {
    let key = id.body_key();
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce)?;
    let mut buffer = Zeroizing::new(text.to_vec());
    let tag = Aes256Gcm::new_from_slice(key.as_slice())
        .map_err(|_| MessageError::Corrupt("key length".to_owned()))?
        .encrypt_inout_detached(
            (&nonce).into(),
            lookup.as_bytes(),
            buffer.as_mut_slice().into(),
        )
        .map_err(|_| MessageError::Corrupt("message too long".to_owned()))?;
    let mut sealed = Vec::with_capacity(NONCE_LEN + buffer.len() + TAG_LEN);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&buffer);
    sealed.extend_from_slice(&tag);
    Ok(sealed)
}

fn open(id: &MessageId, lookup: &str, sealed: &[u8]) -> Result<Zeroizing<String>, MessageError> {
    let corrupt = || MessageError::Corrupt(lookup.to_owned());
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(corrupt());
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| corrupt())?;
    let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| corrupt())?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    Aes256Gcm::new_from_slice(id.body_key().as_slice())
        .map_err(|_| corrupt())?
        .decrypt_inout_detached(
            nonce.into(),
            lookup.as_bytes(),
            buffer.as_mut_slice().into(),
            tag.into(),
        )
        .map_err(|_| corrupt())?;
    let text = String::from_utf8(std::mem::take(&mut *buffer)).map_err(|_| corrupt())?;
    Ok(Zeroizing::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_body_opens_only_with_its_id_and_row() {
        let id = MessageId::generate().unwrap();
        let lookup = id.lookup();
        let sealed = seal(&id, &lookup, "meet at noon".as_bytes()).unwrap();
        assert!(!sealed.windows(4).any(|w| w == b"meet"));
        assert_eq!(
            open(&id, &lookup, &sealed).unwrap().as_str(),
            "meet at noon"
        );
        let other = MessageId::generate().unwrap();
        assert!(open(&other, &lookup, &sealed).is_err());
        assert!(open(&id, &other.lookup(), &sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[NONCE_LEN] ^= 1;
        assert!(open(&id, &lookup, &flipped).is_err());
        assert!(open(&id, &lookup, &sealed[..NONCE_LEN + TAG_LEN - 1]).is_err());
    }

    #[test]
    fn delete_tokens_are_long_random_and_stored_as_hashes() {
        let a = new_delete_token().unwrap();
        let b = new_delete_token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(*a, *b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), *a);
    }
}
