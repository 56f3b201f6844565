//! The android-sms-gateway app's webhooks: `X-Signature` is the hex HMAC-SHA256, keyed by
//! `sms.webhook_secret`, of the raw body followed by the `X-Timestamp` value (Unix seconds),
//! which must be within five minutes of our clock. The app cannot send our API key, so this
//! is the webhook's only credential; it is checked before the body is parsed.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far the timestamp may be from our clock, either way.
pub const WINDOW_SECS: i64 = 300;

/// Why a webhook was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No `X-Signature` or `X-Timestamp`, or no secret configured.
    #[error("the webhook is not signed (X-Signature and X-Timestamp are required)")]
    Unsigned,
    /// The timestamp is not a number or outside the window.
    #[error("the webhook's timestamp is not within five minutes of the server's clock")]
    Stale,
    /// The signature does not match.
    #[error("the webhook's signature does not verify")]
    BadSignature,
    /// Signed, but not an event we can read.
    #[error("the webhook body is not an event: {0}")]
    Malformed(&'static str),
}

impl WebhookError {
    /// A stable code for logs and the audit trail.
    pub fn code(self) -> &'static str {
        match self {
            WebhookError::Unsigned => "unsigned",
            WebhookError::Stale => "stale",
            WebhookError::BadSignature => "bad_signature",
            WebhookError::Malformed(_) => "malformed",
        }
    }
}

/// The signature of `body` at `timestamp` under `secret` (what the app sends).
pub fn sign(secret: &[u8], body: &[u8], timestamp: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    mac.update(timestamp.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Check a webhook's signature and timestamp at `now` (Unix seconds).
pub fn verify(
    secret: Option<&[u8]>,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now: i64,
) -> Result<(), WebhookError> {
    let (Some(secret), Some(signature), Some(timestamp)) = (secret, signature, timestamp) else {
        return Err(WebhookError::Unsigned);
    };
    let at: i64 = timestamp.trim().parse().map_err(|_| WebhookError::Stale)?;
    if (at - now).abs() > WINDOW_SECS {
        return Err(WebhookError::Stale);
    }
    let expected = sign(secret, body, timestamp);
    let presented = signature.trim().to_ascii_lowercase();
    if bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

/// One webhook event, the fields we use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Event {
    /// `sms:sent`, `sms:delivered`, `sms:failed`, `sms:received`, …
    pub event: String,
    /// The event's own id (not the message's).
    #[serde(default)]
    pub id: String,
    /// What happened.
    #[serde(default)]
    pub payload: Payload,
}

/// An event's payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    /// The message the event is about (ours, for sent/delivered/failed).
    #[serde(default)]
    pub message_id: Option<String>,
    /// The other party's number.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// A received message's text.
    #[serde(default)]
    pub message: Option<String>,
    /// Why a message failed.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Parse a verified body.
pub fn parse(body: &[u8]) -> Result<Event, WebhookError> {
    serde_json::from_slice(body)
        .map_err(|_| WebhookError::Malformed("expected {\"event\", \"payload\"}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"webhook secret";

    #[test]
    fn a_signed_fresh_webhook_verifies_and_any_change_does_not() {
        let body = br#"{"event":"sms:delivered","id":"e1","payload":{"messageId":"m1"}}"#;
        let signature = sign(SECRET, body, "1700000000");
        assert_eq!(
            verify(
                Some(SECRET),
                body,
                Some(&signature),
                Some("1700000000"),
                1_700_000_100
            ),
            Ok(())
        );
        let upper = signature.to_uppercase();
        assert_eq!(
            verify(
                Some(SECRET),
                body,
                Some(&upper),
                Some("1700000000"),
                1_700_000_000
            ),
            Ok(())
        );
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify(
                Some(SECRET),
                &tampered,
                Some(&signature),
                Some("1700000000"),
                1_700_000_000
            ),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(
                Some(SECRET),
                body,
                Some(&signature),
                Some("1700000001"),
                1_700_000_000
            ),
            Err(WebhookError::BadSignature),
            "the timestamp is signed"
        );
        assert_eq!(
            verify(
                Some(b"other"),
                body,
                Some(&signature),
                Some("1700000000"),
                1_700_000_000
            ),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn stale_unsigned_and_unconfigured_webhooks_are_refused() {
        let body = b"{}";
        let signature = sign(SECRET, body, "1700000000");
        assert_eq!(
            verify(
                Some(SECRET),
                body,
                Some(&signature),
                Some("1700000000"),
                1_700_000_301
            ),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify(
                Some(SECRET),
                body,
                Some(&signature),
                Some("soon"),
                1_700_000_000
            ),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify(Some(SECRET), body, None, Some("1"), 1),
            Err(WebhookError::Unsigned)
        );
        assert_eq!(
            verify(
                None,
                body,
                Some(&signature),
                Some("1700000000"),
                1_700_000_000
            ),
            Err(WebhookError::Unsigned)
        );
    }

    #[test]
    fn an_event_names_the_message_in_its_payload() {
        let event = parse(br#"{"deviceId":"d","event":"sms:failed","id":"evt","webhookId":"w","payload":{"messageId":"m1","phoneNumber":"+12025550143","reason":"no signal","failedAt":"x"}}"#).unwrap();
        assert_eq!(event.event, "sms:failed");
        assert_eq!(event.id, "evt");
        assert_eq!(event.payload.message_id.as_deref(), Some("m1"));
        assert_eq!(event.payload.reason.as_deref(), Some("no signal"));
        assert!(parse(b"[1]").is_err());
    }
}
