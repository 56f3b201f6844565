//! Single messages, the test message, the gateway's status, the database view and reset, and
//! the suppression list.

use super::gateway::{Accepted, GatewayError};
use super::views::SmsView;
use super::{Actor, CampaignError, Campaigns, DeviceStatus};
use crate::store::campaigns::{CampaignStats, EVERYONE, NewSms, StateCounts, Suppression};
use serde::{Deserialize, Serialize};

/// The text `POST /api/sms/test` sends.
pub const TEST_TEXT: &str = "Portcullis test message: your SMS gateway works.";
/// Longest single message, in characters.
const MAX_TEXT: usize = 1600;

/// `POST /api/sms/send/enhanced`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The number, in any form `sms.default_region` allows.
    pub phone: String,
    /// The text.
    pub message: String,
}

/// What the phone said to a test message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestResult {
    /// E.164.
    pub phone: String,
    /// The gateway driver.
    pub gateway: &'static str,
    /// `accepted` or `already known`.
    pub result: &'static str,
}

/// `GET /api/sms/status`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SmsStatus {
    /// The driver, or `none` without `sms.device_url`.
    pub gateway: &'static str,
    /// The phone as last seen from this node.
    pub device: DeviceStatus,
    /// Messages waiting and being sent (the caller's, or all for an admin).
    pub queue: Queue,
    /// Created since 00:00 UTC today, by outcome.
    pub today: Today,
}

/// Messages not sent yet.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Queue {
    /// Waiting.
    pub pending: i64,
    /// Being sent.
    pub sending: i64,
}

/// Today's outcomes.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Today {
    /// Taken by the phone (and not yet reported delivered).
    pub sent: i64,
    /// Delivered.
    pub delivered: i64,
    /// Given up.
    pub failed: i64,
}

/// A suppressed number, as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SuppressionView {
    /// E.164.
    pub phone: String,
    /// `stop` (a reply; applies to every owner) or `manual`.
    pub reason: String,
    /// Whether it applies to every owner (a STOP reply).
    pub everyone: bool,
    /// When.
    pub created_at: Option<String>,
}

impl SuppressionView {
    fn of(s: &Suppression) -> Self {
        Self {
            phone: s.phone.clone(),
            reason: s.reason.clone(),
            everyone: s.owner_id == EVERYONE,
            created_at: crate::auth::keys::rfc3339(s.created_at),
        }
    }
}

impl Campaigns {
    /// Queue one message (the send worker sends it).
    pub async fn send(
        &self,
        actor: &Actor<'_>,
        request: SendRequest,
    ) -> Result<SmsView, CampaignError> {
        let phone = self.phone(&request.phone)?;
        if request.message.trim().is_empty() || request.message.chars().count() > MAX_TEXT {
            return Err(CampaignError::Invalid(format!(
                "message must be 1 to {MAX_TEXT} characters"
            )));
        }
        let suppressed = self.store().is_suppressed(actor.owner_id, &phone).await?;
        let record = self
            .store()
            .create_sms(&NewSms {
                id: uuid::Uuid::new_v4().simple().to_string(),
                owner_id: actor.owner_id.to_owned(),
                campaign_id: None,
                phone,
                fields: "{}".to_owned(),
                text: request.message,
                state: if suppressed { "suppressed" } else { "pending" }.to_owned(),
                created_at: self.now_ms(),
            })
            .await?;
        self.audit(
            actor,
            Self::event("sms.send", "message queued").with("sms_id", record.id.clone()),
        )
        .await;
        Ok(SmsView::of(&record))
    }

    /// One message.
    pub async fn message(&self, actor: &Actor<'_>, id: &str) -> Result<SmsView, CampaignError> {
        let record = self
            .store()
            .get_sms(id, actor.scope())
            .await?
            .ok_or(CampaignError::NotFound)?;
        Ok(SmsView::of(&record))
    }

