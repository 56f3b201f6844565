//! `[sms]`: the campaign manager's settings and their validation.

use crate::config::{ConfigError, human_duration};
use crate::limits::RateSpec;
use crate::secret::SecretString;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which phone API messages leave through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GatewayKind {
    /// The open-source "SMS Gateway for Android" app's local server API (Basic auth, signed
    /// webhooks).
    #[default]
    AndroidSmsGateway,
    /// Seed 000's own phone API: a small server on the phone in front of `termux-sms-send`,
    /// called with the device key, reporting back with the device role.
    Termux,
}

impl GatewayKind {
    /// The name used in settings and `/api/sms/status`.
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayKind::AndroidSmsGateway => "android-sms-gateway",
            GatewayKind::Termux => "termux",
        }
    }
}

/// `[sms]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSettings {
    /// Serve the campaign, SMS, upload, database and device routes.
    pub enabled: bool,
    /// The phone's API.
    pub gateway: GatewayKind,
    /// The phone's address, e.g. `http://192.168.1.50:8080`. Unset: messages queue, and
    /// `/api/sms/status` says the gateway is not configured.
    pub device_url: Option<String>,
    /// android-sms-gateway: the Basic-auth user of the app's local server.
    pub username: Option<String>,
    /// android-sms-gateway: its password.
    pub password: Option<SecretString>,
    /// android-sms-gateway: the key of webhook signatures (as set in the app).
    pub webhook_secret: Option<SecretString>,
    /// termux: the key sent to the phone in `X-API-Key` (default: `TERMUX_API_KEY`).
    pub device_key: Option<SecretString>,
    /// ISO 3166 region national numbers are read in (`"US"`, `"DE"`); unset: numbers must
    /// start with `+` and a country code.
    pub default_region: Option<String>,
    /// Where `POST /api/sms/test` sends when no phone is given.
    pub test_phone: Option<String>,
    /// A campaign's rate when it names none.
    pub rate: RateSpec,
    /// The most the phone is sent, all campaigns and single messages together.
    pub device_rate: RateSpec,
    /// Attempts per message before it is `failed`.
    pub max_attempts: u32,
    /// How long one send to the phone may take.
    #[serde(with = "human_duration")]
    pub send_timeout: Duration,
    /// How long a worker holds a message it is sending; a message held longer (the node
    /// died) is taken again by any worker, with the same message id.
    #[serde(with = "human_duration")]
    pub lease: Duration,
    /// Largest upload, in bytes (413 above).
    pub max_upload_bytes: usize,
    /// Most rows in one upload (400 above).
    pub max_rows: usize,
    /// Texts that opt a number out, compared without case or spacing.
    pub stop_words: Vec<String>,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            gateway: GatewayKind::AndroidSmsGateway,
            device_url: None,
            username: None,
            password: None,
            webhook_secret: None,
            device_key: None,
            default_region: None,
            test_phone: None,
            rate: RateSpec {
                count: 30,
                period_secs: 60,
                burst: 1,
            },
            device_rate: RateSpec {
                count: 60,
                period_secs: 60,
                burst: 5,
            },
            max_attempts: 5,
            send_timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            max_upload_bytes: 20 * 1024 * 1024,
            max_rows: 200_000,
            stop_words: super::stop_words::DEFAULT
                .iter()
                .map(|w| (*w).to_owned())
                .collect(),
        }
    }
}

impl SmsSettings {
    /// Refuse values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_owned(),
        };
        if let Some(url) = &self.device_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "sms.device_url",
                "must be an http:// or https:// URL",
            ));
        }
        if let Some(region) = &self.default_region
            && super::phone::region(region).is_none()
        {
            return Err(invalid(
                "sms.default_region",
                "must be an ISO 3166 region code such as \"US\" or \"DE\"",
            ));
        }
        if self.max_attempts == 0 || self.max_upload_bytes == 0 || self.max_rows == 0 {
            return Err(invalid(
                "sms",
                "max_attempts, max_upload_bytes and max_rows must be greater than zero",
            ));
        }
        if self.send_timeout.is_zero() || self.lease <= self.send_timeout {
            return Err(invalid(
                "sms",
                "send_timeout must be greater than zero and lease longer than send_timeout",
            ));
        }
        if self.rate.count == 0 || self.device_rate.count == 0 {
            return Err(invalid(
                "sms",
                "rate and device_rate must allow at least one message",
            ));
        }
        if self.stop_words.iter().any(|w| w.trim().is_empty()) {
            return Err(invalid("sms.stop_words", "a stop word cannot be empty"));
        }
        Ok(())
    }
}
