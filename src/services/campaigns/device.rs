//! What the phone tells us: delivery reports and replies. The android-sms-gateway app posts
//! signed webhooks (`webhook`); seed 000's phone calls the device routes with the device
//! role (`delivery`, `inbound`). Reports are applied once however often they arrive, and
//! only forward; a reply that is a stop word suppresses its sender for every owner.

use super::webhook::{self, WebhookError};
use super::{CampaignError, Campaigns, stop_words};
use crate::audit::{AuditEvent, Outcome};
use crate::store::campaigns::EVERYONE;
use serde::{Deserialize, Serialize};

/// `POST /api/device/delivery`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryReport {
    /// The message id we sent with.
    #[schema(min_length = 1, max_length = 200)]
    pub id: String,
    /// `sent`, `delivered` or `failed`.
    #[schema(pattern = "^(sent|delivered|failed)$")]
    pub state: String,
    /// Why it failed.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/device/inbound`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Inbound {
    /// The sender.
    #[schema(min_length = 1)]
    pub from: String,
    /// The text.
    pub message: String,
}

/// What a report did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Applied {
    /// Whether it changed a message (a repeat or an out-of-date report does not).
    pub applied: bool,
    /// For a reply: whether it opted the sender out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<bool>,
}

/// The longest id or reason taken from the phone.
const MAX_FIELD: usize = 200;

impl Campaigns {
    /// A signed webhook from the android-sms-gateway app.
    pub async fn webhook(
        &self,
        body: &[u8],
        signature: Option<&str>,
        timestamp: Option<&str>,
        client: Option<std::net::IpAddr>,
    ) -> Result<Applied, CampaignError> {
        let secret = self
            .settings()
            .webhook_secret
            .as_ref()
            .map(|s| s.expose().as_bytes());
        if let Err(err) = webhook::verify(secret, body, signature, timestamp, self.now()) {
            // Recorded as any refused credential is (repeats from one address aggregated).
            self.0
                .audit
                .record(AuditEvent::refused(
                    "device.webhook",
                    "webhook refused",
                    Some("/api/device/webhook"),
                    client,
                    err.code(),
                ))
                .await;
            return Err(err.into());
        }
        let event = webhook::parse(body)?;
        match event.event.as_str() {
            "sms:sent" | "sms:delivered" | "sms:failed" => {
                let id = event
                    .payload
                    .message_id
                    .ok_or(WebhookError::Malformed("payload.messageId is missing"))?;
                let state = event.event.trim_start_matches("sms:");
                self.apply_report(&id, state, event.payload.reason.as_deref())
                    .await
            }
            "sms:received" => {
                let from = event
                    .payload
                    .phone_number
                    .ok_or(WebhookError::Malformed("payload.phoneNumber is missing"))?;
                let text = event.payload.message.unwrap_or_default();
                self.reply(&from, &text).await
            }
            // Other events (system, MMS) are acknowledged and ignored.
            _ => Ok(Applied {
                applied: false,
                suppressed: None,
            }),
        }
    }

    /// A delivery report from the device role.
    pub async fn delivery(&self, report: DeliveryReport) -> Result<Applied, CampaignError> {
        if !matches!(report.state.as_str(), "sent" | "delivered" | "failed") {
            return Err(CampaignError::Invalid(
                "state must be sent, delivered or failed".into(),
            ));
        }
        if report.id.is_empty() || report.id.chars().count() > MAX_FIELD {
            return Err(CampaignError::Invalid("id must be a message id".into()));
        }
        self.apply_report(&report.id, &report.state, report.reason.as_deref())
            .await
    }

    /// A reply from the device role.
    pub async fn inbound(&self, message: Inbound) -> Result<Applied, CampaignError> {
        self.reply(&message.from, &message.message).await
    }

    async fn apply_report(
        &self,
        id: &str,
        state: &str,
        reason: Option<&str>,
    ) -> Result<Applied, CampaignError> {
        let id: String = id.chars().take(MAX_FIELD).collect();
        if !self.store().first_report(&id, state, self.now()).await? {
            return Ok(Applied {
                applied: false,
                suppressed: None,
            });
        }
        let reason: Option<String> = reason.map(|r| {
            r.chars()
                .filter(|c| !c.is_control())
                .take(MAX_FIELD)
                .collect()
        });
        let applied = self
            .store()
            .report(&id, state, reason.as_deref(), self.now_ms())
            .await?;
        Ok(Applied {
            applied,
            suppressed: None,
        })
    }

    /// A reply: a stop word suppresses the sender for every owner.
    async fn reply(&self, from: &str, text: &str) -> Result<Applied, CampaignError> {
        let phone = self.phone(from)?;
        if !stop_words::is_stop(text, &self.settings().stop_words) {
            return Ok(Applied {
                applied: false,
                suppressed: Some(false),
            });
        }
        let new = self
            .store()
            .suppress(EVERYONE, &phone, "stop", self.now())
            .await?;
        if new {
            self.0
                .audit
                .record(
                    AuditEvent::new("sms.stop", Outcome::Success, "a reply opted a number out")
                        .context("device"),
                )
                .await;
        }
        Ok(Applied {
            applied: new,
            suppressed: Some(true),
        })
    }
}