    /// Send the test text to `phone` (or `sms.test_phone`) now, and say what the phone said.
    pub async fn test(
        &self,
        actor: &Actor<'_>,
        phone: Option<&str>,
    ) -> Result<TestResult, CampaignError> {
        let input = phone
            .map(str::to_owned)
            .or_else(|| self.settings().test_phone.clone())
            .ok_or_else(|| CampaignError::Invalid("give a phone, or set sms.test_phone".into()))?;
        let phone = self.phone(&input)?;
        let gateway = self.0.gateway.as_ref().ok_or(GatewayError::NotConfigured)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let sent = gateway.send(&id, &phone, TEST_TEXT).await;
        match &sent {
            Ok(_) => self.note_device(true, "took the test message".into(), 0),
            Err(GatewayError::Unreachable(why)) => self.note_device(false, why.clone(), 5_000),
            Err(_) => {}
        }
        let result = match sent? {
            Accepted::New => "accepted",
            Accepted::Known(_) => "already known",
        };
        self.audit(actor, Self::event("sms.test", "test message sent"))
            .await;
        Ok(TestResult {
            phone,
            gateway: gateway.kind().as_str(),
            result,
        })
    }

    /// The gateway, the phone and the queue. The phone is asked (at most every five seconds)
    /// when nothing has been heard of it yet.
    pub async fn sms_status(&self, actor: &Actor<'_>) -> Result<SmsStatus, CampaignError> {
        if let Some(gateway) = &self.0.gateway
            && self.device_status().reachable.is_none()
        {
            match gateway.probe().await {
                Ok(detail) => self.note_device(true, detail, 0),
                Err(err) => self.note_device(false, err.to_string(), 5_000),
            }
        }
        let midnight = self.now() - self.now().rem_euclid(86_400);
        let (all, today): (StateCounts, StateCounts) = self
            .store()
            .message_counts(actor.scope(), midnight * 1000)
            .await?;
        Ok(SmsStatus {
            gateway: self
                .0
                .gateway
                .as_ref()
                .map_or("none", |g| g.kind().as_str()),
            device: self.device_status(),
            queue: Queue {
                pending: all.pending,
                sending: all.sending,
            },
            today: Today {
                sent: today.sent,
                delivered: today.delivered,
                failed: today.failed,
            },
        })
    }

    /// Counts for the caller (every owner's for an admin) and the database's size.
    pub async fn stats(&self, actor: &Actor<'_>) -> Result<CampaignStats, CampaignError> {
        Ok(self.store().stats(actor.scope()).await?)
    }

    /// Delete all campaign data (never keys, sessions or audit); recorded.
    pub async fn reset(&self, actor: &Actor<'_>) -> Result<u64, CampaignError> {
        let deleted = self.store().reset().await?;
        self.audit(
            actor,
            Self::event("database.reset", "campaign data deleted")
                .with("rows", deleted.to_string()),
        )
        .await;
        Ok(deleted)
    }

    /// The caller's suppressions and everyone's.
    pub async fn suppressions(
        &self,
        actor: &Actor<'_>,
    ) -> Result<Vec<SuppressionView>, CampaignError> {
        Ok(self
            .store()
            .suppressions(actor.scope(), 10_000)
            .await?
            .iter()
            .map(SuppressionView::of)
            .collect())
    }

    /// Put a number on the caller's list.
    pub async fn suppress(
        &self,
        actor: &Actor<'_>,
        phone: &str,
    ) -> Result<SuppressionView, CampaignError> {
        let phone = self.phone(phone)?;
        self.store()
            .suppress(actor.owner_id, &phone, "manual", self.now())
            .await?;
        self.audit(actor, Self::event("suppression.add", "number suppressed"))
            .await;
        Ok(SuppressionView {
            phone,
            reason: "manual".into(),
            everyone: false,
            created_at: crate::auth::keys::rfc3339(self.now()),
        })
    }

    /// Take a number off the caller's list (a STOP stays: only the number's owner can undo
    /// it, by texting again).
    pub async fn unsuppress(&self, actor: &Actor<'_>, phone: &str) -> Result<(), CampaignError> {
        let phone = self.phone(phone).map_err(|_| CampaignError::NotFound)?;
        if !self.store().unsuppress(actor.owner_id, &phone).await? {
            return Err(CampaignError::NotFound);
        }
        self.audit(
            actor,
            Self::event("suppression.remove", "number no longer suppressed"),
        )
        .await;
        Ok(())
    }
}
