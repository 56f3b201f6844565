//! `[messages]`: the message drop's settings and their validation.

use crate::config::{ConfigError, human_duration};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Who may post to the message drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Posting {
    /// Anyone, rate-limited per client address (the seed's public service).
    #[default]
    Open,
    /// Only keys holding the `messages.create` permission (user and admin roles).
    Key,
}

/// `[messages]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageSettings {
    /// `open` or `key`.
    pub posting: Posting,
    /// Lifetime of a message posted without `expires_in`.
    #[serde(with = "human_duration")]
    pub default_expires_in: Duration,
    /// Longest lifetime a poster may ask for.
    #[serde(with = "human_duration")]
    pub max_expires_in: Duration,
    /// Largest message, in bytes of UTF-8 text; larger gets 413.
    pub max_message_bytes: usize,
    /// Messages stored at most (all posters together); when full, posts get 503 until some
    /// expire, burn or are deleted. With `max_message_bytes` it bounds the store's size.
    pub max_live: u64,
    /// How often expired messages are deleted from the SQL store (Redis expires its own).
    #[serde(with = "human_duration")]
    pub purge_interval: Duration,
}

impl Default for MessageSettings {
    fn default() -> Self {
        Self {
            posting: Posting::Open,
            default_expires_in: Duration::from_secs(24 * 3600),
            max_expires_in: Duration::from_secs(7 * 24 * 3600),
            max_message_bytes: 64 * 1024,
            max_live: 100_000,
            purge_interval: Duration::from_secs(60),
        }
    }
}

impl MessageSettings {
    /// Refuse values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let messages = self;
        const YEAR: Duration = Duration::from_secs(366 * 86_400);
        if messages.default_expires_in.as_secs() == 0
            || messages.max_expires_in > YEAR
            || messages.default_expires_in > messages.max_expires_in
        {
            return Err(ConfigError::Invalid {
                key: "messages",
                reason: "need 1s <= default_expires_in <= max_expires_in <= 366d".to_owned(),
            });
        }
        // Not tied to `limits.max_body_bytes`: the body limit applies first, whatever this says.
        if messages.max_message_bytes == 0 || messages.max_live == 0 {
            return Err(ConfigError::Invalid {
                key: "messages",
                reason: "max_message_bytes and max_live must be greater than zero".to_owned(),
            });
        }
        if messages.purge_interval.is_zero() {
            return Err(ConfigError::Invalid {
                key: "messages.purge_interval",
                reason: "must be greater than zero".to_owned(),
            });
        }
        Ok(())
    }
}
