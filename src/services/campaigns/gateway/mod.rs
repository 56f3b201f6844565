//! The phone that sends the messages, behind one trait with a driver per phone API. What a
//! driver reports decides what the send worker does: taken (or already known, with its
//! state) → recorded; refused → retried with back-off, counting an attempt; unreachable →
//! the phone is down: sending pauses, and no attempt is counted.

mod android;
mod termux;

pub use android::AndroidGateway;
pub use termux::TermuxGateway;

use super::settings::{GatewayKind, SmsSettings};
use async_trait::async_trait;
use std::time::Duration;

/// Longest detail kept from a phone's answer (it ends up in status views and logs).
const MAX_DETAIL: usize = 200;

/// A message's state as the phone knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneState {
    /// Queued or being sent on the phone.
    Pending,
    /// Sent by the phone.
    Sent,
    /// Delivered to the handset.
    Delivered,
    /// Failed on the phone: why.
    Failed(String),
}

/// The phone took a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// New to it.
    New,
    /// It had this id already (a resend after a crash): its state, when it can say.
    Known(Option<PhoneState>),
}

/// Why a send did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No `sms.device_url`.
    #[error("no phone is configured (sms.device_url)")]
    NotConfigured,
    /// No answer, a timeout, or the phone refused our credentials: the phone is down for us.
    #[error("the phone cannot be reached: {0}")]
    Unreachable(String),
    /// The phone answered and refused this message.
    #[error("the phone refused the message: {0}")]
    Rejected(String),
}

/// A phone API.
#[async_trait]
pub trait Gateway: Send + Sync {
    /// Which API.
    fn kind(&self) -> GatewayKind;
    /// Send `text` to `phone` as message `id` (the same id on every attempt).
    async fn send(&self, id: &str, phone: &str, text: &str) -> Result<Accepted, GatewayError>;
    /// Whether the phone answers; a detail to show.
    async fn probe(&self) -> Result<String, GatewayError>;
}

/// The driver the settings name, or `None` without a device URL.
pub fn from_settings(
    settings: &SmsSettings,
    termux_key: Option<crate::secret::SecretString>,
) -> Result<Option<Box<dyn Gateway>>, reqwest::Error> {
    let Some(url) = &settings.device_url else {
        return Ok(None);
    };
    let client = reqwest::Client::builder()
        .timeout(settings.send_timeout)
        .connect_timeout(settings.send_timeout.min(Duration::from_secs(5)))
        .build()?;
    let base = url.trim_end_matches('/').to_owned();
    Ok(Some(match settings.gateway {
        GatewayKind::AndroidSmsGateway => Box::new(AndroidGateway {
            client,
            base,
            username: settings.username.clone().unwrap_or_default(),
            password: settings.password.clone(),
        }),
        GatewayKind::Termux => Box::new(TermuxGateway {
            client,
            base,
            key: settings.device_key.clone().or(termux_key),
        }),
    }))
}

/// Text from the phone, cut to a length safe to keep.
fn detail(text: &str) -> String {
    let text: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DETAIL)
        .collect();
    text.trim().to_owned()
}

/// A transport failure: the phone is down for us.
fn unreachable(err: &reqwest::Error) -> GatewayError {
    GatewayError::Unreachable(if err.is_timeout() {
        "no answer in time".to_owned()
    } else if err.is_connect() {
        "the connection was refused or could not be made".to_owned()
    } else {
        "the connection failed".to_owned()
    })
}

/// An HTTP answer that is not a success, classified: refused credentials mean the phone is
/// unusable until someone fixes the settings (down); anything else refuses this message.
async fn refused(response: reqwest::Response) -> GatewayError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let text = format!(
        "HTTP {}{}",
        status.as_u16(),
        match detail(&body) {
            d if d.is_empty() => String::new(),
            d => format!(": {d}"),
        }
    );
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        GatewayError::Unreachable(format!("the phone refused our credentials ({text})"))
    } else {
        GatewayError::Rejected(text)
    }
}
